"""A small convolutional autoencoder for grey images, the denoiser of lecture 2.

It takes and returns flat rows (batch, h*w), like the MLP autoencoder, so the same
training loop, metrics and pictures work; the reshaping to (batch, 1, h, w) happens inside.
The encoder halves the resolution with strided 3x3 convolutions; the decoder
upsamples back to the exact input size (8x8 digits, 25x25 faces: odd sizes too) and
ends in a sigmoid, so pixels stay in [0, 1]. With `latent_dim` a linear bottleneck of
that many numbers sits in the middle; without it the code is the last feature map.
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib.models.autoencoder import Autoencoder


def _halved(size: tuple[int, int]) -> tuple[int, int]:
    """Output size of a 3x3 convolution with stride 2 and padding 1."""
    return (size[0] + 1) // 2, (size[1] + 1) // 2


class ConvAutoencoder(Autoencoder):
    """Conv encoder (stride 2 per level), optional linear bottleneck, upsample+conv decoder; rows in, rows out."""

    def __init__(self, image_shape: tuple[int, int], channels: tuple[int, ...] = (16, 32),
                 latent_dim: int | None = None):
        if len(image_shape) != 2 or min(image_shape) < 1:
            raise ValueError(f"image_shape must be (height, width), got {image_shape!r}.")
        if not channels or min(channels) < 1:
            raise ValueError(f"channels must be a non-empty tuple of positive widths, got {channels!r}.")
        sizes = [tuple(image_shape)]  # resolution at each level, input first
        for _ in channels:
            sizes.append(_halved(sizes[-1]))
        widths = (1, *channels)
        encoder: list[nn.Module] = [nn.Unflatten(1, (1, *image_shape))]  # (batch, h*w) -> (batch, 1, h, w)
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            encoder += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.ReLU()]
        encoder.append(nn.Flatten())  # (batch, channels[-1] * h' * w')
        feature_dim = channels[-1] * sizes[-1][0] * sizes[-1][1]
        decoder: list[nn.Module] = []
        if latent_dim is not None:
            if latent_dim < 1:
                raise ValueError(f"latent_dim must be positive, got {latent_dim}.")
            encoder.append(nn.Linear(feature_dim, latent_dim))  # the bottleneck: no activation
            decoder += [nn.Linear(latent_dim, feature_dim), nn.ReLU()]
        decoder.append(nn.Unflatten(1, (channels[-1], *sizes[-1])))  # (batch, C, h', w')
        for level in reversed(range(len(channels))):  # mirror the encoder, deepest level first
            c_out = channels[level - 1] if level > 0 else channels[0]
            decoder += [nn.Upsample(size=sizes[level], mode="nearest"),  # exact sizes, odd ones included
                        nn.Conv2d(channels[level], c_out, 3, padding=1), nn.ReLU()]
        decoder += [nn.Conv2d(channels[0], 1, 3, padding=1), nn.Sigmoid(), nn.Flatten()]  # (batch, h*w) in [0, 1]
        super().__init__(nn.Sequential(*encoder), nn.Sequential(*decoder), latent_dim or feature_dim)
        self.image_shape = tuple(image_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (batch, h*w) -> reconstruction (batch, h*w)."""
        expected = self.image_shape[0] * self.image_shape[1]
        if x.ndim != 2 or x.shape[1] != expected:
            raise ValueError(f"ConvAutoencoder for {self.image_shape} images expects rows (batch, {expected}), "
                             f"got shape {tuple(x.shape)}.")
        return super().forward(x)
