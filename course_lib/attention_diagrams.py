"""Lecture 4's architecture diagrams, drawn with matplotlib: boxes and arrows, no data.

- `draw_decoder_steps`: one step of Bahdanau's and of Luong's decoder, side by side
- `draw_gnmt`: Google's NMT (Wu et al., 2016), stacked LSTMs with residuals and attention
- `draw_lstmn`: the LSTMN (Cheng et al., 2016), an LSTM attending over its own earlier tokens
- `draw_transformer`: the transformer's encoder and decoder (Vaswani et al., 2017)
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch

RNN, ATTENTION, OUTPUT, INPUT, NORM, FFN = "#dbe9f6", "#fde2c8", "#d9f0d3", "#eeeeee", "#fff6bf", "#eadcf2"


def _box(ax: plt.Axes, x: float, y: float, text: str, width: float, height: float = 0.5,
         colour: str = RNN, fontsize: float = 8.5) -> tuple[float, float, float, float]:
    """A rounded box centred at (x, y); returns its (left, right, bottom, top)."""
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height, boxstyle="round,pad=0.02",
                                facecolor=colour, edgecolor="#555555", lw=0.9))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)
    return x - width / 2, x + width / 2, y - height / 2, y + height / 2


def _arrow(ax: plt.Axes, start: tuple[float, float], end: tuple[float, float], *, colour: str = "#333333",
           rad: float = 0.0, dashed: bool = False, lw: float = 1.2) -> None:
    ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="-|>", color=colour, lw=lw, shrinkA=1,
                                                          shrinkB=1, connectionstyle=f"arc3,rad={rad}",
                                                          linestyle="--" if dashed else "-"))


def _canvas(width: float, height: float, xlim: tuple[float, float], ylim: tuple[float, float], ncols: int = 1):
    fig, axes = plt.subplots(1, ncols, figsize=(width, height), squeeze=False)
    for ax in axes[0]:
        ax.set(xlim=xlim, ylim=ylim)
        ax.axis("off")
    return fig, axes[0]


def draw_decoder_steps() -> plt.Figure:
    """Step t of Bahdanau's decoder (look, then update) next to Luong's (update, look, combine), top to bottom."""
    fig, (left, right) = _canvas(11.5, 4.8, (-3.3, 3.9), (-0.3, 4.9), ncols=2)
    steps = {left: ("Bahdanau et al. (2015): look with the previous state", [
        (r"1. $c_t = \mathrm{attend}(s_{t-1}, H)$", ATTENTION),
        (r"2. $s_t = \mathrm{RNN}([y_{t-1};\, c_t],\ s_{t-1})$", RNN),
        (r"3. predict $y_t$ from $[s_t;\, c_t]$", OUTPUT)]),
        right: ("Luong et al. (2015): look with the current state", [
            (r"1. $h_t = \mathrm{RNN}([y_{t-1};\, \tilde h_{t-1}],\ h_{t-1})$", RNN),
            (r"2. $c_t = \mathrm{attend}(h_t, H)$", ATTENTION),
            (r"3. $\tilde h_t = \tanh(W_c\,[c_t;\, h_t])$", ATTENTION),
            (r"4. predict $y_t$ from $\tilde h_t$", OUTPUT)])}
    for ax, (title, boxes) in steps.items():
        ax.set_title(title, fontsize=10)
        ys = [4.2 - 1.15 * i for i in range(len(boxes))]
        for (text, colour), y in zip(boxes, ys):
            _box(ax, 0, y, text, width=4.4, height=0.62, colour=colour, fontsize=10)
        for y0, y1 in zip(ys, ys[1:]):
            _arrow(ax, (0, y0 - 0.33), (0, y1 + 0.33))
    left.text(-2.85, 4.2, "query:\n$s_{t-1}$", ha="center", va="center", fontsize=9)
    left.text(0, 0.8, "the context is an input of the RNN:\nthe new state $s_t$ has read it",
              ha="center", va="center", fontsize=9, style="italic")
    right.text(-2.85, 3.05, "query:\n$h_t$", ha="center", va="center", fontsize=9)
    _arrow(right, (2.25, 1.9), (2.25, 4.2), colour="#b35900", rad=0.3, dashed=True)
    right.text(3.3, 3.05, r"$\tilde h_t$ into" "\n" r"step $t+1$" "\n(input\nfeeding)", ha="center",
               va="center", fontsize=8.5, color="#b35900")
    right.text(0, 0.1, "the RNN reads $c_t$ only at the next step, through $\\tilde h_t$",
               ha="center", va="center", fontsize=9, style="italic")
    fig.tight_layout()
    return fig


def draw_gnmt(n_layers: int = 8) -> plt.Figure:
    """GNMT: n stacked LSTM layers on each side, the bottom encoder layer bidirectional, residual connections from
    the third layer up, and additive attention from the bottom decoder layer to the top encoder layer."""
    fig, (ax,) = _canvas(9, 0.62 * n_layers + 2.4, (-4.6, 4.6), (-1.2, n_layers + 1.2))
    enc_x, dec_x, width = -2.6, 2.6, 2.2
    _box(ax, enc_x - 0.56, 0, "LSTM →", 1.08, 0.55, colour="#f6d5d5")  # layer 1: two directions, concatenated
    _box(ax, enc_x + 0.56, 0, "← LSTM", 1.08, 0.55, colour="#d9f0d3")
    for layer in range(1, n_layers):
        _box(ax, enc_x, layer, f"LSTM layer {layer + 1}", width, 0.55)
    for layer in range(n_layers):
        _box(ax, dec_x, layer, f"LSTM layer {layer + 1}", width, 0.55)
    for x in (enc_x, dec_x):
        for layer in range(n_layers - 1):
            _arrow(ax, (x, layer + 0.28), (x, layer + 0.72))
        for layer in range(2, n_layers):  # residual: the input of layer l+1 is added to its output
            side = x - width / 2 - 0.1 if x < 0 else x + width / 2 + 0.1
            _arrow(ax, (side, layer - 0.72), (side, layer + 0.05), colour="#2c7fb8", rad=-0.6 if x < 0 else 0.6,
                   lw=1.0)
    ax.text(enc_x, -0.75, "source words", ha="center", va="center", fontsize=9)
    ax.text(dec_x, -0.75, "previous target word", ha="center", va="center", fontsize=9)
    for x in (enc_x, dec_x):
        _arrow(ax, (x, -0.6), (x, -0.3))
    _box(ax, dec_x, n_layers, "softmax", 1.4, 0.5, colour=OUTPUT)
    _arrow(ax, (dec_x, n_layers - 0.72), (dec_x, n_layers - 0.27))
    ax.text(enc_x, n_layers, "encoder", ha="center", va="center", fontsize=11, weight="bold")
    ax.text(dec_x, n_layers + 0.65, "decoder", ha="center", va="center", fontsize=11, weight="bold")
    mid = n_layers / 2 - 0.5
    _box(ax, 0, mid, "additive\nattention", 1.3, 0.9, colour=ATTENTION)
    _arrow(ax, (enc_x + width / 2, n_layers - 1), (-0.5, mid + 0.47), rad=-0.15)
    ax.text(-1.0, n_layers - 1.55, "keys, values:\ntop layer", ha="center", va="center", fontsize=8)
    _arrow(ax, (dec_x - width / 2, 0), (0.2, mid - 0.47), rad=-0.2)
    ax.text(0.75, 0.65, "query:\nbottom layer", ha="center", va="center", fontsize=8)
    for layer in range(1, n_layers):  # the context goes to every decoder layer above the first
        _arrow(ax, (0.67, mid), (dec_x - width / 2, layer), colour="#b35900", lw=0.7)
    ax.text(0.72, mid + 0.62, "context", ha="left", va="bottom", fontsize=8, color="#b35900")
    ax.text(0, -1.1, "blue arcs: residual connections (from the third layer up); one time step shown",
            ha="center", va="center", fontsize=8, color="#2c7fb8")
    fig.tight_layout()
    return fig


def draw_lstmn(words: Sequence[str] = ("The", "FBI", "is", "chasing", "a", "criminal"), current: int = 3
               ) -> plt.Figure:
    """LSTMN: reading word t, the LSTM attends over the memory tape of its own earlier states (intra-attention)."""
    n = len(words)
    if not 0 < current < n:
        raise ValueError(f"current must index a word after the first, 1..{n - 1}, got {current}.")
    fig, (ax,) = _canvas(1.5 * n + 1.4, 3.9, (-1.3, n - 0.4), (-1.0, 2.75))
    t = current + 1  # the papers count words from 1
    for i, word in enumerate(words):
        ax.text(i, -0.7, word, ha="center", va="center", fontsize=10, weight="bold" if i == current else None)
        if i < current:
            _box(ax, i, 0.2, f"$h_{{{i + 1}}}, c_{{{i + 1}}}$", 0.86, 0.5, colour=RNN, fontsize=9)
            _arrow(ax, (i, 0.47), (current - 1.2 + 0.35 * i, 1.63), colour="#b35900", lw=0.9, rad=-0.1)
        elif i == current:
            _box(ax, i, 0.2, "LSTM cell\n" rf"$\to h_{{{t}}}, c_{{{t}}}$", 0.9, 0.62, colour=OUTPUT, fontsize=9)
            _arrow(ax, (i, -0.55), (i, -0.13))
        else:
            _box(ax, i, 0.2, "not read\nyet", 0.86, 0.5, colour="white", fontsize=8)
    ax.text(-0.55, 0.2, "memory\ntape", ha="right", va="center", fontsize=9)
    scores = rf"$s^{{{t}}}_i = \mathrm{{softmax}}_i(v^\top \tanh(W_h h_i + W_x x_{{{t}}} + W_s \tilde h_{{{t - 1}}}))$"
    summary = rf"$\tilde h_{{{t}}}, \tilde c_{{{t}}} = \sum_{{i<{t}}} s^{{{t}}}_i\,(h_i, c_i)$"
    _box(ax, current - 0.4, 2.1, f"{scores}\n{summary}", 3.7, 0.85, colour=ATTENTION, fontsize=10.5)
    _arrow(ax, (current + 0.2, 1.64), (current + 0.2, 0.52), colour="#b35900")
    stand_in = rf"$\tilde h_{{{t}}}, \tilde c_{{{t}}}$ stand in" "\n" rf"for $h_{{{t - 1}}}, c_{{{t - 1}}}$"
    ax.text(current + 0.3, 1.1, stand_in, ha="left", va="center", fontsize=8.5)
    ax.set_title(f"LSTMN reading '{words[current]}' (word {t}): attention over the same sentence's earlier words",
                 fontsize=10)
    fig.tight_layout()
    return fig


def _sublayers(ax: plt.Axes, x: float, y: float, names: Sequence[tuple[str, str]], width: float) -> list[float]:
    """A column of sublayers, each followed by 'add & norm', from y upwards; returns the centres' heights."""
    ys = []
    for name, colour in names:
        _box(ax, x, y, name, width, 0.48, colour=colour, fontsize=8.5)
        _box(ax, x, y + 0.6, "add & norm", width, 0.3, colour=NORM, fontsize=7.5)
        _arrow(ax, (x, y + 0.25), (x, y + 0.44), lw=0.9)
        ax.annotate("", xy=(x + width / 2 + 0.02, y + 0.6), xytext=(x, y - 0.42),  # the residual around it
                    arrowprops=dict(arrowstyle="-|>", color="#2c7fb8", lw=0.9,
                                    connectionstyle=f"angle,angleA=0,angleB=90,rad=4"))
        ys.append(y)
        y += 1.25
        _arrow(ax, (x, y - 0.5), (x, y - 0.25), lw=0.9)
    return ys


