"""Attention on images (lecture 8): where a ViT looks, how attention flows through its layers, and what it costs.

- `attention_rollout` (Abnar & Zuidema 2020): multiply the layers' attention, residual included, to follow
  information from the input patches to the output tokens
- `cls_attention_grid`, `plot_cls_attention`, `plot_rollout`: the [CLS] token's attention laid over the image
- `plot_position_similarity`: how alike the learned position embeddings are (the ViT paper's figure 7)
- `window_mask`, `window_partition`, `windowed_attention`: Swin-style local attention in windows, and
  `attention_cost`, `plot_attention_cost`: its time and memory against global attention as images grow
  (`best_seconds`: the best of a few timed runs, also used for lecture 8's CNN timings)

Maps are the course's: per layer (B, heads, N, N), rows are queries and sum to 1, token 0 is [CLS] when there is one.
"""

from __future__ import annotations

import time
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.nn import functional as F

from course_lib.device import seeded
from course_lib.models.attention import MultiHeadAttention
from course_lib.validation import describe

HEAD_FUSIONS = ("mean", "max")


def attention_rollout(maps: torch.Tensor | Sequence[torch.Tensor], residual: bool = True,
                      head_fusion: str = "mean") -> torch.Tensor:
    """Per-layer maps (B, heads, N, N), as a list or (layers, B, heads, N, N) -> rollout (B, N, N), rows sum to 1.

    Per layer: fuse the heads (mean or max), add the residual connection as A = 0.5 W + 0.5 I, renormalise the
    rows; then rollout = A_L @ ... @ A_2 @ A_1. Row i says how much of token i's final state comes from each input.
    """
    if head_fusion not in HEAD_FUSIONS:
        raise ValueError(f"head_fusion must be one of {HEAD_FUSIONS}, got {head_fusion!r}.")
    maps = _stack_maps(maps)  # (layers, B, heads, N, N)
    fused = maps.mean(dim=2) if head_fusion == "mean" else maps.amax(dim=2)  # (layers, B, N, N)
    if residual:
        eye = torch.eye(fused.shape[-1], dtype=fused.dtype, device=fused.device)
        fused = 0.5 * fused + 0.5 * eye  # the skip connection carries half of each token through unchanged
    fused = fused / fused.sum(dim=-1, keepdim=True)  # rows sum to 1 (max fusion needs it; mean keeps it)
    rollout = fused[0]  # (B, N, N)
    for layer in fused[1:]:
        rollout = layer @ rollout  # later layers on the left
    return rollout


