"""Two small image-to-image networks for lecture 2: a colouriser and a 2x super-resolver.

Both learn only what their input lacks, and both start out as the trivial answer (their last layer is zero).
Their outputs are not clipped to [0, 1], so training loses no gradient at the clip; `colourise` and `upscale`,
the methods for looking at results and measuring them, clip.

    Colouriser:     grey (n, 1, h, w) -> U-Net -> chroma U, V (n, 2, h, w); RGB = the input's luma + that chroma
                    (untrained: the grey photo itself)
    SuperResolver:  small (n, 3, h, w) -> bicubic (n, 3, f h, f w) + a correction computed at the small size and
                    rearranged into f x f sub-pixels (ESPCN's PixelShuffle, Shi et al., 2016); learning a
                    correction to an interpolation is VDSR's residual idea (Kim et al., 2016)
                    (untrained: bicubic interpolation)
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from course_lib.restoration import bicubic, with_chroma
from course_lib.validation import require_images
from course_lib.validation import require_positive_int


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1), nn.ReLU())


def _zero(layer: nn.Conv2d) -> nn.Conv2d:
    nn.init.zeros_(layer.weight), nn.init.zeros_(layer.bias)
    return layer


class Colouriser(nn.Module):
    """Grey (n, 1, h, w) -> RGB (n, 3, h, w): a small U-Net paints the chroma U, V; the luma Y is the input's own."""

    def __init__(self, channels: tuple[int, ...] = (8, 16, 32)):
        super().__init__()
        if not channels or min(channels) < 1:
            raise ValueError(f"channels must be a non-empty tuple of positive widths, got {channels!r}.")
        widths = (1, *channels)
        self.down = nn.ModuleList(  # level 0 keeps the resolution, every further level halves it
            nn.Sequential(_conv(c_in, c_out, stride=1 if level == 0 else 2), _conv(c_out, c_out))
            for level, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:])))
        self.up = nn.ModuleList(_conv(deeper + skip, skip)  # upsampled features + the skip of the same level
                                for deeper, skip in zip(channels[:0:-1], channels[-2::-1]))
        self.head = _zero(nn.Conv2d(channels[0], 2, 3, padding=1))  # -> U, V

    def forward(self, grey: torch.Tensor) -> torch.Tensor:
        require_images(grey, 1, "grey")
        skips, h = [], grey
        for block in self.down:
            h = block(h)
            skips.append(h)  # (n, c_level, h / 2^level, w / 2^level)
        h = skips.pop()
        for block in self.up:
            skip = skips.pop()
            h = block(torch.cat([F.interpolate(h, size=skip.shape[-2:]), skip], dim=1))
        return with_chroma(grey, self.head(h), clip=False)  # (n, 3, h, w)

    @torch.no_grad()
    def colourise(self, grey: torch.Tensor) -> torch.Tensor:
        """The colour photo, clipped to [0, 1]: computed on the model's device, returned on the input's."""
        return self(grey.to(next(self.parameters()).device)).clamp(0.0, 1.0).to(grey.device)


class SuperResolver(nn.Module):
    """Small RGB (n, 3, h, w) -> (n, 3, factor h, factor w): bicubic interpolation + a learned sub-pixel correction."""

    def __init__(self, factor: int = 2, channels: int = 32, layers: int = 4):
        super().__init__()
        require_positive_int(factor=factor, channels=channels)
        if isinstance(layers, bool) or not isinstance(layers, int) or layers < 2:
            raise ValueError(f"layers must be an integer of at least 2, got {layers!r}.")
        self.factor = factor
        body = [_conv(3, channels)] + [_conv(channels, channels) for _ in range(layers - 2)]
        self.body = nn.Sequential(*body, _zero(nn.Conv2d(channels, 3 * factor**2, 3, padding=1)),
                                  nn.PixelShuffle(factor))  # (n, 3 f^2, h, w) -> (n, 3, f h, f w)

    def forward(self, small: torch.Tensor) -> torch.Tensor:
        require_images(small, 3, "small")
        return bicubic(small, self.factor, clip=False) + self.body(small)  # (n, 3, f h, f w)

    @torch.no_grad()
    def upscale(self, small: torch.Tensor) -> torch.Tensor:
        """The enlarged photo, clipped to [0, 1]: computed on the model's device, returned on the input's."""
        return self(small.to(next(self.parameters()).device)).clamp(0.0, 1.0).to(small.device)
