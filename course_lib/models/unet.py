"""A small text-conditioned U-Net noise predictor (lecture 6), the network inside Stable Diffusion, in miniature.

    noise = unet(x_t, t, context)            # x_t (B, C, H, W), t (B,) long, context (B, L, d_text) -> (B, C, H, W)
    noise, maps = unet(x_t, t, context, return_attention=True)   # maps: one (B, heads, H*W, L) per attention block

Shape of the network (channels=(c0, c1), as for 8x8x4 latents):

    x_t -conv-> [Res + CrossAttn] ------------------- skip ------------------> concat [Res + CrossAttn] -conv-> noise
                  (c0, 8x8)    |                                                  ^    (c0, 8x8)
                          downsample                                          upsample
                               v                                                  |
                        [Res + CrossAttn] ---------- skip ---------> concat [Res + CrossAttn]
                           (c1, 4x4)   --> [Res + CrossAttn + Res] -->        (c1, 4x4)

- the timestep t enters every ResBlock as a learned projection of its sinusoidal embedding (the transformer's
  positions of lecture 4, with the step number as the position);
- the text enters through cross-attention: the queries come from the feature map's pixels, the keys and values
  from the text encoder's token states, so every pixel picks the words it needs (lecture 4's attention, reused);
- the skips carry the fine detail past the bottleneck, as in Ronneberger et al.'s U-Net.
The same class works in pixel space (in_channels=3, 32x32 and three levels) for the 'pixels vs latents' comparison.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from course_lib.models.attention import MultiHeadAttention
from course_lib.models.transformer import sinusoidal_positions


def _norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with 8 groups (or fewer for narrow layers): batch-size independent, as in every diffusion U-Net."""
    return nn.GroupNorm(min(8, channels), channels)


