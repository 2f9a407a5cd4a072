"""Interactive explorers. Each callback is a plain function, so CI and tests can call it directly."""

from __future__ import annotations

from typing import Callable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from IPython.display import display

from course_lib.metrics import reconstruction_mse
from course_lib.viz import show_reconstructions

Reconstructor = Callable[[int], torch.Tensor]  # latent size k -> reconstructions (n, n_features), on the CPU


def draw_reconstructions(
    reconstructors: dict[str, Reconstructor], model: str, k: int, originals: torch.Tensor, image_shape: tuple[int, int]
) -> plt.Figure:
    """Originals above the chosen model's reconstructions at latent size k, with its MSE in the label."""
    if model not in reconstructors:
        raise ValueError(f"Unknown model {model!r}: choose one of {sorted(reconstructors)}.")
    with torch.no_grad():
        rebuilt = reconstructors[model](k)
    mse = reconstruction_mse(originals, rebuilt)
    return show_reconstructions({"original": originals, f"{model}\nk={k}\nMSE {mse:.4f}": rebuilt}, image_shape)


def reconstruction_explorer(
    reconstructors: dict[str, Reconstructor], sizes: Sequence[int], originals: torch.Tensor, image_shape: tuple[int, int]
) -> widgets.VBox:
    """A model drop-down and a latent-size slider that redraw `draw_reconstructions`."""
    model = widgets.Dropdown(options=list(reconstructors), description="model")
    k = widgets.SelectionSlider(options=list(sizes), value=sizes[len(sizes) // 2], description="latent k")
    out = widgets.Output()

    def redraw(_change=None) -> None:
        with out:
            out.clear_output(wait=True)
            fig = draw_reconstructions(reconstructors, model.value, k.value, originals, image_shape)
            display(fig)
        plt.close(fig)

    model.observe(redraw, names="value")
    k.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([model, k]), out])
