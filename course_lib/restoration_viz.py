"""Pictures for lecture 2's colourisation and super-resolution: the same images, one row per version of them."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from course_lib.validation import describe


def show_restorations(rows: dict[str, torch.Tensor], *, captions: dict[str, list[str]] | None = None,
                      size: float = 1.3) -> plt.Figure:
    """One row per entry ('grey input', 'model', 'original', ...), each (n, 1 or 3, h, w) in [0, 1]; a grey row is
    drawn in grey, a colour row in colour. `captions[label]` puts a line under each image of that row."""
    if not rows:
        raise ValueError("rows must name at least one row of images.")
    for label, images in rows.items():
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"rows[{label!r}] must be images (n, 1 or 3, h, w), got {describe(images)}.")
    ncols = max(len(images) for images in rows.values())
    fig, axes = plt.subplots(len(rows), ncols, figsize=(ncols * size, len(rows) * size * 1.15), squeeze=False)
    for (label, images), row in zip(rows.items(), axes):
        pictures = images.detach().cpu().clamp(0, 1).permute(0, 2, 3, 1).numpy()  # (n, h, w, c)
        for i, ax in enumerate(row):
            ax.set_xticks([]), ax.set_yticks([])
            if i >= len(pictures):
                ax.axis("off")
                continue
            ax.imshow(pictures[i].squeeze(-1) if pictures.shape[-1] == 1 else pictures[i], cmap="gray", vmin=0, vmax=1,
                      interpolation="nearest")  # show the pixels as they are: no smoothing by the viewer
            if captions and label in captions:
                ax.set_xlabel(captions[label][i], fontsize=8)
        row[0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    fig.tight_layout()
    return fig
