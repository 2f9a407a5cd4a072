"""Attention inside a CNN (lecture 8): reweigh channels, reweigh places, or let every place look at every other.

- `SqueezeExcitation` (Hu et al. 2018): which CHANNELS matter for this image? one gate in (0, 1) per channel
- `SpatialAttention` (CBAM's spatial branch, Woo et al. 2018): which PLACES matter? one weight in (0, 1) per pixel
- `NonLocalBlock` (Wang et al. 2018): each place attends to all H*W places, i.e. self-attention over the pixels
- `AttentionCNN`: lecture 3's DigitsCNN with one of them after its second convolution

Each module keeps what it computed inspectable: `gates(x)`, `weight_map(x)`, `attend(x)`.
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib.models.attention import scaled_dot_product_attention
from course_lib.validation import describe, image_batch, require_positive_int

ATTENTIONS = (None, "se", "spatial", "nonlocal")


class SqueezeExcitation(nn.Module):
    """Squeeze (average over H, W) -> excite (Linear, ReLU, Linear, sigmoid) -> scale each channel by its gate."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        require_positive_int(channels=channels, reduction=reduction)
        hidden = max(1, channels // reduction)
        self.excite = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels), nn.Sigmoid())

    def gates(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) -> gates (B, C) in (0, 1): one per channel, the same at every place."""
        _check_feature_maps(x)
        squeezed = x.mean(dim=(2, 3))  # (B, C): each channel's average over the image
        return self.excite(squeezed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gates(x)[:, :, None, None]  # (B, C, H, W)


class SpatialAttention(nn.Module):
    """Mean and max over the channels -> (B, 2, H, W) -> conv k x k -> sigmoid -> scale each place by its weight."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        require_positive_int(kernel_size=kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (so the map keeps its size), got {kernel_size}.")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def weight_map(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) -> weights (B, 1, H, W) in (0, 1): one per place, the same for every channel."""
        _check_feature_maps(x)
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)  # (B, 2, H, W)
        return torch.sigmoid(self.conv(pooled))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight_map(x)  # (B, C, H, W)


class NonLocalBlock(nn.Module):
    """Embedded-Gaussian non-local block: y = x + W_z(softmax(theta(x) phi(x)^T / sqrt(inner)) g(x)).

    theta, phi, g are 1x1 convolutions to `inner` channels (default C/2): queries, keys and values of one token
    per place. The weights are a softmax over all H*W places, computed by the course's
    `scaled_dot_product_attention`; it divides the scores by sqrt(inner), which the paper's embedded Gaussian does
    not (a constant scale of the scores, that theta and phi can learn to absorb). The output convolution W_z starts
    at zero, so a new block is the identity and can be put into a trained network without changing it.
    """

    def __init__(self, channels: int, inner: int | None = None):
        super().__init__()
        require_positive_int(channels=channels)
        inner = max(1, channels // 2) if inner is None else inner
        require_positive_int(inner=inner)
        self.theta, self.phi, self.g = (nn.Conv2d(channels, inner, kernel_size=1) for _ in range(3))
        self.out = nn.Conv2d(inner, channels, kernel_size=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def attend(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, C, H, W) -> y (B, C, H, W), weights (B, H*W, H*W): row i is where place i (row-major) looks."""
        _check_feature_maps(x)
        batch, channels, height, width = x.shape
        q = self.theta(x).flatten(2).transpose(1, 2)  # (B, HW, inner)
        k = self.phi(x).flatten(2).transpose(1, 2)  # (B, HW, inner)
        v = self.g(x).flatten(2).transpose(1, 2)  # (B, HW, inner)
        attended, weights = scaled_dot_product_attention(q, k, v)  # (B, HW, inner), (B, HW, HW)
        attended = attended.transpose(1, 2).reshape(batch, -1, height, width)  # (B, inner, H, W)
        return x + self.out(attended), weights  # residual: zero-initialised W_z makes this x at first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attend(x)[0]


class AttentionCNN(nn.Module):
    """DigitsCNN's layout, conv3x3-ReLU-maxpool2 twice then linear, with optional attention after the second ReLU."""

    def __init__(self, channels: tuple[int, int] = (32, 64), n_classes: int = 10, image_shape: tuple[int, int] = (8, 8),
                 in_channels: int = 1, attention: str | None = None):
        super().__init__()
        if attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {attention!r}.")
        if len(image_shape) != 2 or image_shape[0] % 4 or image_shape[1] % 4:
            raise ValueError(f"image_shape: two 2x2 poolings need height and width divisible by 4, got {image_shape}.")
        c1, c2 = channels
        self.image_shape, self.in_channels, self.kind = tuple(image_shape), in_channels, attention
        self.block1 = nn.Sequential(nn.Conv2d(in_channels, c1, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.block2 = nn.Sequential(nn.Conv2d(c1, c2, kernel_size=3, padding=1), nn.ReLU())
        self.attention = {None: nn.Identity, "se": lambda: SqueezeExcitation(c2), "spatial": SpatialAttention,
                          "nonlocal": lambda: NonLocalBlock(c2)}[attention]()
        self.pool = nn.MaxPool2d(2)
        self.classifier = nn.Linear(c2 * (image_shape[0] // 4) * (image_shape[1] // 4), n_classes)

    def as_images(self, x: torch.Tensor) -> torch.Tensor:
        """Rows (B, H*W) -> images (B, 1, H, W) for one-channel models; images (B, C, H, W) pass through unchanged."""
        return image_batch(x, self.image_shape, self.in_channels)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x -> the second block's feature maps (B, c2, h/2, w/2), before the attention."""
        return self.block2(self.block1(self.as_images(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, h*w) or (B, in_channels, h, w) -> logits (B, n_classes)."""
        features = self.pool(self.attention(self.features(x)))  # (B, c2, h/4, w/4)
        return self.classifier(features.flatten(1))

    @torch.no_grad()
    def attention_weights(self, x: torch.Tensor) -> torch.Tensor | None:
        """What the attention computed for x: SE gates (B, c2), a spatial map (B, 1, h/2, w/2),
        non-local weights (B, hw/4, hw/4), or None without attention."""
        features = self.features(x)
        if self.kind == "se":
            return self.attention.gates(features)
        if self.kind == "spatial":
            return self.attention.weight_map(features)
        if self.kind == "nonlocal":
            return self.attention.attend(features)[1]
        return None


def _check_feature_maps(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"x must be feature maps (B, C, H, W), got {describe(x)}.")
