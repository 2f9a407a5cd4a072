"""Teach lecture 6's mini Stable Diffusion a new colour from 18 pictures, training only LoRA weights (lecture 7).

    base = mini_stable_diffusion()                        # knows six colours
    tuned = lora_stable_diffusion()                       # + LoRA on the cross-attention's k_proj and v_proj: 'pink'
    tuned.generate(["a large pink circle"] * 4)           # (4, 3, 32, 32) in [0, 1]
    new_concept_score(tuned, judge)                       # {'colour': share of pink pixels, 'shape': judge's reading}

How it works, as in DreamBooth (Ruiz et al. 2022) and Custom Diffusion (Kumari et al. 2023):
- the concept: a deep pink (0.8, 0.1, 0.5), drawn with the scene generator's own code (`new_colour_scenes`);
- the word: the scene tokenizer has no 'pink', so the prompt 'a large pink circle' reaches the text encoder as
  'a large <unk> circle'. <unk> plays the part of DreamBooth's rare identifier 'sks': a token that means nothing
  yet, which fine-tuning binds to the concept (so after training ANY unknown word draws pink: 'a large zzz circle');
- what trains: only rank-4 LoRA matrices in the U-Net's cross-attention k_proj and v_proj, the only layers that
  read the text (Custom Diffusion's choice): 5,888 numbers, 0.43% of the U-Net; the text encoder, the VAE and
  every other U-Net weight stay frozen;
- prior preservation: 18 pictures of the old colours are mixed in, or the old prompts suffer (LoRARecipe);
- the check: the share of object pixels whose hue is nearest pink among the seven colours, the judge's shape
  reading, and forgetting: the judge's faithfulness on the 36 old one-object prompts, before and after.
Why a deep pink and not a pale one: the VAE saw only six colours. A pale pink (1.0, 0.6, 0.8) comes back from
its round trip orange, and even the latent found by gradient descent on the decoder's output decodes to a pale
orange, so no U-Net, however tuned, could draw it: the frozen VAE bounds what LoRA on the U-Net can learn.
`scripts/train_lora_checkpoint.py` makes the shipped adapters and measures them (tests/test_lora_diffusion.py).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from course_lib.checkpoints import CACHE_DIR, SHIPPED_DIR, Trained, load_or_train
from course_lib.data.shapes import COLOUR_RGB, COLOURS, SHAPES, SIZES, Scenes, coverage, make_scenes
from course_lib.data.tokenizer import scene_tokenizer
from course_lib.device import keeps_random_state, seeded
from course_lib.diffusion import diffusion_loss
from course_lib.judge import Judge
from course_lib.models.lora import add_lora, lora_adapter
from course_lib.stable_diffusion import MiniStableDiffusion
from course_lib.train import train
from course_lib.zoo_diffusion import (Directories, UNetRecipe, make_schedule, mini_stable_diffusion,
                                      single_object_prompts)

NEW_COLOUR, NEW_RGB = "pink", (0.8, 0.1, 0.5)  # between red and purple, 0.41 from both: far from all six


def new_colour_scenes(n: int, colour: str = NEW_COLOUR, rgb: tuple[float, float, float] = NEW_RGB, *,
                      seed: int = 0, image_size: int = 32) -> Scenes:
    """n one-object scenes in a colour the generator never uses: make_scenes' layouts, redrawn in `rgb`."""
    if colour in COLOURS or colour in scene_tokenizer().stoi or len(colour.split()) != 1:
        raise ValueError(f"{colour!r} must be one word the scene vocabulary lacks (it knows {COLOURS} and the other "
                         "caption words): a new concept needs a new word.")
    if len(rgb) != 3 or not all(0.0 <= v <= 1.0 for v in rgb):
        raise ValueError(f"rgb must be three numbers in [0, 1], got {rgb!r}.")
    layout = make_scenes(n, seed=seed, image_size=image_size, n_objects=1)
    objects = tuple((scene[0]._replace(colour=colour),) for scene in layout.objects)

    def per_object(values: list[float]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.float32).view(n, 1, 1, 1)  # (n, 1, 1, 1): one object per scene

    x = per_object([o.x for (o,) in objects])
    y = per_object([o.y for (o,) in objects])
    half = per_object([(o.box[2] - o.box[0]) / 2 for (o,) in objects])
    shape = torch.tensor([SHAPES.index(o.shape) for (o,) in objects]).view(n, 1, 1, 1)
    alpha = coverage(x, y, half, shape, image_size)  # (n, 1, H, W): how much of each pixel the object covers
    images = (alpha * torch.tensor(rgb).view(1, 3, 1, 1)).clamp_(0.0, 1.0)  # (n, 3, H, W), on black
    return Scenes(images, tuple(o.describe() for (o,) in objects), objects)


