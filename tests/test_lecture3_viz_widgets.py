"""Lecture 3's pictures, its geometry widget and the bundled photos."""

import numpy as np
import pytest
import skimage.color
import skimage.data
import skimage.filters
import torch
from torch.nn import functional as F

from course_lib.conv_viz import (
    conv_formula, conv_geometry_text, draw_conv_geometry, draw_kernel_positions_1d, show_feature_maps,
)
from course_lib.data import load_image
from course_lib.viz import figure_pixels
from course_lib.widgets import conv_geometry_explorer


def test_formula_text_is_filled_in():
    assert conv_formula(7, 3, 2, 1) == "w_out = ⌊(w_in + 2p − d(k − 1) − 1) / s⌋ + 1 = ⌊(7 + 2·1 − 1·(3 − 1) − 1) / 2⌋ + 1 = 4"
    text = conv_geometry_text(6, 3, 2, 0)
    assert "maps (1, 1, 6, 6) to (1, 1, 2, 2)" in text and text.endswith("[5]")
    assert conv_geometry_text(7, 3, 1, 1).endswith("none")


def test_geometry_drawing_shows_input_kernel_positions_and_output():
    fig = draw_conv_geometry(7, 3, 2, 1)
    ax_in, ax_out = fig.axes
    assert len(ax_in.collections[0].get_offsets()) == 4 * 4  # one dot per kernel placement
    assert ax_out.get_title() == "output 4×4" and "padded to 9×9" in ax_in.get_title()
    assert "(1, 1, 4, 4)" in fig._suptitle.get_text()
    uncovered = draw_conv_geometry(6, 3, 2, 0)
    assert "[5]" in uncovered._suptitle.get_text()
    assert not np.array_equal(figure_pixels(fig), figure_pixels(draw_conv_geometry(7, 3, 1, 1)))
    with pytest.raises(ValueError, match="no position fits"):
        draw_conv_geometry(3, 5, 1, 0)


def test_positions_1d_draws_one_row_per_placement():
    ax = draw_kernel_positions_1d(8, 3, 2, 0)
    assert "w_out=3" in ax.get_title() and "unread input pixels [7]" in ax.get_title()
    assert len(ax.patches) == 8 + 3 * 3  # the input row, then 3 placements of 3 taps
    dilated = draw_kernel_positions_1d(7, 3, 1, 0, d=2, room=10)
    assert dilated.get_xlim()[1] > 10
    with pytest.raises(ValueError, match="kernel spans 5 pixels"):
        draw_kernel_positions_1d(4, 3, 1, 0, d=2)


def test_show_feature_maps_accepts_tensors_and_ragged_lists():
    fig = show_feature_maps(torch.rand(5, 4, 4), [str(i) for i in range(5)], ncols=3)
    assert len(fig.axes) == 6 and sum(bool(ax.images) for ax in fig.axes) == 5
    fig = show_feature_maps([torch.randn(8, 8), torch.randn(4, 4)], signed=True, shared_scale=False)
    low, high = fig.axes[1].images[0].get_clim()
    assert low == -high
    with pytest.raises(ValueError, match="2-D maps"):
        show_feature_maps(torch.rand(2, 3, 4, 4))


def test_explorer_redraws_and_explains_impossible_settings(monkeypatch):
    shown = []
    monkeypatch.setattr("course_lib.widgets.display", lambda fig: shown.append(fig._suptitle.get_text()))
    explorer = conv_geometry_explorer(w_in=7, k=3, s=2, p=1)
    sliders = {s.description: s for box in explorer.children[:2] for s in box.children}
    readout = explorer.children[2]
    assert len(shown) == 1 and "(1, 1, 4, 4)" in shown[-1] and "(1, 1, 4, 4)" in readout.value  # drawn on creation
    sliders["stride s"].value = 1
    assert len(shown) == 2 and "(1, 1, 7, 7)" in shown[-1] and "(1, 1, 7, 7)" in readout.value
    sliders["dilation d"].value = 2
    assert "(1, 1, 5, 5)" in readout.value
    sliders["padding p"].value = 0
    sliders["input w_in"].value = 4  # a dilated 3x3 kernel spans 5 pixels: no output
    assert len(shown) == 4 and "No output for this setting" in readout.value and "no position fits" in readout.value
    sliders["input w_in"].value = 5  # back to a valid setting: drawn again
    assert len(shown) == 5 and "(1, 1, 1, 1)" in readout.value


def test_load_image_gray_and_rgb():
    camera, astronaut = load_image("camera", gray=True), load_image("astronaut")
    assert camera.shape == (1, 512, 512) and astronaut.shape == (3, 512, 512)
    assert camera.dtype == astronaut.dtype == torch.float32
    assert 0 <= camera.min() and camera.max() <= 1 and 0 <= astronaut.min() and astronaut.max() <= 1
    assert torch.allclose(camera[0], torch.from_numpy(skimage.data.camera() / 255.0).float())
    gray = load_image("astronaut", gray=True)
    assert torch.allclose(gray[0], torch.from_numpy(skimage.color.rgb2gray(skimage.data.astronaut())).float(), atol=1e-6)
    assert torch.equal(load_image("camera")[0], load_image("camera")[2])  # grey as RGB: three equal channels
    with pytest.raises(ValueError, match="Unknown image 'lena'"):
        load_image("lena")


SOBEL_Y = torch.tensor([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]]) / 4  # the lecture's kernels
SOBEL = torch.stack([SOBEL_Y.T, SOBEL_Y])[:, None]  # (2, 1, 3, 3): g_x, g_y


def test_lecture_kernels_match_scikit_image():
    """The lecture's checks: Sobel by F.conv2d equals skimage's in the interior; a 1x1 conv is rgb2gray."""
    camera = load_image("camera", gray=True)
    edges = F.conv2d(camera[None], SOBEL, padding=1)[0]
    reference = torch.stack([torch.from_numpy(skimage.filters.sobel_v(camera[0].numpy())),
                             torch.from_numpy(skimage.filters.sobel_h(camera[0].numpy()))]).float()
    assert torch.allclose(edges[:, 1:-1, 1:-1], reference[:, 1:-1, 1:-1], atol=1e-5)
    to_gray = torch.tensor([0.2125, 0.7154, 0.0721]).reshape(1, 3, 1, 1)
    assert torch.allclose(F.conv2d(load_image("astronaut")[None], to_gray)[0], load_image("astronaut", gray=True), atol=1e-6)


def test_max_pooling_keeps_the_strongest_edge_and_averaging_dilutes_it():
    """Lecture 3, section 7: the printed percentages."""
    camera = load_image("camera", gray=True)[None]
    magnitude = F.conv2d(camera, SOBEL, padding=1).pow(2).sum(1, keepdim=True).sqrt()
    assert F.max_pool2d(magnitude, 4).max() == magnitude.max()
    assert F.avg_pool2d(magnitude, 4).max() < 0.8 * magnitude.max()
