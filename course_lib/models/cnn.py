"""A small convolutional classifier for the 8x8 digits (lecture 3): conv, ReLU, pool, twice, then a linear layer.

Each convolution keeps the size (3x3 kernel, padding 1), each 2x2 max-pool halves it:
(1, 8, 8) -> (c1, 8, 8) -> (c1, 4, 4) -> (c2, 4, 4) -> (c2, 2, 2) -> c2 * 4 features -> 10 class scores.
"""

from __future__ import annotations

import torch
from torch import nn


class DigitsCNN(nn.Module):
    """conv3x3-ReLU-maxpool2, conv3x3-ReLU-maxpool2, flatten, linear; takes (batch, 64) rows or (batch, 1, 8, 8) images."""

    def __init__(self, channels: tuple[int, int] = (32, 64), n_classes: int = 10, image_shape: tuple[int, int] = (8, 8)):
        super().__init__()
        if image_shape[0] % 4 or image_shape[1] % 4:
            raise ValueError(f"Two 2x2 poolings need height and width divisible by 4, got {image_shape}.")
        c1, c2 = channels
        self.image_shape = tuple(image_shape)
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Linear(c2 * (image_shape[0] // 4) * (image_shape[1] // 4), n_classes)

    def as_images(self, x: torch.Tensor) -> torch.Tensor:
        """Rows (batch, h*w) -> images (batch, 1, h, w); images pass through unchanged."""
        if x.ndim == 2:
            return x.reshape(len(x), 1, *self.image_shape)
        if x.ndim != 4 or x.shape[1:] != (1, *self.image_shape):
            raise ValueError(f"Expected (batch, {self.image_shape[0] * self.image_shape[1]}) or "
                             f"(batch, 1, {self.image_shape[0]}, {self.image_shape[1]}), got {tuple(x.shape)}.")
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.features(self.as_images(x))  # (batch, c2, h/4, w/4)
        return self.classifier(features.flatten(1))  # (batch, n_classes): the class scores (logits)

    @torch.no_grad()
    def feature_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The output of every layer of `features` for images x, keyed 'conv1', 'relu1', 'pool1', ..., on the CPU."""
        device = next(self.parameters()).device
        h, maps, counts = self.as_images(x).to(device), {}, {}
        for layer in self.features:
            kind = {nn.Conv2d: "conv", nn.ReLU: "relu", nn.MaxPool2d: "pool"}[type(layer)]
            counts[kind] = counts.get(kind, 0) + 1
            h = layer(h)
            maps[f"{kind}{counts[kind]}"] = h.cpu()  # (batch, channels, height, width)
        return maps

