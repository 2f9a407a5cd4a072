"""Lecture 2's colourisation and super-resolution pieces: the photos, the damages and baselines, the two networks."""

import numpy as np
import pytest
import skimage.color
import skimage.transform
import torch
from torch import nn

from course_lib.data.photos import PHOTOS, held_out, load_photos, photo
from course_lib.models import Colouriser, SuperResolver
from course_lib.restoration import (bicubic, mean_chroma, mirrored, restoration_loss, rgb_to_yuv, shrink, to_grey,
                                    with_chroma, yuv_to_rgb)
from course_lib.restoration_viz import show_restorations


@pytest.fixture(scope="module")
def photos():
    return load_photos()


def random_images(n=3, channels=3, size=8, seed=0):
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed))


def test_yuv_matches_scikit_image_and_grey_is_the_luma():
    rgb = random_images()
    as_skimage = lambda f, x: torch.from_numpy(f(x.permute(0, 2, 3, 1).numpy())).permute(0, 3, 1, 2).float()  # noqa: E731
    assert torch.allclose(rgb_to_yuv(rgb), as_skimage(skimage.color.rgb2yuv, rgb), atol=1e-6)
    yuv = rgb_to_yuv(rgb)
    assert torch.allclose(yuv_to_rgb(yuv), as_skimage(skimage.color.yuv2rgb, yuv), atol=1e-6)
    assert torch.allclose(yuv_to_rgb(yuv), rgb, atol=1e-5)
    grey = to_grey(rgb)  # (3, 1, 8, 8)
    assert grey.shape == (3, 1, 8, 8)
    assert torch.allclose(grey[:, 0], 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2], atol=1e-6)
    no_colour = with_chroma(grey, torch.zeros(2))  # U = V = 0: R = G = B = Y
    assert torch.allclose(no_colour, grey.expand(-1, 3, -1, -1).clamp(0, 1), atol=1e-6)
    mean = mean_chroma(rgb)
    assert mean.shape == (2,) and torch.allclose(mean, yuv[:, 1:].mean(dim=(0, 2, 3)))
    assert torch.allclose(with_chroma(grey, yuv[:, 1:], clip=False), rgb, atol=1e-5)  # luma + its own chroma = rgb
    with pytest.raises(ValueError, match=r"rgb must be images \(n, 3, height, width\), got shape \(3, 8, 8\)"):
        rgb_to_yuv(rgb[:, 0])
    with pytest.raises(ValueError, match="grey must be images"):
        with_chroma(rgb, torch.zeros(2))


def test_shrink_is_the_block_mean_and_bicubic_enlarges_back():
    rgb = random_images(size=8)
    small = shrink(rgb)  # (3, 3, 4, 4)
    expected = skimage.transform.downscale_local_mean(rgb.numpy(), (1, 1, 2, 2))
    assert small.shape == (3, 3, 4, 4) and np.allclose(small.numpy(), expected, atol=1e-6)
    assert shrink(rgb, 4).shape == (3, 3, 2, 2)
    large = bicubic(small)
    assert large.shape == rgb.shape and 0 <= large.min() and large.max() <= 1
    assert torch.allclose(bicubic(torch.full((1, 3, 4, 4), 0.3)), torch.full((1, 3, 8, 8), 0.3), atol=1e-6)
    with pytest.raises(ValueError, match="divisible by 2"):
        shrink(random_images(size=7))
    with pytest.raises(ValueError, match="factor must be a positive integer"):
        shrink(rgb, 0)
    with pytest.raises(ValueError, match="small must be images"):
        bicubic(rgb[0])


def test_mirrored_adds_the_mirror_images_or_all_eight_symmetries():
    x = random_images(n=2, size=6)
    two = mirrored(x)
    assert two.shape == (4, 3, 6, 6) and torch.equal(two[2:], x.flip(-1))
    eight = mirrored(x, rotations=True)
    assert eight.shape == (16, 3, 6, 6)
    first = eight[0::2]  # the 8 versions of the first image
    assert len({tuple(v.flatten().tolist()) for v in first}) == 8  # all different
    assert any(torch.equal(v, torch.rot90(x[0], 1, (-2, -1))) for v in first)  # a quarter turn among them
    with pytest.raises(ValueError, match="rotations need square images"):
        mirrored(torch.rand(1, 3, 4, 6), rotations=True)
    with pytest.raises(ValueError, match="x must be images"):
        mirrored(torch.rand(3, 4, 4))


