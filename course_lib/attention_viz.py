"""Attention pictures (lecture 4): a heat map with tokens on both axes, and a grid of every layer's heads."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch


def _as_array(weights: torch.Tensor | np.ndarray) -> np.ndarray:
    return weights.detach().cpu().numpy() if isinstance(weights, torch.Tensor) else np.asarray(weights)


def plot_attention(
    weights: torch.Tensor | np.ndarray,
    query_tokens: Sequence[str],
    key_tokens: Sequence[str],
    *,
    ax: plt.Axes | None = None,
    title: str = "",
    annotate: bool = False,
    colorbar: bool = True,
    value_range: tuple[float, float] = (0.0, 1.0),
) -> plt.Axes:
    """Heat map of weights (L_q, L_k): one row per query token (output), one column per key token (input).

    Also draws any labelled matrix, e.g. cosine similarities with value_range=(-1, 1).
    """
    weights = _as_array(weights)
    if weights.shape != (len(query_tokens), len(key_tokens)):
        raise ValueError(f"Weights of shape {weights.shape} do not fit {len(query_tokens)} query tokens "
                         f"x {len(key_tokens)} key tokens.")
    if ax is None:
        _, ax = plt.subplots(figsize=(0.45 * len(key_tokens) + 1.5, 0.45 * len(query_tokens) + 1))
    low, high = value_range
    image = ax.imshow(weights, cmap="viridis", vmin=low, vmax=high)
    ax.set_xticks(range(len(key_tokens)), key_tokens, rotation=90)
    ax.set_yticks(range(len(query_tokens)), query_tokens)
    ax.set_xlabel("attends to (keys)")
    ax.set_ylabel("query")
    ax.set_title(title)
    if annotate:
        for (i, j), w in np.ndenumerate(weights):
            ax.text(j, i, f"{w:.2f}", ha="center", va="center", fontsize=7, color="white" if w < low + 0.6 * (high - low) else "black")
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return ax


def plot_heads(
    maps: torch.Tensor | np.ndarray,
    tokens: Sequence[str],
    *,
    key_tokens: Sequence[str] | None = None,
    size: float = 2.4,
) -> plt.Figure:
    """Every head of every layer: maps (layers, heads, L_q, L_k) for one sequence -> a layers x heads grid."""
    maps = _as_array(maps)
    if maps.ndim != 4:
        raise ValueError(f"plot_heads draws maps of shape (layers, heads, L_q, L_k), got {maps.shape}.")
    n_layers, n_heads = maps.shape[:2]
    fig, axes = plt.subplots(n_layers, n_heads, figsize=(size * n_heads, size * n_layers), squeeze=False)
    for layer in range(n_layers):
        for head in range(n_heads):
            plot_attention(maps[layer, head], tokens, key_tokens or tokens, ax=axes[layer, head],
                           title=f"layer {layer + 1}, head {head + 1}", colorbar=False)
            if head:
                axes[layer, head].set_ylabel("")
            if layer < n_layers - 1:
                axes[layer, head].set_xlabel("")
    fig.tight_layout()
    return fig


def plot_softmax_saturation(dims: Sequence[int] = (4, 16, 64, 256, 1024), n_keys: int = 10, seed: int = 0,
                            ax: plt.Axes | None = None) -> plt.Axes:
    """Largest softmax weight of q.k scores over random unit-variance vectors, with and without 1/sqrt(d_k)."""
    generator = torch.Generator().manual_seed(seed)
    unscaled, scaled = [], []
    for d in dims:
        q, k = torch.randn(200, 1, d, generator=generator), torch.randn(200, n_keys, d, generator=generator)
        scores = (q @ k.transpose(1, 2)).squeeze(1)  # (200, n_keys): variance d
        unscaled.append(torch.softmax(scores, -1).max(-1).values.mean().item())
        scaled.append(torch.softmax(scores / d ** 0.5, -1).max(-1).values.mean().item())
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(dims, unscaled, "o-", label="softmax(q·k)")
    ax.plot(dims, scaled, "s-", label="softmax(q·k / √d_k)")
    ax.axhline(1 / n_keys, color="gray", ls=":", label=f"uniform (1/{n_keys})")
    ax.set(xscale="log", xlabel="d_k", ylabel="mean largest weight", ylim=(0, 1.05),
           title=f"softmax over {n_keys} keys: saturation without scaling")
    ax.legend(fontsize=8)
    return ax