def cls_attention_grid(weights_row: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """[CLS]'s row (..., N+1) -> (..., gh, gw): its weights on the patches (the [CLS] column dropped), as the grid."""
    gh, gw = _check_grid(grid)
    if not isinstance(weights_row, torch.Tensor) or weights_row.ndim < 1 or weights_row.shape[-1] != gh * gw + 1:
        raise ValueError(f"weights_row must end in N+1 = {gh * gw + 1} weights ([CLS] then {gh}x{gw} patches), "
                         f"got {describe(weights_row)}.")
    return weights_row[..., 1:].reshape(*weights_row.shape[:-1], gh, gw)


def plot_cls_attention(image: torch.Tensor, maps: torch.Tensor, grid: tuple[int, int], *, upsample: str = "nearest",
                       alpha: float = 0.6, size: float = 1.6) -> plt.Figure:
    """For one image (C, H, W) in [0, 1] and its maps (layers, heads, N+1, N+1): a layers x heads grid of [CLS]
    attention over the image (each map scaled to its own maximum), the image itself in the first column."""
    picture = _as_picture(image)
    maps = maps.detach().cpu() if isinstance(maps, torch.Tensor) else maps
    if isinstance(maps, torch.Tensor) and maps.ndim == 5 and maps.shape[1] == 1:
        maps = maps[:, 0]  # (layers, 1, heads, ...) from attention_maps of one image
    if not isinstance(maps, torch.Tensor) or maps.ndim != 4:
        raise ValueError(f"maps must be one image's (layers, heads, N+1, N+1) (pick image b with maps[:, b]), "
                         f"got {describe(maps)}.")
    heat = cls_attention_grid(maps[:, :, 0, :], grid)  # (layers, heads, gh, gw)
    n_layers, n_heads = heat.shape[:2]
    fig, axes = plt.subplots(n_layers, n_heads + 1, figsize=(size * (n_heads + 1), size * n_layers), squeeze=False)
    for layer in range(n_layers):
        _overlay(axes[layer, 0], picture, None, alpha, upsample)
        axes[layer, 0].set_ylabel(f"layer {layer + 1}", fontsize=8)
        for head in range(n_heads):
            _overlay(axes[layer, head + 1], picture, heat[layer, head], alpha, upsample)
            if layer == 0:
                axes[layer, head + 1].set_title(f"head {head + 1}", fontsize=8)
    fig.suptitle("[CLS] attention to the patches", fontsize=9)
    fig.tight_layout()
    return fig


def plot_rollout(images: torch.Tensor, rollouts: torch.Tensor, grid: tuple[int, int], *,
                 titles: Sequence[str] | None = None, upsample: str = "bilinear", alpha: float = 0.6,
                 size: float = 1.8) -> plt.Figure:
    """Images (B, C, H, W) in [0, 1] above their rollout's [CLS] row (rollouts (B, N+1, N+1)) laid over them."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError(f"images must be (B, C, H, W), got {describe(images)}.")
    if not isinstance(rollouts, torch.Tensor) or rollouts.ndim != 3 or len(rollouts) != len(images):
        raise ValueError(f"rollouts must be (B, N+1, N+1) with B = {len(images)}, got {describe(rollouts)}.")
    heat = cls_attention_grid(rollouts.detach().cpu()[:, 0, :], grid)  # (B, gh, gw)
    fig, axes = plt.subplots(2, len(images), figsize=(size * len(images), 2 * size), squeeze=False)
    for b, image in enumerate(images):
        picture = _as_picture(image)
        _overlay(axes[0, b], picture, None, alpha, upsample)
        _overlay(axes[1, b], picture, heat[b], alpha, upsample)
        if titles is not None:
            axes[0, b].set_title(titles[b], fontsize=8)
    axes[1, 0].set_ylabel("rollout", fontsize=8)
    fig.tight_layout()
    return fig


def plot_position_similarity(similarity: torch.Tensor, grid: tuple[int, int], *, size: float = 0.7) -> plt.Figure:
    """(N, N) cosine similarities of position embeddings -> a gh x gw grid; panel (r, c) shows position (r, c)'s
    similarity to every position."""
    gh, gw = _check_grid(grid)
    if not isinstance(similarity, torch.Tensor) or similarity.shape != (gh * gw, gh * gw):
        raise ValueError(f"similarity must be (N, N) with N = {gh * gw}, got {describe(similarity)}.")
    panels = similarity.detach().cpu().reshape(gh, gw, gh, gw).numpy()
    fig, axes = plt.subplots(gh, gw, figsize=(size * gw + 1, size * gh), squeeze=False)
    for (r, c), ax in np.ndenumerate(axes):
        shown = ax.imshow(panels[r, c], cmap="viridis", vmin=-1, vmax=1)
        ax.set_xticks([]), ax.set_yticks([])
    fig.colorbar(shown, ax=axes, fraction=0.03, label="cosine similarity")
    return fig


def window_mask(grid_h: int, grid_w: int, window: int, cls: bool = False) -> torch.Tensor:
    """(N, N) bool, True where a patch may attend: only inside its own window x window block of the grid.
    cls=True puts a [CLS] token first (N+1 tokens) that attends to, and is attended by, every token."""
    _check_windows((grid_h, grid_w), window)
    rows = torch.arange(grid_h).repeat_interleave(grid_w)  # (N,) row of each patch, row-major
    cols = torch.arange(grid_w).repeat(grid_h)  # (N,)
    block = (rows // window) * (grid_w // window) + cols // window  # (N,) which window each patch is in
    mask = block[:, None] == block[None, :]  # (N, N)
    return F.pad(mask, (1, 0, 1, 0), value=True) if cls else mask


def window_partition(x: torch.Tensor, grid: tuple[int, int], window: int) -> torch.Tensor:
    """Patch tokens (B, N, d) -> windows (B * n_windows, window^2, d): each window's tokens, row-major inside it."""
    gh, gw = _check_windows(grid, window)
    if not isinstance(x, torch.Tensor) or x.ndim != 3 or x.shape[1] != gh * gw:
        raise ValueError(f"x must be patch tokens (B, {gh * gw}, d) for a {gh}x{gw} grid, got {describe(x)}.")
    batch, _, d = x.shape
    x = x.reshape(batch, gh // window, window, gw // window, window, d)  # (B, wrow, row in w, wcol, col in w, d)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window, d)


def window_reverse(windows: torch.Tensor, grid: tuple[int, int], window: int) -> torch.Tensor:
    """Windows (B * n_windows, window^2, d) -> patch tokens (B, N, d): the inverse of window_partition."""
    gh, gw = _check_windows(grid, window)
    d = windows.shape[-1]
    x = windows.reshape(-1, gh // window, gw // window, window, window, d).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, gh * gw, d)


def windowed_attention(x: torch.Tensor, grid: tuple[int, int], window: int,
                       attn: MultiHeadAttention) -> tuple[torch.Tensor, torch.Tensor]:
    """Self-attention inside each window, run as a batch of windows: x (B, N, d) -> (B, N, d),
    weights (B, n_windows, heads, window^2, window^2). Equals attn(x, x, x, mask=window_mask(...)) at a fraction
    of the cost: n_windows small (window^2)^2 score matrices instead of one N x N."""
    windows = window_partition(x, grid, window)  # (B * n_windows, window^2, d)
    attended, weights = attn(windows, windows, windows)  # weights (B * n_windows, heads, window^2, window^2)
    return window_reverse(attended, grid, window), weights.reshape(len(x), -1, *weights.shape[1:])


def attention_cost(grid_sizes: Sequence[int], window: int, d_model: int = 32, n_heads: int = 4,
                   repeats: int = 3, seed: int = 0) -> list[dict]:
    """Global vs windowed self-attention on one image of g x g patches, for each g: rows of
    {'grid', 'tokens', 'kind', 'seconds' (best of `repeats`, forward only), 'weight_bytes' (the weights' size)}."""
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}.")
    with seeded(seed):  # the caller's random state is left as it was
        attn = MultiHeadAttention(d_model, n_heads).eval()
    generator, rows = torch.Generator().manual_seed(seed), []
    for g in grid_sizes:
        _check_windows((g, g), window)
        x = torch.randn(1, g * g, d_model, generator=generator)  # (1, N, d)
        runs = {"global": lambda: attn(x, x, x), "windowed": lambda: windowed_attention(x, (g, g), window, attn)}
        for kind, run in runs.items():
            with torch.no_grad():
                weights = run()[1]  # warm-up; and the weights whose size we report
                seconds = best_seconds(run, repeats)
            rows.append({"grid": g, "tokens": g * g, "kind": kind, "seconds": seconds,
                         "weight_bytes": weights.numel() * weights.element_size()})
    return rows


def plot_attention_cost(rows: Sequence[dict]) -> plt.Figure:
    """Time and attention-weight memory against the number of tokens, global vs windowed, on log-log axes."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for kind, style in (("global", "o-"), ("windowed", "s-")):
        mine = [row for row in rows if row["kind"] == kind]
        tokens = [row["tokens"] for row in mine]
        axes[0].plot(tokens, [row["seconds"] * 1e3 for row in mine], style, label=kind)
        axes[1].plot(tokens, [row["weight_bytes"] / 2 ** 20 for row in mine], style, label=kind)
    axes[0].set(xscale="log", yscale="log", xlabel="tokens N", ylabel="forward time (ms)", title="time")
    axes[1].set(xscale="log", yscale="log", xlabel="tokens N", ylabel="attention weights (MiB)",
                title="memory: N² global, N·window² windowed")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _stack_maps(maps) -> torch.Tensor:
    if isinstance(maps, (list, tuple)):
        if not maps or not all(isinstance(m, torch.Tensor) for m in maps):
            raise ValueError("maps must be a non-empty list of per-layer tensors (B, heads, N, N).")
        maps = torch.stack([m.detach() for m in maps])
    if not isinstance(maps, torch.Tensor) or maps.ndim != 5 or maps.shape[-1] != maps.shape[-2]:
        raise ValueError(f"maps must be (layers, B, heads, N, N) or a list of (B, heads, N, N), got {describe(maps)}.")
    return maps.detach().float()


def _check_grid(grid: tuple[int, int]) -> tuple[int, int]:
    if len(grid) != 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in grid):
        raise ValueError(f"grid must be (rows, columns) of positive integers, got {grid!r}.")
    return tuple(grid)


def _check_windows(grid: tuple[int, int], window: int) -> tuple[int, int]:
    gh, gw = _check_grid(grid)
    if isinstance(window, bool) or not isinstance(window, int) or window < 1 or gh % window or gw % window:
        raise ValueError(f"window must be a positive integer dividing the grid {gh}x{gw}, got {window!r}.")
    return gh, gw


def _as_picture(image: torch.Tensor) -> np.ndarray:
    """(1, H, W), (3, H, W) or (H, W) in [0, 1] -> an array imshow draws: (H, W) grey or (H, W, 3) colour."""
    shape = tuple(image.shape) if isinstance(image, torch.Tensor) else ()
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[0] not in (1, 3)):
        raise ValueError(f"image must be (1, H, W) grey or (3, H, W) colour in [0, 1], got {describe(image)}.")
    image = image.detach().cpu().float().clamp(0, 1)
    return image.numpy() if image.ndim == 2 else image.permute(1, 2, 0).squeeze(-1).numpy()


def _overlay(ax: plt.Axes, picture: np.ndarray, heat: torch.Tensor | None, alpha: float, upsample: str) -> None:
    """Draw the picture, and the heat map (gh, gw) on top, upsampled to the picture's size and scaled to [0, 1]."""
    grey = picture.ndim == 2
    ax.imshow(picture, cmap="gray" if grey else None, vmin=0, vmax=1)
    if heat is not None:
        if upsample not in ("nearest", "bilinear"):
            raise ValueError(f"upsample must be 'nearest' or 'bilinear', got {upsample!r}.")
        heat = heat.float() / heat.max().clamp(min=1e-12)
        big = F.interpolate(heat[None, None], size=picture.shape[:2], mode=upsample)[0, 0]  # (H, W)
        ax.imshow(big.numpy(), cmap="inferno", alpha=alpha, vmin=0, vmax=1)
    ax.set_xticks([]), ax.set_yticks([])


def best_seconds(run, repeats: int) -> float:
    """The shortest wall time of `repeats` calls of run(), without gradients (warm up before calling this)."""
    times = []
    with torch.no_grad():
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
    return min(times)

