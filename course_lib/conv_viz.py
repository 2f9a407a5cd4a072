"""Pictures for lecture 3: where a kernel lands on a padded input, what the output grid looks like, feature maps."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Rectangle

from course_lib.conv_arithmetic import (
    conv_output_size, coverage, kernel_extent, kernel_positions, torch_output_size, uncovered_pixels,
)

PADDING, INPUT, UNCOVERED = "#d9d9d9", "white", "#f4a6a6"  # cell colours
FIRST, LAST = "tab:blue", "tab:orange"  # the first and the last kernel placement, and their output pixels


def conv_formula(w_in: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> str:
    """The output-size formula with the numbers filled in, e.g. 'w_out = ⌊(7 + 2·1 − 1·(3 − 1) − 1) / 1⌋ + 1 = 7'."""
    filled = f"⌊({w_in} + 2·{p} − {d}·({k} − 1) − 1) / {s}⌋ + 1"
    return f"w_out = ⌊(w_in + 2p − d(k − 1) − 1) / s⌋ + 1 = {filled} = {conv_output_size(w_in, k, s, p, d)}"


def conv_geometry_text(w_in: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> str:
    """Three lines: the formula filled in, the shape torch.nn.Conv2d returns, and the input pixels nothing reads."""
    formula = conv_formula(w_in, k, s, p, d)  # first: a clear ValueError where no output exists
    w_out, missed = torch_output_size(w_in, k, s, p, d), uncovered_pixels(w_in, k, s, p, d)
    missed_text = str(missed) if missed else "none"
    return "\n".join([
        formula,
        f"torch.nn.Conv2d(1, 1, kernel_size={k}, stride={s}, padding={p}, dilation={d}) maps (1, 1, {w_in}, {w_in}) "
        f"to (1, 1, {w_out}, {w_out})",
        f"input rows (and columns) that no kernel placement reads: {missed_text}",
    ])


def _cell(ax: plt.Axes, x: float, y: float, color: str, **kwargs) -> None:
    ax.add_patch(Rectangle((x, y), 1, 1, facecolor=color, edgecolor="black", linewidth=0.5, **kwargs))


def _grid_axes(ax: plt.Axes, width: float, height: float, title: str) -> None:
    ax.set_xlim(-0.1, width + 0.1), ax.set_ylim(height + 0.1, -0.1)  # row 0 at the top, as in an image
    ax.set_aspect("equal"), ax.axis("off"), ax.set_title(title, fontsize=9)


def draw_kernel_positions_1d(w_in: int, k: int, s: int = 1, p: int = 0, d: int = 1,
                             ax: plt.Axes | None = None, room: int = 0) -> plt.Axes:
    """One row of the padded input on top, then one row per kernel placement with its taps filled in.

    `room` reserves space for that many cells, so that several drawings share one scale.
    """
    positions = kernel_positions(w_in, k, s, p, d)  # raises a clear ValueError for impossible settings
    width, missed = w_in + 2 * p, set(uncovered_pixels(w_in, k, s, p, d))
    if ax is None:
        _, ax = plt.subplots(figsize=(0.4 * width + 1, 0.4 * (len(positions) + 1) + 0.6))
    for x in range(width):
        inside = p <= x < p + w_in
        _cell(ax, x, 0, UNCOVERED if x - p in missed else INPUT if inside else PADDING)
        ax.text(x + 0.5, 0.5, str(x - p) if inside else "0", ha="center", va="center", fontsize=7,
                color="black" if inside else "grey")
    for row, start in enumerate(positions, start=1):
        color = FIRST if row == 1 else LAST if row == len(positions) else "tab:green"
        for tap in range(start, start + kernel_extent(k, d), d):
            _cell(ax, tap, row + 0.15, color, alpha=0.8)
        ax.text(-0.3, row + 0.65, f"out {row - 1}", ha="right", va="center", fontsize=7)
    note = f", unread input pixels {sorted(missed)}" if missed else ""
    _grid_axes(ax, max(width, room), len(positions) + 1.2, f"w_in={w_in}, k={k}, s={s}, p={p}, d={d}: "
               f"w_out={len(positions)}{note}")
    return ax


def draw_conv_geometry(w_in: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> plt.Figure:
    """The padded input with the first and last kernel placements and every placement's centre, next to the output grid."""
    w_out = conv_output_size(w_in, k, s, p, d)  # raises a clear ValueError for impossible settings
    width, extent, starts = w_in + 2 * p, kernel_extent(k, d), kernel_positions(w_in, k, s, p, d)
    read = coverage(w_in, k, s, p, d) > 0  # (width,): columns (and rows) some placement reads
    scale = 0.32
    fig, (ax_in, ax_out) = plt.subplots(1, 2, figsize=(scale * (width + w_out) + 2.0, scale * width + 1.6),
                                        gridspec_kw={"width_ratios": [width, max(w_out, 1)]})
    for r in range(width):
        for c in range(width):
            inside = p <= r < p + w_in and p <= c < p + w_in
            _cell(ax_in, c, r, PADDING if not inside else INPUT if read[r] and read[c] else UNCOVERED)
    for (r0, c0), color in (((starts[0], starts[0]), FIRST), ((starts[-1], starts[-1]), LAST)):
        for r in range(r0, r0 + extent, d):
            for c in range(c0, c0 + extent, d):
                _cell(ax_in, c, r, color, alpha=0.55)
        ax_in.add_patch(Rectangle((c0, r0), extent, extent, fill=False, edgecolor=color, linewidth=2))
    centres = np.array(starts) + extent / 2  # the middle of each placement, in cell units
    xx, yy = np.meshgrid(centres, centres)
    ax_in.scatter(xx.ravel(), yy.ravel(), s=6, color="black", zorder=3)
    shape = f"input {w_in}×{w_in}" + (f", padded to {width}×{width}" if p else "")
    _grid_axes(ax_in, width, width, f"{shape} (grey: padding, red: never read)\n"
               f"kernel {k}×{k}, stride {s}, dilation {d}; dots: the {w_out}×{w_out} placements")
    for r in range(w_out):
        for c in range(w_out):
            color = FIRST if (r, c) == (0, 0) else LAST if (r, c) == (w_out - 1, w_out - 1) else INPUT
            _cell(ax_out, c, r, color, alpha=0.8 if color != INPUT else 1.0)
    _grid_axes(ax_out, w_out, width, f"output {w_out}×{w_out}")
    fig.suptitle(conv_geometry_text(w_in, k, s, p, d), fontsize=8, y=0.02, va="bottom", ha="center")
    fig.subplots_adjust(left=0.02, right=0.98, top=0.85, bottom=0.2, wspace=0.15)
    return fig


