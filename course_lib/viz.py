"""Pictures: image grids, reconstructions next to originals, 2-D codes coloured by class."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch


def _as_images(images: torch.Tensor | np.ndarray, image_shape: tuple[int, int] | None) -> np.ndarray:
    array = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    return array.reshape(-1, *image_shape) if image_shape is not None else array


def show_images(
    images: torch.Tensor | np.ndarray,
    image_shape: tuple[int, int] | None = None,
    *,
    ncols: int = 10,
    titles: Sequence[str] | None = None,
    size: float = 1.0,
) -> plt.Figure:
    """A grid of grey images; rows of pixels are reshaped with `image_shape`."""
    images = _as_images(images, image_shape)
    nrows = max(1, -(-len(images) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i], cmap="gray", vmin=0, vmax=1)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    fig.tight_layout()
    return fig


def show_signed_images(
    images: torch.Tensor | np.ndarray,
    image_shape: tuple[int, int],
    titles: Sequence[str],
    axes: Sequence[plt.Axes],
) -> None:
    """Draw signed images (directions in pixel space, e.g. principal components) on one red-blue scale centred at 0."""
    images = _as_images(images, image_shape)
    vmax = np.abs(images).max()
    for ax, image, title in zip(axes, images, titles):
        ax.imshow(image, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        ax.set_title(title, fontsize=8)
        ax.set_xticks([]), ax.set_yticks([])


def show_reconstructions(
    rows: dict[str, torch.Tensor], image_shape: tuple[int, int], *, size: float = 1.0
) -> plt.Figure:
    """One row per entry ('original', 'PCA k=8', ...): the same images, side by side."""
    ncols = len(next(iter(rows.values())))
    fig, axes = plt.subplots(len(rows), ncols, figsize=(ncols * size, len(rows) * size * 1.1), squeeze=False)
    for (label, images), row in zip(rows.items(), axes):
        for ax, image in zip(row, _as_images(images, image_shape)):
            ax.imshow(np.clip(image, 0, 1), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
        row[0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    fig.tight_layout()
    return fig


def plot_codes(
    codes: torch.Tensor, labels: torch.Tensor, *, ax: plt.Axes | None = None, title: str = ""
) -> plt.Axes:
    """Scatter of 2-D codes (n, 2), one colour per class, with a legend."""
    codes = codes.detach().cpu().numpy()
    labels = labels.cpu().numpy()
    if codes.ndim != 2 or codes.shape[1] != 2:
        raise ValueError(f"plot_codes draws 2-D codes, got shape {codes.shape}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    for label in np.unique(labels):
        points = codes[labels == label]
        ax.scatter(points[:, 0], points[:, 1], s=8, alpha=0.7, label=str(label), color=plt.cm.tab10(label % 10))
    ax.set_title(title)
    ax.legend(markerscale=2, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="class")
    return ax


def figure_pixels(fig: plt.Figure) -> np.ndarray:
    """The rendered figure as an RGBA array: lets a test tell two pictures apart."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba()).copy()
