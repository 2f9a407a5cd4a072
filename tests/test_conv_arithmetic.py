"""Lecture 3's convolution arithmetic, checked against what PyTorch's layers actually do."""

import itertools

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from course_lib.conv_arithmetic import (
    conv_output_shape, conv_output_size, conv_param_count, coverage, kernel_extent, kernel_positions,
    torch_output_size, uncovered_pixels,
)

SETTINGS = list(itertools.product(range(1, 11), range(1, 6), range(1, 5), range(0, 4), range(1, 4)))  # w_in, k, s, p, d


def torch_width(w_in, k, s, p, d):
    """Output width of F.conv2d, or None when PyTorch refuses the setting."""
    try:
        return F.conv2d(torch.zeros(1, 1, 1, w_in), torch.zeros(1, 1, 1, k), stride=s, padding=(0, p), dilation=d).shape[-1]
    except RuntimeError:
        return None


def test_output_size_formula_equals_conv2d_for_every_setting():
    """The lecture's formula, with dilation, for 2400 settings; impossible ones raise a ValueError (PyTorch refuses them too)."""
    checked = 0
    for w_in, k, s, p, d in SETTINGS:
        expected = torch_width(w_in, k, s, p, d)
        if expected is None:
            with pytest.raises(ValueError, match="no position fits"):
                conv_output_size(w_in, k, s, p, d)
        else:
            assert conv_output_size(w_in, k, s, p, d) == expected, (w_in, k, s, p, d)
            checked += 1
    assert checked > 1500


@pytest.mark.parametrize("w_in, k, s, p, d", [(7, 3, 1, 1, 1), (8, 3, 2, 1, 1), (6, 3, 2, 0, 1), (9, 3, 1, 0, 2), (5, 4, 3, 2, 1)])
def test_torch_output_size_runs_conv2d(w_in, k, s, p, d):
    conv = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d)
    assert torch_output_size(w_in, k, s, p, d) == conv(torch.zeros(1, 1, w_in, w_in)).shape[-1] == conv_output_size(w_in, k, s, p, d)


def test_output_shape_of_non_square_settings_equals_conv2d():
    for size, k, s, p, d in [((7, 10), (3, 5), (1, 2), (1, 0), (1, 2)), ((12, 5), 3, 2, 1, 1), ((9, 9), (1, 3), 3, (0, 2), 1)]:
        conv = nn.Conv2d(2, 3, k, stride=s, padding=p, dilation=d)
        assert conv_output_shape(size, k, s, p, d) == tuple(conv(torch.zeros(1, 2, *size)).shape[-2:])
    with pytest.raises(ValueError, match="pair"):
        conv_output_shape((1, 2, 3), 3)


def test_the_classic_cases():
    for w in range(1, 33):
        assert conv_output_size(w, 3, 1, 1) == w  # k=3, s=1, p=1 keeps the size
        assert conv_output_size(w, 5, 1, 2) == w  # so does k=5, p=2: p = (k - 1) / 2
        assert conv_output_size(w, 3, 1, 2, d=2) == w  # and k=3, p=2 with dilation 2
        assert conv_output_size(w, 3, 2, 1) == (w + 1) // 2  # stride 2 halves it (rounding up)
        assert conv_output_size(w, 1) == w
        if w >= 3:
            assert conv_output_size(w, 3) == w - 2  # no padding: lose k - 1
    assert kernel_extent(3, 2) == 5 and kernel_extent(1, 7) == 1


def test_pooling_follows_the_same_formula():
    for w_in, k, s in itertools.product(range(2, 12), range(1, 5), range(1, 4)):
        if k <= w_in:
            out = F.max_pool2d(torch.zeros(1, 1, w_in, w_in), k, s)
            assert out.shape[-1] == conv_output_size(w_in, k, s), (w_in, k, s)


def test_positions_and_uncovered_pixels_match_the_gradient_of_conv2d():
    """A pixel is read by some placement exactly when the output's gradient with respect to it is non-zero."""
    for w_in, k, s, p, d in SETTINGS[::7]:
        if torch_width(w_in, k, s, p, d) is None:
            continue
        x = torch.zeros(1, 1, 1, w_in, requires_grad=True)
        F.conv2d(x, torch.ones(1, 1, 1, k), stride=s, padding=(0, p), dilation=d).sum().backward()
        counts = x.grad[0, 0, 0].round().long().tolist()  # how many placements read each input pixel
        assert coverage(w_in, k, s, p, d)[p : p + w_in].tolist() == counts, (w_in, k, s, p, d)
        assert uncovered_pixels(w_in, k, s, p, d) == [i for i, c in enumerate(counts) if c == 0]
        assert len(kernel_positions(w_in, k, s, p, d)) == conv_output_size(w_in, k, s, p, d)
    assert uncovered_pixels(6, 3, 2, 0) == [5]  # the lecture's picture: stride 2 never reaches the last column
    assert uncovered_pixels(7, 3, 2, 0) == [] and kernel_positions(7, 3, 2, 0) == [0, 2, 4]


@pytest.mark.parametrize("args, message", [
    ((0, 3), "w_in must be an integer >= 1"), ((5, 0), "kernel size k must be"), ((5, 3, 0), "stride s must be"),
    ((5, 3, 1, -1), "padding p must be"), ((5, 3, 1, 0, 0), "dilation d must be"), ((5.5, 3), "w_in"),
    ((4, 5), "kernel spans 5 pixels"), ((5, 3, 1, 0, 3), "no position fits"),
])
def test_impossible_settings_give_clear_errors(args, message):
    with pytest.raises(ValueError, match=message):
        conv_output_size(*args)


@pytest.mark.parametrize("c_in, c_out, k, bias, groups", [
    (1, 16, 3, True, 1), (16, 32, 3, True, 1), (3, 64, 7, False, 1), (8, 8, (1, 5), True, 1), (8, 16, 3, True, 4),
    (4, 4, 3, True, 4),
])
def test_parameter_count_equals_conv2d(c_in, c_out, k, bias, groups):
    conv = nn.Conv2d(c_in, c_out, k, bias=bias, groups=groups)
    assert conv_param_count(c_in, c_out, k, bias, groups) == sum(t.numel() for t in conv.parameters())


def test_parameter_count_rejects_bad_groups():
    with pytest.raises(ValueError, match="groups=3 must divide"):
        conv_param_count(4, 6, 3, groups=3)