def new_concept_prompts(colour: str = NEW_COLOUR, repeats: int = 1) -> list[str]:
    """The six one-object prompts of the new colour, 'a small pink circle' ... 'a large pink triangle'."""
    return [f"a {size} {colour} {shape}" for shape in SHAPES for size in SIZES for _ in range(repeats)]


# --- measuring colour directly (the judge knows only the six colours) -------------------------------------------

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


# --- the recipe and the adapter --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LoRARecipe:
    """What decides what the LoRA adapter learns: the new colour's pictures, where LoRA sits, and the training.

    Prior preservation is on by default: 18 rendered one-object scenes of the old colours are mixed in with the 18
    pink ones. Without them (n_prior=0) the old prompts' faithfulness drops; with the frozen model's own samples
    as the prior (prior='generated', as DreamBooth) it drops about as much here (see scripts/train_lora_checkpoint.py).
    """

    colour: str = NEW_COLOUR
    rgb: tuple[float, float, float] = NEW_RGB
    n_images: int = 18  # a handful of pictures of the new concept: three per size and shape, on average
    n_prior: int = 18  # pictures of the old prompts mixed in (prior preservation); 0 = none
    prior: str = "rendered"  # fresh rendered scenes, or 'generated': the frozen model's own samples (DreamBooth)
    target_modules: tuple[str, ...] = ("k_proj", "v_proj")  # the cross-attention layers that read the text
    r: int = 4
    alpha: float = 4.0  # scale alpha / r = 1
    epochs: int = 40
    repeats: int = 32  # an epoch shows every picture this many times, each at another noise level and noise
    batch_size: int = 32
    lr: float = 1e-3
    p_uncond: float = 0.1  # the text dropped as in the U-Net's own training, for classifier-free guidance
    unet: UNetRecipe = field(default_factory=UNetRecipe)
    data_seed: int = 3
    seed: int = 0

    def __post_init__(self):
        if self.prior not in ("rendered", "generated"):
            raise ValueError(f"prior must be 'rendered' or 'generated', got {self.prior!r}.")
        if self.n_images < 1 or self.n_prior < 0:
            raise ValueError(f"Need n_images >= 1 and n_prior >= 0, got {self.n_images} and {self.n_prior}.")

    @classmethod
    def without_prior(cls, **changes) -> "LoRARecipe":
        """The same fine-tuning on the new colour's pictures alone: shows what prior preservation prevents."""
        return cls(**{"n_prior": 0, **changes})


def fine_tuning_data(recipe: LoRARecipe, base: MiniStableDiffusion) -> tuple[torch.Tensor, list[str]]:
    """Pictures (N, 3, 32, 32) and captions: n_images of the new colour, then n_prior pictures of old prompts.

    The prior pictures (prior preservation) are fresh rendered one-object scenes ('rendered'), or the frozen
    model's own DDIM samples for the old prompts ('generated'), as DreamBooth makes its class images when the
    original training data is out of reach.
    """
    new = new_colour_scenes(recipe.n_images, recipe.colour, recipe.rgb, seed=recipe.data_seed)
    if recipe.n_prior == 0:
        return new.images, list(new.captions)
    if recipe.prior == "generated":
        old = single_object_prompts()
        captions = [old[i % len(old)] for i in range(recipe.n_prior)]  # every old prompt in turn
        images = base.generate(captions, seed=recipe.data_seed)
    else:
        scenes = make_scenes(recipe.n_prior, seed=recipe.data_seed + 1, n_objects=1)
        images, captions = scenes.images, list(scenes.captions)
    return torch.cat([new.images, images]), list(new.captions) + captions


