"""An independent judge for lecture 6: a small CNN that reads the colour and the shape of a one-object scene.

A text-to-image model is only as good as the share of its pictures that show what the prompt asked for.
Nobody has time to look at hundreds of 32x32 pictures, so a classifier, trained separately on real scenes,
does the looking:

    judge.read(images)                        # [('red', 'circle'), ...]
    judge.prompt_faithfulness(images, prompts)   # share of images read as their prompt asked, colour AND shape
    judge.faithfulness(images, prompts)          # {'colour': ..., 'shape': ..., 'both': ...}

Generated pictures are softer and noisier than the rendered scenes, so the judge is trained on degraded
copies as well (`degrade`: Gaussian blur, Gaussian noise, and the VAE's reconstructions) and validated on
each kind; otherwise it would punish a right answer drawn a little blurry.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from course_lib.data.shapes import COLOURS, SHAPES, Scenes
from course_lib.data.tokenizer import split_words
from course_lib.models.clip import ImageEncoder


def gaussian_blur(images: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
    """Blur (B, C, H, W) with a Gaussian of std `sigma` pixels (one for all, or (B,) one per image); sigma 0 = copy."""
    sigma = torch.as_tensor(sigma, dtype=images.dtype, device=images.device).expand(len(images))  # (B,)
    radius = max(1, math.ceil(3 * float(sigma.max())))
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)  # (K,)
    kernel = torch.exp(-0.5 * (offsets[None, :] / sigma.clamp(min=1e-3)[:, None]) ** 2)  # (B, K)
    kernel = kernel / kernel.sum(1, keepdim=True)
    batch, channels, height, width = images.shape
    padded = F.pad(images, (radius,) * 4, mode="replicate")  # (B, C, H + 2r, W + 2r)
    # separable: rows, then columns; each image has its own kernel, so the images go in as groups
    rows = F.conv2d(padded.reshape(1, batch * channels, *padded.shape[-2:]),
                    kernel.repeat_interleave(channels, 0)[:, None, None, :], groups=batch * channels)
    both = F.conv2d(rows, kernel.repeat_interleave(channels, 0)[:, None, :, None], groups=batch * channels)
    return both.reshape(batch, channels, height, width)


def add_gaussian_noise(images: torch.Tensor, std: float | torch.Tensor,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """images + std * N(0, 1) per pixel (std one for all, or (B,) one per image), clipped to [0, 1]."""
    std = torch.as_tensor(std, dtype=images.dtype).view(-1, 1, 1, 1).to(images.device)
    noise = torch.randn(images.shape, generator=generator).to(images.device)
    return (images + std * noise).clamp(0.0, 1.0)


def degrade(images: torch.Tensor, reconstructions: torch.Tensor | None = None, *, max_blur: float = 1.5,
            max_noise: float = 0.15, generator: torch.Generator | None = None) -> torch.Tensor:
    """The judge's augmentation: per image maybe its VAE reconstruction, maybe blurred, maybe noised (p = 1/2 each)."""
    batch = len(images)
    coin = lambda: torch.rand(batch, generator=generator) < 0.5  # noqa: E731  (B,) one fair coin per image
    if reconstructions is not None:
        images = torch.where(coin().view(-1, 1, 1, 1).to(images.device), reconstructions, images)
    sigma = torch.rand(batch, generator=generator) * max_blur * coin()  # 0 = no blur
    images = gaussian_blur(images, sigma.to(images.device))
    std = torch.rand(batch, generator=generator) * max_noise * coin()
    return add_gaussian_noise(images, std, generator)