def test_the_restoration_loss_scores_the_repair_against_the_clean_image():
    clean = random_images()
    loss = restoration_loss(to_grey)
    assert loss(lambda grey: clean, clean).item() == 0.0  # a perfect repair costs nothing
    copy_the_input = lambda grey: grey.expand(-1, 3, -1, -1)  # noqa: E731
    assert torch.isclose(loss(copy_the_input, clean), nn.functional.mse_loss(copy_the_input(to_grey(clean)), clean))


def test_the_untrained_networks_are_the_trivial_answers_and_keep_the_shapes():
    torch.manual_seed(0)
    rgb = random_images(n=2, size=16)
    grey = to_grey(rgb)
    colouriser = Colouriser()
    assert torch.allclose(colouriser(grey), grey.expand(-1, 3, -1, -1), atol=1e-6)  # last layer zero: grey photo
    nn.init.normal_(colouriser.head.weight)  # any weights: the luma stays the input's own
    assert torch.allclose(to_grey(colouriser(grey)), grey, atol=1e-5)
    assert colouriser.colourise(grey).shape == (2, 3, 16, 16) and colouriser(to_grey(random_images(1, size=10))).shape \
        == (1, 3, 10, 10)  # sizes that do not halve evenly too
    small = shrink(rgb)
    upscaler = SuperResolver()
    assert torch.allclose(upscaler(small), bicubic(small, clip=False))  # last layer zero: bicubic
    assert upscaler.upscale(small).shape == (2, 3, 16, 16) and SuperResolver(factor=3)(small).shape == (2, 3, 24, 24)
    with pytest.raises(ValueError, match=r"grey must be images \(n, 1, height, width\), got shape \(2, 3, 16, 16\)"):
        colouriser(rgb)
    with pytest.raises(ValueError, match="small must be images"):
        upscaler(grey)
    with pytest.raises(ValueError, match="channels must be a non-empty tuple"):
        Colouriser(())
    with pytest.raises(ValueError, match="layers must be an integer of at least 2"):
        SuperResolver(layers=1)


def test_the_photos_hold_out_a_fifth_of_the_tiles_that_no_training_patch_touches(photos, monkeypatch):
    assert photos.train.shape == (608, 3, 32, 32) and photos.test.shape == (58, 3, 32, 32)  # as the docs say
    assert photos.train.dtype == torch.float32 and 0 <= photos.train.min() and photos.train.max() <= 1
    assert set(photos.test_photo) == set(PHOTOS) and len(photos.test_photo) == len(photos.test)
    image = photo("coffee")  # (200, 300, 3): shrunk 2x from 400 x 600
    assert image.shape == (200, 300, 3)
    mask = held_out(*image.shape[:2], 32)
    grid = mask[: 200 // 32 * 32 : 32, : 300 // 32 * 32 : 32]  # one value per whole tile
    assert 0.18 < grid.mean() < 0.22 and grid.any(axis=0).all() and grid.any(axis=1).all()  # a fifth, everywhere
    # photos whose held-out pixels are 1 and the others 0: test tiles are all 1, training patches all 0
    marked = lambda name, shrink=2: np.repeat(held_out(200, 300, 32)[..., None], 3, -1).astype(np.float32)  # noqa: E731
    monkeypatch.setattr("course_lib.data.photos.photo", marked)
    split = load_photos()
    assert split.test.min() == 1 and split.train.max() == 0 and len(split.train) > 4 * len(split.test)
    with pytest.raises(ValueError, match="Unknown photo 'lena'"):
        photo("lena")
    with pytest.raises(ValueError, match="size=200 is too large"):
        load_photos(size=200)


def test_show_restorations_draws_one_row_per_version():
    rgb = random_images(n=4)
    fig = show_restorations({"grey": to_grey(rgb), "original": rgb}, captions={"original": ["a", "b", "c", "d"]})
    assert len(fig.axes) == 8 and fig.axes[4].get_xlabel() == "a" and fig.axes[0].get_ylabel() == "grey"
    with pytest.raises(ValueError, match=r"rows\['bad'\] must be images"):
        show_restorations({"bad": rgb[0]})
