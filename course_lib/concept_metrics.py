"""Did a fine-tuned mini Stable Diffusion learn the new colour, and did it forget the old ones (lecture 7)?

The judge (course_lib.judge) knows only the six colours, so the new colour is measured directly: the share of an
image's object pixels whose hue is nearest the new colour among the seven. Shape is the judge's reading, and
forgetting is the judge's faithfulness on the 36 old one-object prompts, before and after.
"""

from __future__ import annotations

import torch

from course_lib.data.new_colour import NEW_COLOUR, NEW_RGB, new_concept_prompts
from course_lib.data.shapes import COLOUR_RGB, SHAPES
from course_lib.judge import Judge
from course_lib.recipes.diffusion import single_object_prompts
from course_lib.stable_diffusion import MiniStableDiffusion


def palette(colour: str = NEW_COLOUR, rgb: tuple[float, float, float] = NEW_RGB) -> dict[str, tuple]:
    """The six colours of the scenes and the new one: {'red': (0.9, 0.1, 0.1), ..., 'pink': (0.8, 0.1, 0.5)}."""
    return {**COLOUR_RGB, colour: tuple(rgb)}


def nearest_colours(images: torch.Tensor, colours: dict[str, tuple], threshold: float = 0.3
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Each pixel's nearest colour index (N, H, W) by hue, and the object mask (N, H, W): brightest channel > threshold.

    Hue, not raw RGB: an object's edge is its colour times the share of the pixel it covers, so pixels and
    palette are both divided by their brightest channel before the nearest palette colour is chosen.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"Expected images (N, 3, H, W), got {tuple(images.shape)}.")
    pixels = images.permute(0, 2, 3, 1)  # (N, H, W, 3)
    bright = pixels.amax(-1)  # (N, H, W)
    hue = pixels / bright.clamp(min=1e-6)[..., None]
    table = torch.tensor(list(colours.values()))  # (K, 3)
    table = table / table.amax(-1, keepdim=True)
    nearest = torch.cdist(hue.reshape(-1, 3), table).argmin(-1).reshape(bright.shape)  # (N, H, W)
    return nearest, bright > threshold


def colour_share(images: torch.Tensor, colour: str = NEW_COLOUR, rgb: tuple[float, float, float] = NEW_RGB
                 ) -> torch.Tensor:
    """(N,): the share of each image's object pixels whose hue is nearest `colour` among the seven (0 if none)."""
    colours = palette(colour, rgb)
    nearest, mask = nearest_colours(images, colours)
    hits = ((nearest == list(colours).index(colour)) & mask).sum((1, 2))
    return hits / mask.sum((1, 2)).clamp(min=1)


def read_colours(images: torch.Tensor, colour: str = NEW_COLOUR, rgb: tuple[float, float, float] = NEW_RGB
                 ) -> list[str]:
    """The colour most of each image's object pixels are nearest to, among the seven ('none' for an empty image)."""
    colours = palette(colour, rgb)
    nearest, mask = nearest_colours(images, colours)
    counts = torch.stack([((nearest == k) & mask).sum((1, 2)) for k in range(len(colours))], 1)  # (N, 7)
    names = list(colours)
    return [names[k] if n > 0 else "none" for k, n in zip(counts.argmax(1).tolist(), counts.sum(1).tolist())]


def shape_accuracy(judge: Judge, images: torch.Tensor, prompts: list[str]) -> float:
    """The share of images whose shape the judge reads as the prompt's last word (it reads shape whatever the colour)."""
    _, shapes = judge.predict(images)
    wanted = torch.tensor([SHAPES.index(p.split()[-1]) for p in prompts])
    return (shapes == wanted).double().mean().item()


def new_concept_score(sd: MiniStableDiffusion, judge: Judge, colour: str = NEW_COLOUR,
                      rgb: tuple[float, float, float] = NEW_RGB, repeats: int = 8, seed: int = 0) -> dict[str, float]:
    """{'colour': mean share of new-colour object pixels, 'shape': judge's shape accuracy} on the six new prompts."""
    prompts = new_concept_prompts(colour, repeats)
    images = sd.generate(prompts, seed=seed)  # DDIM-25, guidance 3
    return {"colour": colour_share(images, colour, rgb).mean().item(), "shape": shape_accuracy(judge, images, prompts)}


def old_faithfulness(sd: MiniStableDiffusion, judge: Judge, repeats: int = 4, seed: int = 0) -> float:
    """The judge's prompt_faithfulness on the 36 old one-object prompts (each `repeats` times): forgetting shows here."""
    prompts = single_object_prompts(repeats)
    return judge.prompt_faithfulness(sd.generate(prompts, seed=seed), prompts)


def lora_report(base: MiniStableDiffusion, tuned: MiniStableDiffusion, judge: Judge,
                colour: str = NEW_COLOUR, rgb: tuple[float, float, float] = NEW_RGB,
                seed: int = 0, repeats: int = 8, old_repeats: int = 4) -> dict[str, dict[str, float]]:
    """Before vs after: {'new colour', 'new shape', 'old faithfulness'} -> {'before': ..., 'after': ...}.

    The six new prompts are drawn `repeats` times each, the 36 old ones `old_repeats` times.
    """
    report: dict[str, dict[str, float]] = {"new colour": {}, "new shape": {}, "old faithfulness": {}}
    for when, sd in (("before", base), ("after", tuned)):
        new = new_concept_score(sd, judge, colour, rgb, repeats=repeats, seed=seed)
        report["new colour"][when], report["new shape"][when] = new["colour"], new["shape"]
        report["old faithfulness"][when] = old_faithfulness(sd, judge, repeats=old_repeats, seed=seed)
    return report
