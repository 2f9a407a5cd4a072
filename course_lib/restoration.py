"""Colourisation and super-resolution as autoencoder tasks (lecture 2): damage by a known operation, ask for the
original.

    grey = to_grey(photos)             # (n, 3, h, w) -> (n, 1, h, w): the colour is removed
    small = shrink(photos, 2)          # (n, 3, h, w) -> (n, 3, h/2, w/2): each 2x2 block becomes its mean
    loss_fn = restoration_loss(to_grey)  # for course_lib.train.train: score model(to_grey(x)) against x

Colours are split into luma Y and two chroma channels U, V with scikit-image's YUV matrices (ITU-R BT.601):
Y = 0.299 R + 0.587 G + 0.114 B is the grey picture, and U = V = 0 is a pixel without colour.
"""

from __future__ import annotations

from typing import Callable

import torch
from skimage.color.colorconv import rgb_from_yuv, yuv_from_rgb
from torch import nn
from torch.nn import functional as F

from course_lib.train import LossFn
from course_lib.validation import describe, require_images, require_positive_int

YUV_FROM_RGB = torch.tensor(yuv_from_rgb, dtype=torch.float32)  # (3, 3): rows Y, U, V
RGB_FROM_YUV = torch.tensor(rgb_from_yuv, dtype=torch.float32)  # its inverse


def _mix(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Apply a 3x3 colour matrix to every pixel: (n, 3, h, w) -> (n, 3, h, w)."""
    return torch.einsum("ij,njhw->nihw", matrix.to(x.device, x.dtype), x)


def rgb_to_yuv(rgb: torch.Tensor) -> torch.Tensor:
    """(n, 3, h, w) RGB -> (n, 3, h, w) YUV, as skimage.color.rgb2yuv."""
    require_images(rgb, 3, "rgb")
    return _mix(YUV_FROM_RGB, rgb)


def yuv_to_rgb(yuv: torch.Tensor) -> torch.Tensor:
    """(n, 3, h, w) YUV -> (n, 3, h, w) RGB, as skimage.color.yuv2rgb (not clipped)."""
    require_images(yuv, 3, "yuv")
    return _mix(RGB_FROM_YUV, yuv)


def to_grey(rgb: torch.Tensor) -> torch.Tensor:
    """The damage of colourisation: (n, 3, h, w) RGB -> (n, 1, h, w) luma Y, the photo in black and white."""
    return rgb_to_yuv(rgb)[:, :1]


def with_chroma(grey: torch.Tensor, chroma: torch.Tensor, clip: bool = True) -> torch.Tensor:
    """Grey (n, 1, h, w) plus chroma U, V, (n, 2, h, w) or one (2,) for all pixels -> RGB (n, 3, h, w) in [0, 1]."""
    require_images(grey, 1, "grey")
    if chroma.ndim == 1:
        chroma = chroma.reshape(1, 2, 1, 1).expand(len(grey), 2, *grey.shape[2:])
    rgb = yuv_to_rgb(torch.cat([grey, chroma.to(grey)], dim=1))
    return rgb.clamp(0.0, 1.0) if clip else rgb


def mean_chroma(rgb: torch.Tensor) -> torch.Tensor:
    """The mean U, V of a set of images (n, 3, h, w) -> (2,): the 'average colour' a baseline paints with."""
    return rgb_to_yuv(rgb)[:, 1:].mean(dim=(0, 2, 3))


def shrink(rgb: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """The damage of super-resolution: each factor x factor block becomes its mean, (n, c, h, w) -> (n, c, h/f, w/f)."""
    require_positive_int(factor=factor)
    if not isinstance(rgb, torch.Tensor) or rgb.ndim != 4 or rgb.shape[2] % factor or rgb.shape[3] % factor:
        raise ValueError(f"rgb must be images (n, c, h, w) with h and w divisible by {factor}, got {describe(rgb)}.")
    return F.avg_pool2d(rgb, factor)


def bicubic(small: torch.Tensor, factor: int = 2, clip: bool = True) -> torch.Tensor:
    """The classic answer to super-resolution: bicubic interpolation, (n, c, h, w) -> (n, c, f h, f w) in [0, 1]."""
    require_positive_int(factor=factor)
    if not isinstance(small, torch.Tensor) or small.ndim != 4:
        raise ValueError(f"small must be images (n, c, h, w), got {describe(small)}.")
    large = F.interpolate(small, scale_factor=factor, mode="bicubic", align_corners=False)
    return large.clamp(0.0, 1.0) if clip else large  # bicubic overshoots a little at sharp edges


def mirrored(x: torch.Tensor, rotations: bool = False) -> torch.Tensor:
    """x (n, c, h, w) and its left-right mirror images (2n, ...); with rotations, all 8 symmetries of the square (8n).

    More training images for free: a mirrored photo is still a photo (a rotated one is for super-resolution, where
    edges look alike in every direction, but not for colourisation, where the sky is at the top).
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"x must be images (n, channels, height, width), got {describe(x)}.")
    x = torch.cat([x, x.flip(-1)])
    if rotations:
        if x.shape[-1] != x.shape[-2]:
            raise ValueError(f"rotations need square images, got {tuple(x.shape[-2:])}.")
        x = torch.cat([x, x.flip(-2)])  # upside down
        x = torch.cat([x, x.transpose(-1, -2)])  # and transposed: with the flips, every rotation by 90 degrees
    return x


def restoration_loss(damage: Callable[[torch.Tensor], torch.Tensor]) -> LossFn:
    """A loss_fn for course_lib.train.train: damage each clean batch, score the model's repair against the CLEAN batch.

    The denoising loss of lecture 2 with a fixed, known damage (no randomness) in place of the noise.
    """
    def loss(model: nn.Module, clean: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(model(damage(clean)), clean)  # the target is the original, not the damaged input

    return loss
