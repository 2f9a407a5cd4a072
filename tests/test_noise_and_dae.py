"""course_lib for lecture 2: noise models, the convolutional autoencoder, the denoising loss, recipes and the widget."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.metrics import psnr
from course_lib.models import ConvAutoencoder
from course_lib.noise import (
    NOISES, add_noise, block_noise, denoising_loss, denoising_psnr, gaussian_noise, salt_and_pepper_noise,
)
from course_lib.train import train
from course_lib.viz import figure_pixels
from course_lib.widgets import denoising_explorer, draw_denoising
from course_lib.recipes import DenoiserRecipe, Source


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def grey(n=200, h=20, w=20):
    return torch.full((n, h, w), 0.5)  # every corruption shows on a mid-grey image


# ---- noise models ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(NOISES))
@pytest.mark.parametrize("shape", [(7, 64), (7, 8, 8), (3, 5, 9)])
def test_noise_keeps_shape_range_and_input(kind, shape):
    x = torch.rand(shape, generator=gen(1))
    kept = x.clone()
    noisy = add_noise(x, kind, 0.3, gen())
    assert noisy.shape == x.shape and noisy.dtype == x.dtype
    assert noisy.min() >= 0 and noisy.max() <= 1
    assert torch.equal(x, kept), "the clean input must not be modified"
    assert not torch.equal(noisy, x)


@pytest.mark.parametrize("kind", sorted(NOISES))
def test_noise_is_reproducible_for_a_seed_and_ignores_the_global_rng(kind):
    x = torch.rand(20, 64, generator=gen(1))
    torch.manual_seed(123)
    a = add_noise(x, kind, 0.3, gen(5))
    torch.manual_seed(456)
    b = add_noise(x, kind, 0.3, gen(5))
    assert torch.equal(a, b)
    assert not torch.equal(a, add_noise(x, kind, 0.3, gen(6)))


@pytest.mark.parametrize("kind", sorted(NOISES))
def test_level_zero_changes_nothing(kind):
    x = torch.rand(10, 64, generator=gen(1))
    assert torch.equal(add_noise(x, kind, 0.0, gen()), x)


def test_gaussian_noise_matches_its_formula():
    x = torch.rand(30, 64, generator=gen(1))
    expected = (x + 0.2 * torch.randn(x.shape, generator=gen(3))).clamp(0, 1)
    assert torch.equal(gaussian_noise(x, 0.2, gen(3)), expected)
    noisy = gaussian_noise(grey(), 1.0, gen())  # sigma = 1: about Phi(-0.5) of the pixels clip to 0
    expected_zeros = torch.distributions.Normal(0.0, 1.0).cdf(torch.tensor(-0.5)).item()
    assert abs((noisy == 0).double().mean().item() - expected_zeros) < 0.01
    small = gaussian_noise(grey(), 0.05, gen()) - 0.5  # no clipping at all: the noise's std is sigma
    assert abs(small.std().item() - 0.05) < 0.002 and abs(small.mean().item()) < 0.002


@pytest.mark.parametrize("level", [0.05, 0.3, 0.8])
def test_salt_and_pepper_hits_the_right_fraction_half_white(level):
    x = grey()
    noisy = salt_and_pepper_noise(x, level, gen())
    hit = noisy != x
    assert abs(hit.double().mean().item() - level) < 0.01
    assert abs((noisy[hit] == 1).double().mean().item() - 0.5) < 0.03
    assert set(noisy[hit].unique().tolist()) <= {0.0, 1.0}


def test_block_noise_paints_one_rectangle_of_the_right_size_anywhere():
    x = grey(n=400, h=10, w=12)
    noisy = block_noise(x, 0.25, gen(), value=1.0)  # sides round(0.5 * 10) = 5 and round(0.5 * 12) = 6
    painted = noisy == 1.0  # (n, h, w)
    assert (painted.sum(dim=(1, 2)) == 30).all()
    rows, cols = painted.any(dim=2), painted.any(dim=1)  # (n, h), (n, w): rows and columns the block touches
    assert (rows.sum(1) == 5).all() and (cols.sum(1) == 6).all()  # 30 pixels in a 5 x 6 box: a solid rectangle
    tops, lefts = rows.float().argmax(1), cols.float().argmax(1)
    assert set(tops.tolist()) == set(range(10 - 5 + 1)) and set(lefts.tolist()) == set(range(12 - 6 + 1)), \
        "every position where the block fits, edges included, should occur"
    assert torch.equal(noisy[~painted], x[~painted])


def test_block_noise_reads_rows_as_square_images_or_asks_for_the_shape():
    x = torch.rand(4, 6 * 4, generator=gen())
    with pytest.raises(ValueError, match="not square"):
        block_noise(x, 0.3, gen())
    with pytest.raises(ValueError, match="does not match"):
        block_noise(x, 0.3, gen(), image_shape=(5, 5))
    rows = block_noise(x, 0.3, gen(2), image_shape=(6, 4))
    images = block_noise(x.reshape(4, 6, 4), 0.3, gen(2))
    assert torch.equal(rows.reshape(4, 6, 4), images)


def test_noise_errors_are_clear():
    x = torch.rand(4, 64)
    with pytest.raises(ValueError, match="Unknown noise 'speckle'.*gaussian"):
        add_noise(x, "speckle", 0.1)
    with pytest.raises(ValueError, match="Unknown noise"):
        denoising_loss("speckle", 0.1)
    with pytest.raises(ValueError, match="between 0 and 1"):
        salt_and_pepper_noise(x, 1.5)
    with pytest.raises(ValueError, match=r"gaussian_noise: the noise level must be at least 0, got -0.1\.$"):
        gaussian_noise(x, -0.1)  # regression: the message read 'must be between 0, got -0.1'
    with pytest.raises(ValueError, match="must be between 0 and 1, got -0.1"):
        salt_and_pepper_noise(x, -0.1)
    with pytest.raises(ValueError, match=r"\(n, h\*w\)"):
        gaussian_noise(torch.rand(64), 0.1)
    with pytest.raises(ValueError, match="float"):
        gaussian_noise(torch.ones(2, 4, dtype=torch.long), 0.1)


# ---- the model, the loss, the recipes -----------------------------------------------------------

@pytest.mark.parametrize("shape", [(8, 8), (25, 25), (7, 10)])
def test_conv_autoencoder_takes_rows_and_returns_pixels_of_the_same_shape(shape):
    model = ConvAutoencoder(shape)
    x = torch.rand(3, shape[0] * shape[1])
    out = model(x)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert model.encode(x).shape == (3, model.latent_dim)
    assert torch.equal(model.decode(model.encode(x)), out)


def test_conv_autoencoder_bottleneck_and_errors():
    model = ConvAutoencoder((8, 8), channels=(8,), latent_dim=5)
    assert model.encode(torch.rand(2, 64)).shape == (2, 5) and model(torch.rand(2, 64)).shape == (2, 64)
    assert ConvAutoencoder((8, 8)).latent_dim == 32 * 2 * 2  # no bottleneck: the last feature map is the code
    with pytest.raises(ValueError, match=r"expects rows \(batch, 64\)"):
        model(torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match="image_shape"):
        ConvAutoencoder((8,))
    with pytest.raises(ValueError, match="channels"):
        ConvAutoencoder((8, 8), channels=())


def test_denoising_loss_targets_the_clean_batch():
    clean = torch.rand(16, 64, generator=gen(1))
    noisy = gaussian_noise(clean, 0.3, gen(7))  # the loss's generator, seeded 7, draws this first
    loss = denoising_loss("gaussian", 0.3, seed=7)(nn.Identity(), clean)
    assert torch.isclose(loss, nn.functional.mse_loss(noisy, clean))
    assert loss > 0, "the identity is not a perfect denoiser"
    second = denoising_loss("gaussian", 0.3, seed=7)
    assert second(nn.Identity(), clean) != second(nn.Identity(), clean)  # fresh noise at every step


def test_denoising_training_is_reproducible(digits):
    def run():
        torch.manual_seed(0)
        model = ConvAutoencoder(digits.image_shape, channels=(4, 8))
        return train(model, digits.x_train[:128], denoising_loss("salt_and_pepper", 0.2, seed=3), epochs=2,
                     batch_size=32, progress=False)
    first = run()
    assert first == run() and first[-1] < first[0]


def test_denoising_psnr_of_doing_nothing_is_the_noisy_psnr(digits):
    clean = digits.x_test[:50]
    expected = psnr(clean, add_noise(clean, "gaussian", 0.2, gen(4)))
    assert denoising_psnr(lambda noisy: noisy, clean, "gaussian", 0.2, seed=4) == expected
    assert denoising_psnr(lambda noisy: clean, clean, "block", 0.2) == math.inf


def test_denoiser_recipe_trains_then_loads(digits, tmp_store, tmp_path):
    recipe = DenoiserRecipe("block", 0.25, epochs=1, channels=(4, 8))
    first, again = tmp_store.load(recipe), tmp_store.load(recipe)
    assert first.source == Source.TRAINED and again.source == Source.CACHED
    assert [p.name for p in tmp_path.iterdir()] == [recipe.filename]
    assert recipe.filename.startswith("digits_conv_dae_block_0.25-")
    x = digits.x_test[:5]
    assert torch.equal(first.model.reconstruct(x), again.model.reconstruct(x)) and again.history == first.history
    plain = tmp_store.load(DenoiserRecipe("none", epochs=1, channels=(4, 8)))
    assert plain.source == Source.TRAINED and len(list(tmp_path.glob("digits_conv_ae-*.safetensors"))) == 1
    with pytest.raises(ValueError, match="Unknown noise 'speckle'"):
        DenoiserRecipe("speckle")


# ---- the widget ---------------------------------------------------------------------------------

def identity_denoisers():
    return {kind: (lambda noisy: noisy) for kind in NOISES}


def test_draw_denoising_changes_with_level_and_noise(digits):
    clean = digits.x_test[:6]
    low = draw_denoising(identity_denoisers(), "gaussian", 0.1, clean, digits.image_shape)
    high = draw_denoising(identity_denoisers(), "gaussian", 0.5, clean, digits.image_shape)
    block = draw_denoising(identity_denoisers(), "block", 0.5, clean, digits.image_shape)
    labels = [low.axes[i].get_ylabel() for i in (0, 6, 12)]  # the first image of each row carries its label
    assert "0.10" in labels[0] and "dB" in labels[1] and labels[2] == "clean"
    assert not np.array_equal(figure_pixels(low), figure_pixels(high))
    assert not np.array_equal(figure_pixels(high), figure_pixels(block))
    with pytest.raises(ValueError, match="No denoiser for noise 'speckle'"):
        draw_denoising(identity_denoisers(), "speckle", 0.1, clean, digits.image_shape)


def test_denoising_explorer_reruns_the_model_when_slider_or_dropdown_move(digits, monkeypatch):
    shown, calls = [], []
    monkeypatch.setattr("course_lib.widgets.display", lambda fig: shown.append(figure_pixels(fig)))
    denoisers = {kind: (lambda noisy, kind=kind: calls.append(kind) or noisy.clamp(0.2, 0.8)) for kind in NOISES}
    explorer = denoising_explorer(denoisers, digits.x_test[:6], digits.image_shape, level=0.3)
    dropdown, slider = explorer.children[0].children
    assert dropdown.value == "gaussian" and slider.value == 0.3 and len(shown) == 1 and calls == ["gaussian"]
    slider.value = 0.55
    assert len(shown) == 2 and not np.array_equal(shown[0], shown[1])
    dropdown.value = "block"
    assert len(shown) == 3 and calls[-1] == "block" and not np.array_equal(shown[1], shown[2])
