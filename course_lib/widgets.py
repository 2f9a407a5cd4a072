"""Interactive explorers. Each callback is a plain function, so CI and tests can call it directly."""

from __future__ import annotations

import html
from typing import Callable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from IPython.display import display

from course_lib.attention_viz import plot_attention
from course_lib.conv_viz import conv_geometry_text, draw_conv_geometry
from course_lib.metrics import psnr, reconstruction_mse
from course_lib.noise import add_noise
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


def live_figure(controls: Sequence[widgets.ValueWidget], draw: Callable[[], plt.Figure | None]) -> widgets.Output:
    """An output area showing draw()'s figure, drawn now and again whenever one of `controls` changes value."""
    out = widgets.Output()

    def redraw(_change=None) -> None:
        with out:
            out.clear_output(wait=True)
            fig = draw()
            if fig is not None:  # None: nothing to draw (the callback says why elsewhere)
                display(fig)
                plt.close(fig)

    for control in controls:
        control.observe(redraw, names="value")
    redraw()
    return out


def reconstruction_explorer(
    reconstructors: dict[str, Reconstructor], sizes: Sequence[int], originals: torch.Tensor, image_shape: tuple[int, int]
) -> widgets.VBox:
    """A model drop-down and a latent-size slider that redraw `draw_reconstructions`."""
    model = widgets.Dropdown(options=list(reconstructors), description="model")
    k = widgets.SelectionSlider(options=list(sizes), value=sizes[len(sizes) // 2], description="latent k")
    out = live_figure([model, k], lambda: draw_reconstructions(reconstructors, model.value, k.value, originals, image_shape))
    return widgets.VBox([widgets.HBox([model, k]), out])


def conv_geometry_explorer(w_in: int = 7, k: int = 3, s: int = 1, p: int = 1, d: int = 1) -> widgets.VBox:
    """Sliders (input size, kernel, stride, padding, dilation) redrawing `draw_conv_geometry` (lecture 3).

    Under the sliders: the formula filled in and the shape torch.nn.Conv2d returns, or, for a setting
    with no output, a message saying why.
    """
    ranges = {"w_in": (w_in, 1, 16, "input w_in"), "k": (k, 1, 7, "kernel k"), "s": (s, 1, 5, "stride s"),
              "p": (p, 0, 4, "padding p"), "d": (d, 1, 3, "dilation d")}
    sliders = {name: widgets.IntSlider(value=value, min=low, max=high, description=label, continuous_update=False)
               for name, (value, low, high, label) in ranges.items()}
    readout = widgets.HTML()

    def draw() -> plt.Figure | None:
        args = [slider.value for slider in sliders.values()]  # w_in, k, s, p, d
        try:
            text, fig = conv_geometry_text(*args), draw_conv_geometry(*args)
        except ValueError as err:
            readout.value = f"<p style='color:#b00020'><b>No output for this setting.</b> {html.escape(str(err))}</p>"
            return None
        readout.value = f"<pre>{html.escape(text)}</pre>"
        return fig

    out = live_figure(list(sliders.values()), draw)
    return widgets.VBox([widgets.HBox(list(sliders.values())[:3]), widgets.HBox(list(sliders.values())[3:]), readout, out])


Denoiser = Callable[[torch.Tensor], torch.Tensor]  # noisy rows (n, n_features) -> denoised rows, on the CPU


def draw_denoising(
    denoisers: dict[str, Denoiser], noise: str, level: float, clean: torch.Tensor, image_shape: tuple[int, int],
    seed: int = 0,
) -> plt.Figure:
    """Noisy, denoised and clean rows for one noise type and level (lecture 2), each row's PSNR in its label."""
    if noise not in denoisers:
        raise ValueError(f"No denoiser for noise {noise!r}: choose one of {sorted(denoisers)}.")
    images = clean.reshape(-1, *image_shape)  # (n, h, w): the block noise needs the image shape
    noisy = add_noise(images, noise, level, torch.Generator().manual_seed(seed)).reshape(clean.shape)
    with torch.no_grad():
        denoised = denoisers[noise](noisy)
    rows = {f"{noise}\n{level:.2f}\n{psnr(clean, noisy):.1f} dB": noisy,
            f"denoised\n{psnr(clean, denoised):.1f} dB": denoised, "clean": clean}
    return show_reconstructions(rows, image_shape)


def denoising_explorer(
    denoisers: dict[str, Denoiser], clean: torch.Tensor, image_shape: tuple[int, int], *,
    level: float = 0.3, max_level: float = 0.6, seed: int = 0,
) -> widgets.VBox:
    """A noise-type drop-down and a noise-level slider that re-run the chosen denoiser and redraw `draw_denoising`."""
    noise = widgets.Dropdown(options=list(denoisers), description="noise")
    slider = widgets.FloatSlider(value=level, min=0.0, max=max_level, step=0.05, description="level",
                                 continuous_update=False)
    out = live_figure([noise, slider], lambda: draw_denoising(denoisers, noise.value, slider.value, clean, image_shape, seed))
    return widgets.VBox([widgets.HBox([noise, slider]), out])


AttentionSource = Callable[[int], tuple[torch.Tensor, Sequence[str], Sequence[str]]]
# example index -> (maps (layers, heads, L_q, L_k), query tokens, key tokens)


def draw_attention_head(source: AttentionSource, example: int, layer: int, head: int) -> plt.Figure:
    """One head's map for one example (lecture 4), tokens on both axes."""
    maps, query_tokens, key_tokens = source(example)
    n_layers, n_heads = maps.shape[:2]
    if not (0 <= layer < n_layers and 0 <= head < n_heads):
        raise ValueError(f"No layer {layer + 1}, head {head + 1}: this model has {n_layers} layers x {n_heads} heads.")
    ax = plot_attention(maps[layer, head], query_tokens, key_tokens, title=f"layer {layer + 1}, head {head + 1}",
                        annotate=len(key_tokens) <= 12)
    return ax.figure


def attention_explorer(source: AttentionSource, n_examples: int, n_layers: int, n_heads: int,
                       labels: Sequence[str] | None = None) -> widgets.VBox:
    """Pick an example (sentence), a layer and a head; the map is redrawn (lecture 4)."""
    options = list(zip(labels, range(n_examples))) if labels is not None else list(range(n_examples))
    example = widgets.Dropdown(options=options, value=0, description="example")
    layer = widgets.IntSlider(value=1, min=1, max=n_layers, description="layer", continuous_update=False)
    head = widgets.IntSlider(value=1, min=1, max=n_heads, description="head", continuous_update=False)
    out = live_figure([example, layer, head],
                      lambda: draw_attention_head(source, example.value, layer.value - 1, head.value - 1))
    return widgets.VBox([widgets.HBox([example, layer, head]), out])


def draw_trajectory_step(frames: Sequence[torch.Tensor], step: int, labels: Sequence[str] | None = None,
                         titles: Sequence[str] | None = None) -> plt.Figure:
    """One frame of a sampling trajectory (lecture 6): frames[step] (N, 3, H, W) in [0, 1] as a row of images."""
    if not 0 <= step < len(frames):
        raise ValueError(f"No step {step}: the trajectory has steps 0..{len(frames) - 1}.")
    images = frames[step].clamp(0, 1)
    fig, axes = plt.subplots(1, len(images), figsize=(1.6 * len(images), 1.9), squeeze=False)
    for i, (ax, image) in enumerate(zip(axes[0], images)):
        ax.imshow(image.permute(1, 2, 0).numpy())
        ax.axis("off")
        if titles is not None:
            ax.set_title(titles[i], fontsize=7)
    fig.suptitle(labels[step] if labels is not None else f"step {step}", fontsize=9)
    fig.tight_layout()
    return fig


def trajectory_explorer(frames: Sequence[torch.Tensor], labels: Sequence[str] | None = None,
                        titles: Sequence[str] | None = None) -> widgets.VBox:
    """A slider that scrubs through the frames of a reverse-diffusion trajectory (noise -> image)."""
    step = widgets.IntSlider(value=len(frames) - 1, min=0, max=len(frames) - 1, description="step",
                             continuous_update=False)
    out = live_figure([step], lambda: draw_trajectory_step(frames, step.value, labels, titles))
    return widgets.VBox([step, out])