class ResBlock(nn.Module):
    """norm-SiLU-conv, + the timestep's projection, norm-SiLU-conv, + the input (1x1 conv if the width changes)."""

    def __init__(self, c_in: int, c_out: int, time_dim: int):
        super().__init__()
        self.norm1, self.conv1 = _norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time_proj = nn.Linear(time_dim, c_out)
        self.norm2, self.conv2 = _norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        """x (B, c_in, H, W), time embedding (B, time_dim) -> (B, c_out, H, W)."""
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_proj(time)[:, :, None, None]  # the same shift for every pixel of a channel
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class CrossAttentionBlock(nn.Module):
    """x + CrossAttention(queries = the normalised pixels of x, keys = values = the text tokens)."""

    def __init__(self, channels: int, context_dim: int, n_heads: int):
        super().__init__()
        self.norm = _norm(channels)
        self.attn = MultiHeadAttention(channels, n_heads, kdim=context_dim, vdim=context_dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor | None = None,
                need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (B, C, H, W), context (B, L, d_text), mask (B, L) True on real tokens -> x, weights (B, heads, H*W, L)
        (None unless need_weights: the fused kernel)."""
        batch, channels, height, width = x.shape
        pixels = self.norm(x).flatten(2).transpose(1, 2)  # (B, H*W, C): one query per pixel
        attended, weights = self.attn(pixels, context, context, key_padding_mask=context_mask,
                                      need_weights=need_weights)  # (B, H*W, C)
        return x + attended.transpose(1, 2).reshape(batch, channels, height, width), weights


class UNet(nn.Module):
    """Noise predictor eps(x_t, t, text): ResBlocks and cross-attention on a contracting and an expanding path."""

    def __init__(self, in_channels: int = 4, channels: tuple[int, ...] = (64, 128), context_dim: int = 64,
                 n_heads: int = 4, attention: tuple[bool, ...] | None = None, max_timesteps: int = 1000):
        super().__init__()
        if not channels or any(c < 8 or c % 8 for c in channels):
            raise ValueError(f"channels must be multiples of 8 (GroupNorm's 8 groups), got {channels!r}.")
        attention = (True,) * len(channels) if attention is None else tuple(attention)
        if len(attention) != len(channels):
            raise ValueError(f"attention needs one flag per level ({len(channels)}), got {attention!r}.")
        self.in_channels, self.context_dim, self.max_timesteps = in_channels, context_dim, max_timesteps
        self.levels = len(channels)
        time_dim = 4 * channels[0]
        self.register_buffer("time_table", sinusoidal_positions(max_timesteps, channels[0]), persistent=False)
        self.time_mlp = nn.Sequential(nn.Linear(channels[0], time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim))
        self.conv_in = nn.Conv2d(in_channels, channels[0], 3, padding=1)

        def attend(c: int, on: bool) -> nn.Module | None:
            return CrossAttentionBlock(c, context_dim, n_heads) if on else None

        self.down_res, self.down_attn, self.downsample = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        width = channels[0]
        for level, (c, on) in enumerate(zip(channels, attention)):
            self.down_res.append(ResBlock(width, c, time_dim))
            self.down_attn.append(attend(c, on))
            last = level == self.levels - 1
            self.downsample.append(nn.Identity() if last else nn.Conv2d(c, c, 3, stride=2, padding=1))
            width = c
        self.mid_res1 = ResBlock(width, width, time_dim)
        self.mid_attn = CrossAttentionBlock(width, context_dim, n_heads)
        self.mid_res2 = ResBlock(width, width, time_dim)
        self.up_res, self.up_attn, self.upsample = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for level in reversed(range(self.levels)):
            c = channels[level]
            self.up_res.append(ResBlock(width + c, c, time_dim))  # + the skip from the same level
            self.up_attn.append(attend(c, attention[level]))
            self.upsample.append(nn.Identity() if level == 0 else
                                 nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                               nn.Conv2d(c, channels[level - 1], 3, padding=1)))
            width = channels[level - 1] if level > 0 else c
        self.norm_out = _norm(width)
        self.conv_out = nn.Conv2d(width, in_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)  # start by predicting zero noise: a calm first step
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor | None = None,
                return_attention: bool = False) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """x_t (B, C, H, W), t (B,) long, context (B, L, d_text), mask (B, L) True on real tokens -> noise (B, C, H, W).

        With return_attention, also every cross-attention block's weights (B, heads, H*W, L), contracting path
        first, then the middle, then the expanding path.
        """
        self._check(x, t, context, context_mask)
        time = self.time_mlp(self.time_table[t])  # (B, time_dim)
        maps: list[torch.Tensor] = []

        def cross(block: nn.Module | None, h: torch.Tensor) -> torch.Tensor:
            if block is None:
                return h
            h, weights = block(h, context, context_mask, need_weights=return_attention)
            if return_attention:
                maps.append(weights)
            return h

        h = self.conv_in(x)  # (B, c0, H, W)
        skips = []
        for res, attn, down in zip(self.down_res, self.down_attn, self.downsample):
            h = cross(attn, res(h, time))
            skips.append(h)  # (B, c_level, H / 2^level, W / 2^level)
            h = down(h)
        h = self.mid_res2(cross(self.mid_attn, self.mid_res1(h, time)), time)
        for res, attn, up in zip(self.up_res, self.up_attn, self.upsample):
            h = cross(attn, res(torch.cat([h, skips.pop()], dim=1), time))
            h = up(h)
        noise = self.conv_out(F.silu(self.norm_out(h)))  # (B, C, H, W)
        return (noise, maps) if return_attention else noise

    def _check(self, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor,
               context_mask: torch.Tensor | None) -> None:
        """Clear errors for inputs of the wrong shape, type or range."""
        size = 2 ** (self.levels - 1)
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[-2] % size or x.shape[-1] % size:
            raise ValueError(f"Expected x_t (batch, {self.in_channels}, H, W) with H and W divisible by {size}, "
                             f"got {tuple(x.shape)}.")
        if t.shape != (x.shape[0],) or t.dtype != torch.long:
            raise ValueError(f"Expected one int64 step per image, t of shape ({x.shape[0]},), "
                             f"got {tuple(t.shape)} {t.dtype}.")
        if len(t) and (t.min() < 0 or t.max() >= self.max_timesteps):
            raise ValueError(f"Steps must lie in 0..{self.max_timesteps - 1}, got {t.min().item()}..{t.max().item()}.")
        if context.ndim != 3 or context.shape[0] != x.shape[0] or context.shape[2] != self.context_dim:
            raise ValueError(f"Expected context (batch={x.shape[0]}, tokens, {self.context_dim}), "
                             f"got {tuple(context.shape)}.")
        if context_mask is not None and (context_mask.shape != context.shape[:2] or context_mask.dtype != torch.bool):
            raise ValueError(f"context_mask must be bool of shape {tuple(context.shape[:2])} (True on real tokens), "
                             f"got {tuple(context_mask.shape)} {context_mask.dtype}.")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable numbers in `model`."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