def lora_unet(recipe: LoRARecipe = LoRARecipe(), *, device: str | torch.device | None = None, progress: bool = True,
              directories: Directories = (SHIPPED_DIR, CACHE_DIR), save_to: Path | None = CACHE_DIR) -> Trained:
    """Lecture 6's U-Net with LoRA in `recipe.target_modules`, the adapter loaded if shipped, else fine-tuned.

    The checkpoint holds only the adapter (A and B of every LoRA layer), not the U-Net it adapts.
    """
    kwargs = dict(device=device, progress=progress, directories=directories, save_to=save_to)
    base = mini_stable_diffusion(recipe.unet, **kwargs)
    model = copy.deepcopy(base.unet)  # the shipped U-Net stays as it was
    with seeded(recipe.seed):  # A's random start is part of the recipe
        add_lora(model, list(recipe.target_modules), recipe.r, recipe.alpha)

        @keeps_random_state
        def fit(_adapter: torch.nn.Module) -> list[float]:
            images, captions = fine_tuning_data(recipe, base)
            with torch.no_grad():
                x0 = base.vae.to_latent(images.to(base.device)).cpu()  # (N, 4, 8, 8): what the U-Net denoises
            distinct = sorted(set(captions))
            contexts = base.text(distinct).to(base.device)  # (distinct captions, L, d); 'pink' reaches it as <unk>
            which = torch.tensor([distinct.index(c) for c in captions])  # (N,)
            schedule = make_schedule(recipe.unet).to(base.device)

            def loss(m: torch.nn.Module, x: torch.Tensor, caption: torch.Tensor) -> torch.Tensor:
                return diffusion_loss(m, x, contexts[caption], schedule, p_uncond=recipe.p_uncond,
                                      null_context=base.null_context)

            with seeded(recipe.seed):
                data = (x0.repeat(recipe.repeats, 1, 1, 1), which.repeat(recipe.repeats))
                return train(model, data, loss, epochs=recipe.epochs, batch_size=recipe.batch_size, lr=recipe.lr,
                             device=device, seed=recipe.seed, progress=progress)

        trained = load_or_train(lora_adapter(model), "scenes_lora", {"dataset": "shapes", **asdict(recipe)}, fit,
                                directories=directories, save_to=save_to)
        return Trained(model.eval(), trained.source, trained.history)


def lora_stable_diffusion(recipe: LoRARecipe = LoRARecipe(), *, device: str | torch.device | None = None,
                          progress: bool = True, directories: Directories = (SHIPPED_DIR, CACHE_DIR),
                          save_to: Path | None = CACHE_DIR) -> MiniStableDiffusion:
    """The mini Stable Diffusion of lecture 6 with the recipe's LoRA U-Net in place of its own."""
    kwargs = dict(device=device, progress=progress, directories=directories, save_to=save_to)
    base = mini_stable_diffusion(recipe.unet, **kwargs)
    tuned = lora_unet(recipe, **kwargs).model
    return MiniStableDiffusion(tuned, base.text, base.vae, base.schedule)


def lora_report(base: MiniStableDiffusion, tuned: MiniStableDiffusion, judge: Judge,
                recipe: LoRARecipe = LoRARecipe(), seed: int = 0) -> dict[str, dict[str, float]]:
    """Before vs after: {'new colour', 'new shape', 'old faithfulness'} -> {'before': ..., 'after': ...}."""
    report: dict[str, dict[str, float]] = {"new colour": {}, "new shape": {}, "old faithfulness": {}}
    for when, sd in (("before", base), ("after", tuned)):
        new = new_concept_score(sd, judge, recipe.colour, recipe.rgb, seed=seed)
        report["new colour"][when], report["new shape"][when] = new["colour"], new["shape"]
        report["old faithfulness"][when] = old_faithfulness(sd, judge, seed=seed)
    return report