def draw_transformer() -> plt.Figure:
    """The transformer of Vaswani et al. (2017): an encoder of N self-attention layers, a decoder of N masked
    self-attention + cross-attention layers, every sublayer wrapped in a residual connection and layer norm."""
    fig, (ax,) = _canvas(9, 6.6, (-5.0, 5.0), (-1.45, 5.6))
    enc_x, dec_x, width = -2.4, 2.4, 2.8
    for x, label in ((enc_x, "source tokens"), (dec_x, "target tokens, shifted right")):
        ax.text(x, -1.25, label, ha="center", va="center", fontsize=9)
        _box(ax, x, -0.55, "embedding + positions", width, 0.48, colour=INPUT)
        _arrow(ax, (x, -1.1), (x, -0.8), lw=0.9)
        _arrow(ax, (x, -0.3), (x, 0.25), lw=0.9)
    enc = _sublayers(ax, enc_x, 0.5, [("multi-head\nself-attention", ATTENTION),
                                      ("feed-forward\n(per position)", FFN)], width)
    dec = _sublayers(ax, dec_x, 0.5, [("masked multi-head\nself-attention", ATTENTION),
                                      ("multi-head\ncross-attention", ATTENTION),
                                      ("feed-forward\n(per position)", FFN)], width)
    for x, ys in ((enc_x, enc), (dec_x, dec)):  # the repeated layer, N times
        top = ys[-1] + 0.85
        ax.add_patch(FancyBboxPatch((x - width / 2 - 0.35, 0.1), width + 0.7, top - 0.1, boxstyle="round,pad=0.05",
                                    facecolor="none", edgecolor="#999999", lw=1.0, ls="--"))
        ax.text(x - width / 2 - 0.5 if x < 0 else x + width / 2 + 0.5, (top + 0.1) / 2, "N ×", ha="center",
                va="center", fontsize=11)
    enc_top = enc[-1] + 0.85
    _arrow(ax, (enc_x, enc_top - 0.1), (enc_x, enc_top + 0.55))
    ax.text(enc_x, enc_top + 0.8, "encoder output: the keys and\nvalues of every decoder layer", ha="center",
            va="center", fontsize=8.5)
    _arrow(ax, (enc_x + 1.45, enc_top + 0.8), (dec_x - width / 2, dec[1]), colour="#b35900", rad=-0.2)
    dec_top = dec[-1] + 0.85
    _box(ax, dec_x, dec_top + 0.45, "linear + softmax", width, 0.45, colour=OUTPUT)
    _arrow(ax, (dec_x, dec_top - 0.1), (dec_x, dec_top + 0.22), lw=0.9)
    ax.text(dec_x, dec_top + 1.05, "next-token probabilities", ha="center", va="center", fontsize=9)
    _arrow(ax, (dec_x, dec_top + 0.68), (dec_x, dec_top + 0.9), lw=0.9)
    ax.text(enc_x, enc_top + 1.45, "encoder", ha="center", va="center", fontsize=12, weight="bold")
    ax.text(dec_x, dec_top + 1.5, "decoder", ha="center", va="center", fontsize=12, weight="bold")
    fig.tight_layout()
    return fig
