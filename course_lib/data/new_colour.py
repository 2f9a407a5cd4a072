"""A colour the scene generator never draws, for teaching a model a new concept (lecture 7's LoRA).

The scenes' own layouts (course_lib.data.shapes), redrawn in a deep pink (0.8, 0.1, 0.5): between red and
purple, 0.41 from both, far from all six colours. The scene tokenizer has no word for it.
"""

from __future__ import annotations

import torch

from course_lib.data.shapes import COLOURS, SHAPES, SIZES, Scenes, coverage, make_scenes
from course_lib.data.tokenizer import scene_tokenizer

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
