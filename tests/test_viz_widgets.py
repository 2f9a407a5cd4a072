import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_lib.models import PCA
from course_lib.viz import figure_pixels, plot_codes, show_images, show_reconstructions, show_signed_images
from course_lib.widgets import draw_reconstructions, reconstruction_explorer


def test_show_images_draws_a_grid(digits):
    fig = show_images(digits.x_test[:12], digits.image_shape, ncols=5, titles=[str(i) for i in range(12)])
    assert len(fig.axes) == 15  # 3 rows of 5
    assert sum(bool(ax.images) for ax in fig.axes) == 12


def test_show_reconstructions_one_row_per_model(digits):
    fig = show_reconstructions({"original": digits.x_test[:6], "copy": digits.x_test[:6]}, digits.image_shape)
    assert len(fig.axes) == 12
    assert fig.axes[0].get_ylabel() == "original" and fig.axes[6].get_ylabel() == "copy"


def test_show_signed_images_centres_the_colour_scale_at_zero(digits):
    fig, axes = plt.subplots(1, 3)
    show_signed_images(PCA(3).fit(digits.x_train).components_, digits.image_shape, ["a", "b", "c"], axes)
    low, high = axes[0].images[0].get_clim()
    assert low == -high and high > 0 and axes[2].get_title() == "c"


def test_plot_codes_colours_by_class(digits):
    ax = plot_codes(PCA(2).fit(digits.x_train).transform(digits.x_test), digits.y_test, title="PCA")
    assert len(ax.collections) == 10 and ax.get_title() == "PCA"
    with pytest.raises(ValueError, match="2-D codes"):
        plot_codes(torch.zeros(5, 3), torch.zeros(5, dtype=torch.long))


def pca_reconstructors(digits, originals):
    pca = PCA(64).fit(digits.x_train)
    return {"PCA": lambda k: pca.reconstruct(originals, k)}


def test_draw_reconstructions_changes_with_k(digits):
    originals = digits.x_test[:8]
    reconstructors = pca_reconstructors(digits, originals)
    few = draw_reconstructions(reconstructors, "PCA", 2, originals, digits.image_shape)
    many = draw_reconstructions(reconstructors, "PCA", 32, originals, digits.image_shape)
    assert "k=2" in few.axes[8].get_ylabel() and "k=32" in many.axes[8].get_ylabel()
    assert not np.array_equal(figure_pixels(few), figure_pixels(many))
    with pytest.raises(ValueError, match="Unknown model 'VAE'"):
        draw_reconstructions(reconstructors, "VAE", 2, originals, digits.image_shape)


def test_explorer_redraws_when_the_slider_moves(digits, monkeypatch):
    shown = []
    monkeypatch.setattr("course_lib.widgets.display", lambda fig: shown.append(" ".join(ax.get_ylabel() for ax in fig.axes)))
    originals = digits.x_test[:8]
    explorer = reconstruction_explorer(pca_reconstructors(digits, originals), [2, 8, 32], originals, digits.image_shape)
    dropdown, slider = explorer.children[0].children
    assert dropdown.value == "PCA" and slider.value == 8
    assert len(shown) == 1 and "k=8" in shown[-1]  # drawn once on creation
    slider.value = 32
    assert len(shown) == 2 and "k=32" in shown[-1]
