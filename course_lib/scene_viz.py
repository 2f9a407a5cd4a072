"""Pictures of captioned scenes (lectures 4-6), and of where lecture 4's visual attention model looks."""

from __future__ import annotations

import textwrap
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.nn import functional as F

from course_lib.data.shapes import Scene
from course_lib.models.visual_attention import VisualAttention


def _rgb(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) tensor -> (H, W, 3) array for imshow."""
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"Expected an RGB image (3, H, W), got shape {tuple(image.shape)}.")
    return image.detach().cpu().permute(1, 2, 0).clamp(0, 1).numpy()


def show_scenes(images: torch.Tensor, captions: Sequence[str] | None = None, ncols: int = 6,
                *, size: float = 1.6) -> plt.Figure:
    """A grid of RGB scenes (N, 3, H, W), each with its caption (wrapped) as the title."""
    if captions is not None and len(captions) != len(images):
        raise ValueError(f"Got {len(images)} images but {len(captions)} captions.")
    ncols = max(1, min(ncols, len(images)))
    nrows = max(1, -(-len(images) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.3), squeeze=False,
                             layout="constrained")  # leaves room for captions of up to three lines
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(_rgb(images[i]))
            if captions is not None:
                ax.set_title(textwrap.fill(captions[i], 20), fontsize=7)
    return fig


def upsample_attention(weights: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Attention over regions (h, w) -> a smooth map (H, W) the size of the image (bilinear)."""
    if weights.ndim != 2:
        raise ValueError(f"Expected attention weights over a grid of regions (h, w), got shape {tuple(weights.shape)}.")
    grid = weights.detach().cpu().float()[None, None]  # (1, 1, h, w): interpolate wants a batch and channels
    return F.interpolate(grid, size=size, mode="bilinear", align_corners=False)[0, 0]


def overlay_attention(image: torch.Tensor, weights: torch.Tensor, ax: plt.Axes | None = None, title: str = "",
                      *, alpha: float = 0.6) -> plt.Axes:
    """The image (3, H, W) with the attention weights (h, w), upsampled to its size, drawn over it (bright = more)."""
    picture = _rgb(image)
    heat = upsample_attention(weights, picture.shape[:2]).numpy()  # (H, W)
    if ax is None:
        _, ax = plt.subplots(figsize=(3, 3))
    ax.imshow(picture)
    ax.imshow(heat, cmap="inferno", alpha=alpha, vmin=0.0, vmax=max(float(heat.max()), 1e-12))
    ax.set_title(title, fontsize=8)
    ax.axis("off")
    return ax


@torch.no_grad()
def show_where_it_looks(model: VisualAttention, scene: Scene, *, size: float = 2.2) -> plt.Figure:
    """The scene, then for each colour word in it: where the model attends, and the shape it answers."""
    model.eval()
    device = next(model.parameters()).device
    words = [o.colour for o in scene.objects]
    images = scene.image[None].expand(len(words), -1, -1, -1).to(device)  # (k, 3, H, W): one question per object
    logits, weights = model.attend(images, model.word_ids(words).to(device))  # (k, n_classes), (k, h, w)
    probs = logits.softmax(1).cpu()
    fig, axes = plt.subplots(1, len(words) + 1, figsize=((len(words) + 1) * size, size * 1.4), layout="constrained")
    axes[0].imshow(_rgb(scene.image))
    axes[0].set_title(textwrap.fill(scene.caption, 26), fontsize=8)
    axes[0].axis("off")
    for ax, word, p, w in zip(axes[1:], words, probs, weights.cpu()):
        answer = model.classes[int(p.argmax())]
        overlay_attention(scene.image, w, ax, f"which shape is {word}?\n{answer} (p = {p.max():.2f})")
    return fig