def show_feature_maps(
    maps: torch.Tensor | Sequence[torch.Tensor | np.ndarray],
    titles: Sequence[str] | None = None,
    *,
    ncols: int = 8,
    size: float = 1.2,
    cmap: str = "viridis",
    shared_scale: bool = True,
    signed: bool = False,
) -> plt.Figure:
    """A grid of 2-D maps (a tensor (n, h, w), or a list of maps of any sizes); signed=True centres red-blue at 0."""
    arrays = [m.detach().cpu().numpy() if isinstance(m, torch.Tensor) else np.asarray(m) for m in maps]
    if not arrays or any(a.ndim != 2 for a in arrays):
        raise ValueError(f"show_feature_maps draws 2-D maps, got shapes {[a.shape for a in arrays]}.")
    low, high = min(a.min() for a in arrays), max(a.max() for a in arrays)
    ncols = min(ncols, len(arrays))
    nrows = -(-len(arrays) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.15), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= len(arrays):
            continue
        lo, hi = (low, high) if shared_scale else (arrays[i].min(), arrays[i].max())
        if signed:
            vmax = float(max(abs(lo), abs(hi))) or 1.0
            ax.imshow(arrays[i], cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        else:
            ax.imshow(arrays[i], cmap=cmap, vmin=float(lo), vmax=float(hi))
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    fig.tight_layout()
    return fig