def scene_labels(scenes: Scenes) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,) colour indices into COLOURS and (N,) shape indices into SHAPES of one-object scenes."""
    if any(len(objects) != 1 for objects in scenes.objects):
        raise ValueError("The judge reads one object per image: use one-object scenes (make_scenes(..., n_objects=1)).")
    colours = torch.tensor([COLOURS.index(objects[0].colour) for objects in scenes.objects])
    shapes = torch.tensor([SHAPES.index(objects[0].shape) for objects in scenes.objects])
    return colours, shapes


def parse_prompt(prompt: str) -> tuple[str, str]:
    """'a small red circle' -> ('red', 'circle'): the one colour word and the one shape word of a one-object prompt."""
    words = split_words(prompt)
    colours, shapes = [w for w in words if w in COLOURS], [w for w in words if w in SHAPES]
    if len(colours) != 1 or len(shapes) != 1:
        raise ValueError(f"The judge checks prompts naming one colour and one shape, got {prompt!r}.")
    return colours[0], shapes[0]


class Judge(nn.Module):
    """lecture 5's small CNN image encoder with two linear heads: colour (6 classes) and shape (3 classes)."""

    def __init__(self, channels: tuple[int, int, int] = (16, 32, 32), width: int = 64, image_size: int = 32):
        super().__init__()
        self.encoder = ImageEncoder(3, channels, image_size, width)
        self.colour_head = nn.Linear(width, len(COLOURS))
        self.shape_head = nn.Linear(width, len(SHAPES))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images (B, 3, S, S) in [0, 1] -> colour logits (B, 6), shape logits (B, 3)."""
        features = self.encoder(images)  # (B, width)
        return self.colour_head(features), self.shape_head(features)

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
        """images (N, 3, S, S) -> colour indices (N,) and shape indices (N,), on the CPU."""
        self.eval()
        device = next(self.parameters()).device
        colours, shapes = [], []
        for i in range(0, len(images), batch_size):
            colour_logits, shape_logits = self(images[i:i + batch_size].to(device).clamp(0.0, 1.0))
            colours.append(colour_logits.argmax(1).cpu())
            shapes.append(shape_logits.argmax(1).cpu())
        return torch.cat(colours), torch.cat(shapes)

    def read(self, images: torch.Tensor) -> list[tuple[str, str]]:
        """The (colour, shape) the judge sees in each image, e.g. [('red', 'circle'), ...]."""
        colours, shapes = self.predict(images)
        return [(COLOURS[c], SHAPES[s]) for c, s in zip(colours.tolist(), shapes.tolist())]

    def accuracy(self, images: torch.Tensor, scenes: Scenes) -> dict[str, float]:
        """{'colour', 'shape', 'both'}: how often the judge reads `images` as the one-object `scenes` they show."""
        colours, shapes = scene_labels(scenes)
        return _shares(*self.predict(images), colours, shapes)

    def faithfulness(self, images: torch.Tensor, prompts: Sequence[str]) -> dict[str, float]:
        """{'colour', 'shape', 'both'}: the shares of images whose colour, shape, and both are what the prompt asked."""
        if len(images) != len(prompts):
            raise ValueError(f"Need one prompt per image, got {len(images)} images and {len(prompts)} prompts.")
        asked = [parse_prompt(p) for p in prompts]
        colours = torch.tensor([COLOURS.index(c) for c, _ in asked])
        shapes = torch.tensor([SHAPES.index(s) for _, s in asked])
        return _shares(*self.predict(images), colours, shapes)

    def prompt_faithfulness(self, images: torch.Tensor, prompts: Sequence[str]) -> float:
        """The share of images the judge reads as their prompt asked: colour and shape both right."""
        return self.faithfulness(images, prompts)["both"]


def _shares(colours: torch.Tensor, shapes: torch.Tensor, want_colours: torch.Tensor, want_shapes: torch.Tensor
            ) -> dict[str, float]:
    """{'colour', 'shape', 'both'} agreement of predicted and wanted indices."""
    colour_ok, shape_ok = colours == want_colours, shapes == want_shapes
    return {"colour": colour_ok.double().mean().item(), "shape": shape_ok.double().mean().item(),
            "both": (colour_ok & shape_ok).double().mean().item()}


def judge_loss(model: Judge, images: torch.Tensor, reconstructions: torch.Tensor, colours: torch.Tensor,
               shapes: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of both heads on degraded copies of the images (see `degrade`): a loss_fn for train()."""
    colour_logits, shape_logits = model(degrade(images, reconstructions))
    return F.cross_entropy(colour_logits, colours) + F.cross_entropy(shape_logits, shapes)
