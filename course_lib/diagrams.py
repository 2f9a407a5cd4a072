"""Block diagrams drawn with matplotlib: boxes joined by arrows, one pipeline per row (lecture 5's links forward)."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch

BOX_COLOURS = ("#dbe9f6", "#fde2c8", "#d9f0d3", "#eadcf2", "#f6d5d5")


def draw_pipelines(pipelines: dict[str, Sequence[str]], *, width: float = 12.0, row_height: float = 1.3,
                   title: str = "") -> plt.Figure:
    """One row per pipeline: its name on the left, then its stages as boxes joined left to right by arrows."""
    if not pipelines or any(len(stages) == 0 for stages in pipelines.values()):
        raise ValueError("Every pipeline needs at least one stage.")
    n_cols = max(len(stages) for stages in pipelines.values())
    fig, ax = plt.subplots(figsize=(width, row_height * len(pipelines) + 0.4))
    ax.set(xlim=(-1.6, n_cols), ylim=(-len(pipelines) + 0.3, 0.7))
    ax.axis("off")
    for row, (name, stages) in enumerate(pipelines.items()):
        y = -row
        ax.text(-1.5, y, name, ha="left", va="center", fontsize=10, weight="bold")
        for col, stage in enumerate(stages):
            ax.add_patch(FancyBboxPatch((col + 0.05, y - 0.3), 0.78, 0.6, boxstyle="round,pad=0.02",
                                        facecolor=BOX_COLOURS[col % len(BOX_COLOURS)], edgecolor="#555555"))
            ax.text(col + 0.44, y, stage, ha="center", va="center", fontsize=8.5, wrap=True)
            if col:
                ax.annotate("", xy=(col + 0.04, y), xytext=(col - 0.16, y),
                            arrowprops=dict(arrowstyle="->", color="#333333", lw=1.4))
    if title:
        ax.set_title(title)
    return fig
