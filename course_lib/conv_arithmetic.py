"""Convolution arithmetic: output sizes, kernel positions, covered pixels and parameter counts (lecture 3).

Along one axis, an input of width w_in, zero-padded by p on both sides, is read by a kernel of k taps
spaced d apart (dilation), moved s pixels at a time (stride). The kernel spans d(k - 1) + 1 pixels, so

    w_out = floor((w_in + 2p - d(k - 1) - 1) / s) + 1.

The same formula holds for each axis of a 2-D convolution and of a pooling window.
"""

from __future__ import annotations

import numpy as np
import torch

Pair = int | tuple[int, int]


def _check_int(name: str, value: int, smallest: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < smallest:
        raise ValueError(f"{name} must be an integer >= {smallest}, got {value!r}.")
    return int(value)


def _pair(name: str, value: Pair) -> tuple[int, int]:
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2:
        raise ValueError(f"{name} must be an integer or a pair (height, width), got {value!r}.")
    return pair


def kernel_extent(k: int, d: int = 1) -> int:
    """Pixels a kernel of k taps with dilation d spans: d(k - 1) + 1."""
    return _check_int("dilation d", d, 1) * (_check_int("kernel size k", k, 1) - 1) + 1


def conv_output_size(w_in: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Output width of a convolution (or pooling) along one axis: floor((w_in + 2p - d(k-1) - 1) / s) + 1."""
    w_in, s, p = _check_int("input size w_in", w_in, 1), _check_int("stride s", s, 1), _check_int("padding p", p, 0)
    extent = kernel_extent(k, d)
    if extent > w_in + 2 * p:
        raise ValueError(
            f"The kernel spans {extent} pixels (k={k}, dilation {d}) but the padded input has only "
            f"w_in + 2p = {w_in} + 2*{p} = {w_in + 2 * p}: no position fits, the output would be empty. "
            "Use a smaller kernel or dilation, or more padding."
        )
    return (w_in + 2 * p - extent) // s + 1


def conv_output_shape(
    size: Pair, kernel_size: Pair, stride: Pair = 1, padding: Pair = 0, dilation: Pair = 1
) -> tuple[int, int]:
    """(height, width) of a 2-D convolution's output; each argument is an int or a (height, width) pair."""
    args = [_pair(n, v) for n, v in (("size", size), ("kernel_size", kernel_size), ("stride", stride),
                                      ("padding", padding), ("dilation", dilation))]
    return tuple(conv_output_size(*axis) for axis in zip(*args))  # (height, width)


def torch_output_size(w_in: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """The width torch.nn.Conv2d actually returns for a square input (runs it; for checking the formula)."""
    conv = torch.nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d, bias=False)
    with torch.no_grad():
        return conv(torch.zeros(1, 1, w_in, w_in)).shape[-1]


def kernel_positions(w_in: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> list[int]:
    """Where each placement of the kernel starts, in padded coordinates (0 = first padding pixel)."""
    return [i * s for i in range(conv_output_size(w_in, k, s, p, d))]


def coverage(w_in: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> np.ndarray:
    """How many kernel placements read each pixel of the padded row, shape (w_in + 2p,)."""
    counts = np.zeros(w_in + 2 * p, dtype=int)
    for start in kernel_positions(w_in, k, s, p, d):
        counts[start : start + d * (k - 1) + 1 : d] += 1
    return counts


def uncovered_pixels(w_in: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> list[int]:
    """Input pixels (0-based, padding excluded) that no kernel placement reads: the stride or dilation skips them."""
    counts = coverage(w_in, k, s, p, d)[p : p + w_in]
    return [int(i) for i in np.flatnonzero(counts == 0)]


def conv_param_count(c_in: int, c_out: int, k: Pair, bias: bool = True, groups: int = 1) -> int:
    """Learnable numbers in a Conv2d: c_out * (c_in / groups) * k_h * k_w weights, plus c_out biases."""
    c_in, c_out, groups = _check_int("c_in", c_in, 1), _check_int("c_out", c_out, 1), _check_int("groups", groups, 1)
    if c_in % groups or c_out % groups:
        raise ValueError(f"groups={groups} must divide both c_in={c_in} and c_out={c_out}.")
    k_h, k_w = (_check_int("kernel size", v, 1) for v in _pair("kernel size", k))
    return c_out * (c_in // groups) * k_h * k_w + (c_out if bias else 0)
