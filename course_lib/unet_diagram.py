"""A drawing of a course U-Net (lecture 6), read from the model itself: its levels, widths and attention blocks.

    fig = draw_unet(sd.unet, size=8, text_shape=(16, 64))

The contracting path runs down the left, the expanding path up the right, the skip connections across; every
ResBlock gets the time embedding (a 't' badge), every cross-attention block the text's tokens (a 'text' badge).
The shape follows Ronneberger et al.'s U-Net (2015), drawn the same way.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import Circle, FancyBboxPatch

from course_lib.models.unet import UNet

RES, ATTN, IO = "#dbe9f6", "#fde2c8", "#eeeeee"
TIME, TEXT = "#2b7bba", "#d95f02"
BOX_W, BOX_H = 2.3, 0.62


def unet_levels(unet: UNet) -> list[tuple[int, bool]]:
    """(channels, has cross-attention) of each level of the contracting path, finest first."""
    if not isinstance(unet, UNet):
        raise TypeError(f"unet must be a course_lib UNet, got {type(unet).__name__}.")
    return [(res.conv2.out_channels, attn is not None) for res, attn in zip(unet.down_res, unet.down_attn)]


def _badge(ax, x: float, y: float, label: str, colour: str) -> None:
    ax.add_patch(Circle((x, y), 0.15, facecolor="white", edgecolor=colour, lw=1.5, zorder=3))
    ax.text(x, y, label, ha="center", va="center", fontsize=6.5, color=colour, weight="bold", zorder=4)


def _block(ax, x: float, y: float, title: str, detail: str, attention: bool, n_res: int = 1) -> None:
    """A ResBlock (+ cross-attention) box centred at (x, y), its badges, and its shape underneath."""
    parts = [("ResBlock", RES)] * n_res
    if attention:
        parts.insert(1, ("cross-attn", ATTN))
    width = BOX_W / len(parts)
    for i, (name, colour) in enumerate(parts):
        left = x - BOX_W / 2 + i * width
        ax.add_patch(FancyBboxPatch((left + 0.02, y - BOX_H / 2), width - 0.04, BOX_H, boxstyle="round,pad=0.02",
                                    facecolor=colour, edgecolor="#555555"))
        ax.text(left + width / 2, y + 0.05, name, ha="center", va="center", fontsize=7.5)
        _badge(ax, left + width / 2, y + BOX_H / 2 + 0.05, "t" if name == "ResBlock" else "text",
               TIME if name == "ResBlock" else TEXT)
    ax.text(x, y - BOX_H / 2 - 0.2, f"{title}: {detail}", ha="center", va="center", fontsize=7.5, color="#333333")


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], label: str = "", style: str = "-|>",
           colour: str = "#333333", offset: tuple[float, float] = (0.0, 0.0)) -> None:
    ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle=style, color=colour, lw=1.3,
                                                           shrinkA=0, shrinkB=0))
    if label:
        ax.text((start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1], label, ha="center",
                va="center", fontsize=7, color=colour)


def draw_unet(unet: UNet, size: int = 8, text_shape: tuple[int, int] | None = None,
              title: str = "") -> plt.Figure:
    """The U-Net's blocks as a U: widths and sizes read from `unet` for an input of size x size pixels/latents."""
    levels = unet_levels(unet)
    depth = len(levels)
    if size % 2 ** (depth - 1):
        raise ValueError(f"size must be divisible by {2 ** (depth - 1)} for {depth} levels, got {size}.")
    time_dim = unet.time_mlp[-1].out_features
    tokens, text_dim = text_shape if text_shape is not None else ("L", unet.context_dim)
    left, right, middle, gap = 2.0, 8.0, 5.0, 1.7
    top = depth * gap + 1.15  # the input and output boxes
    fig, ax = plt.subplots(figsize=(10, 0.62 * (top + 2.4)))
    ax.set(xlim=(-0.3, 10.3), ylim=(-2.2, top + 0.35))
    ax.axis("off")
    row = {level: (depth - level) * gap for level in range(depth)}  # level 0 at the top
    below, above = BOX_H / 2 + 0.38, BOX_H / 2 + 0.25  # arrows leave under a block's label, arrive over its badges
    c_in = unet.in_channels
    for x, label in ((left, f"x_t: {c_in} x {size}x{size}"), (right, f"predicted noise: {c_in} x {size}x{size}")):
        ax.add_patch(FancyBboxPatch((x - 1.1, top - 0.2), 2.2, 0.4, boxstyle="round,pad=0.02", facecolor=IO,
                                    edgecolor="#555555"))
        ax.text(x, top, label, ha="center", va="center", fontsize=8)
    _arrow(ax, (left, top - 0.22), (left, row[0] + above), "3x3 conv", offset=(-0.55, 0))
    _arrow(ax, (right, row[0] + above), (right, top - 0.22), "3x3 conv", offset=(0.55, 0))
    for level, (channels, attention) in enumerate(levels):
        side = size // 2 ** level
        y = row[level]
        _block(ax, left, y, "down", f"{channels} ch, {side}x{side}", attention)
        _block(ax, right, y, "up", f"{channels} ch, {side}x{side}", attention)
        _arrow(ax, (left + BOX_W / 2, y), (right - BOX_W / 2, y), f"skip: concatenate {channels} channels",
               colour="#777777", offset=(0, 0.15))
        if level + 1 < depth:
            _arrow(ax, (left, y - below), (left, row[level + 1] + above),
                   f"stride-2 conv\n{side}x{side} -> {side // 2}x{side // 2}", offset=(-0.9, 0))
            _arrow(ax, (right, row[level + 1] + above), (right, y - below),
                   f"upsample + conv\n{side // 2}x{side // 2} -> {side}x{side}", offset=(0.95, 0))
    for x, name in ((-0.1, "contracting path"), (10.1, "expanding path")):
        ax.text(x, (row[0] + row[depth - 1]) / 2, name, rotation=90, ha="center", va="center", fontsize=9,
                style="italic", color="#555555")
    bottom = size // 2 ** (depth - 1)
    _block(ax, middle, 0, "middle", f"{levels[-1][0]} ch, {bottom}x{bottom}", True, n_res=2)
    _arrow(ax, (left, row[depth - 1] - below), (middle - BOX_W / 2 - 0.05, 0.0))
    _arrow(ax, (middle + BOX_W / 2 + 0.05, 0.0), (right, row[depth - 1] - below))
    _badge(ax, 0.0, -1.2, "t", TIME)
    ax.text(0.3, -1.2, f"step t -> sinusoidal embedding -> MLP -> {time_dim} numbers, projected to each ResBlock's "
            "width and added to every pixel of its feature map", va="center", fontsize=8)
    _badge(ax, 0.0, -1.85, "text", TEXT)
    ax.text(0.3, -1.85, f"the text encoder's {tokens} token states x {text_dim}: keys and values of every "
            "cross-attention block (its queries: the feature map's pixels)", va="center", fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
