"""Noise models that corrupt images on purpose, and the loss that teaches a denoising autoencoder (lecture 2).

Every noise function takes clean images in [0, 1], either as rows (n, h*w) or as
images (n, h, w), a noise `level`, and an optional torch.Generator: the same
generator seed gives the same corruption. It returns a new tensor of the same
shape, still in [0, 1]; the input is never modified.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from course_lib.metrics import psnr
from course_lib.train import LossFn

NoiseFn = Callable[..., torch.Tensor]  # noise_fn(x, level, generator=None) -> corrupted copy of x


def _check(x: torch.Tensor, level: float, name: str, max_level: float | None = 1.0) -> None:
    if x.ndim not in (2, 3):
        raise ValueError(f"{name} expects images as rows (n, h*w) or as (n, h, w), got shape {tuple(x.shape)}.")
    if not x.is_floating_point():
        raise ValueError(f"{name} expects float pixels in [0, 1], got dtype {x.dtype}.")
    if level < 0 or (max_level is not None and level > max_level):
        allowed = f"between 0 and {max_level:g}" if max_level is not None else "at least 0"
        raise ValueError(f"{name}: the noise level must be {allowed}, got {level}.")


def _draw(kind: str, shape: tuple[int, ...], x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Random numbers made on the generator's device (so a seed means the same thing everywhere), moved to x's."""
    device = generator.device if generator is not None else x.device
    draw = torch.randn if kind == "normal" else torch.rand
    return draw(shape, generator=generator, device=device).to(x.device, x.dtype)


def gaussian_noise(x: torch.Tensor, level: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """x + level * N(0, 1) per pixel, clipped back to [0, 1]; `level` is the standard deviation sigma."""
    _check(x, level, "gaussian_noise", max_level=None)
    return (x + level * _draw("normal", x.shape, x, generator)).clamp(0.0, 1.0)


def salt_and_pepper_noise(x: torch.Tensor, level: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each pixel, with probability `level`, becomes 0 or 1 (a fair coin decides which); the rest stay as they are."""
    _check(x, level, "salt_and_pepper_noise")
    hit = _draw("uniform", x.shape, x, generator) < level  # a fraction `level` of the pixels, in expectation
    salt = _draw("uniform", x.shape, x, generator) < 0.5  # half of those white, half black
    return torch.where(hit, salt.to(x.dtype), x)


def block_noise(
    x: torch.Tensor,
    level: float,
    generator: torch.Generator | None = None,
    *,
    image_shape: tuple[int, int] | None = None,
    value: float = 1.0,
) -> torch.Tensor:
    """One rectangle per image, covering about a fraction `level` of its area, painted `value`: an obstacle to remove.

    Rows (n, h*w) are read as square images unless `image_shape` says otherwise. The block's
    sides are round(sqrt(level) * h) by round(sqrt(level) * w); its position is uniform over
    every place where it fits entirely inside the image, edges included.
    """
    _check(x, level, "block_noise")
    height, width = _image_shape(x, image_shape)
    images = x.reshape(-1, height, width)  # (n, h, w)
    n = len(images)
    block_h, block_w = round(math.sqrt(level) * height), round(math.sqrt(level) * width)
    if block_h == 0 or block_w == 0:
        return x.clone()
    top = (_draw("uniform", (n,), x, generator) * (height - block_h + 1)).long().clamp(max=height - block_h)
    left = (_draw("uniform", (n,), x, generator) * (width - block_w + 1)).long().clamp(max=width - block_w)
    rows = torch.arange(height, device=x.device)
    cols = torch.arange(width, device=x.device)
    in_rows = (rows >= top[:, None]) & (rows < top[:, None] + block_h)  # (n, h)
    in_cols = (cols >= left[:, None]) & (cols < left[:, None] + block_w)  # (n, w)
    mask = in_rows[:, :, None] & in_cols[:, None, :]  # (n, h, w)
    return images.masked_fill(mask, value).reshape(x.shape)


def _image_shape(x: torch.Tensor, image_shape: tuple[int, int] | None) -> tuple[int, int]:
    if x.ndim == 3:
        return tuple(x.shape[1:])
    if image_shape is not None:
        if image_shape[0] * image_shape[1] != x.shape[1]:
            raise ValueError(f"image_shape {tuple(image_shape)} does not match rows of {x.shape[1]} pixels.")
        return tuple(image_shape)
    side = math.isqrt(x.shape[1])
    if side * side != x.shape[1]:
        raise ValueError(f"Rows of {x.shape[1]} pixels are not square images: pass image_shape=(height, width).")
    return side, side


NOISES: dict[str, NoiseFn] = {
    "gaussian": gaussian_noise,
    "salt_and_pepper": salt_and_pepper_noise,
    "block": block_noise,
}


def add_noise(x: torch.Tensor, kind: str, level: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Corrupt x with the noise model called `kind` ('gaussian', 'salt_and_pepper' or 'block')."""
    if kind not in NOISES:
        raise ValueError(f"Unknown noise {kind!r}: choose one of {sorted(NOISES)}.")
    return NOISES[kind](x, level, generator)


def denoising_loss(kind: str, level: float, seed: int = 0) -> LossFn:
    """A loss_fn for course_lib.train.train: corrupt each clean batch, score the output against the CLEAN batch.

    The noise comes from its own generator seeded with `seed`, so a training run can be repeated.
    """
    if kind not in NOISES:
        raise ValueError(f"Unknown noise {kind!r}: choose one of {sorted(NOISES)}.")
    generator = torch.Generator().manual_seed(seed)

    def loss(model: nn.Module, clean: torch.Tensor) -> torch.Tensor:
        noisy = NOISES[kind](clean, level, generator)  # a fresh corruption at every step
        return nn.functional.mse_loss(model(noisy), clean)  # the target is the clean image, not the noisy one

    return loss


@torch.no_grad()
def denoising_psnr(denoise: Callable[[torch.Tensor], torch.Tensor], clean: torch.Tensor, kind: str, level: float,
                   seed: int = 0) -> float:
    """PSNR (dB) of denoise(noisy) against the clean images, the noise drawn with `seed` (the same for every denoiser).

    `denoise=lambda noisy: noisy` is the 'do nothing' baseline.
    """
    noisy = add_noise(clean, kind, level, torch.Generator().manual_seed(seed))
    return psnr(clean, denoise(noisy))
