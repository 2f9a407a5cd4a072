"""LLaVA-NeXT's AnyRes tiling (course_lib.anyres): the grid it picks, the tiles, the global view, the token counts."""

import itertools
from types import SimpleNamespace

import pytest
import torch
from torch.nn import functional as F

from course_lib.anyres import (LLAVA_NEXT_RESOLUTIONS, MINI_RESOLUTIONS, anyres_views, fitted_size, join_tiles,
                               mosaic_views, resize_and_pad, select_best_resolution, split_tiles, token_count)

SIZES = [(h, w) for h, w in itertools.product((100, 224, 336, 480, 672, 1000, 1344, 2000), repeat=2)]


def test_the_three_llava_next_resolutions_hold_four_times_the_pixels_and_2880_tokens():
    for resolution in LLAVA_NEXT_RESOLUTIONS:
        assert resolution[0] * resolution[1] == 4 * 336 * 336
        assert select_best_resolution(resolution, LLAVA_NEXT_RESOLUTIONS) == resolution
        assert token_count(resolution) == 2880 == 5 * (336 // 14) ** 2  # 1 global view + 4 tiles of 576
    # packed: + one newline token per row of the tiled patch grid (48, 24, 96 rows); no padding to drop
    assert [token_count(r, packed=True) for r in LLAVA_NEXT_RESOLUTIONS] == [2880 + 48, 2880 + 24, 2880 + 96]


def test_the_best_resolution_is_transformers_choice():
    from_transformers = pytest.importorskip("transformers.image_processing_utils").select_best_resolution
    grids = [list(LLAVA_NEXT_RESOLUTIONS), [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]]
    for size, resolutions in itertools.product(SIZES, grids):
        assert select_best_resolution(size, resolutions) == tuple(from_transformers(size, resolutions)), size


def test_packed_counts_are_the_llava_next_processors():
    processing = pytest.importorskip("transformers.models.llava_next.processing_llava_next")
    cls = processing.LlavaNextProcessor
    for size in SIZES:
        fake = SimpleNamespace(image_processor=SimpleNamespace(image_grid_pinpoints=list(LLAVA_NEXT_RESOLUTIONS)),
                               patch_size=14, num_additional_image_tokens=0)
        fake._get_unpadded_features = lambda *a: cls._get_unpadded_features(fake, *a)
        assert token_count(size, packed=True) == cls._get_number_of_features(fake, *size, 336, 336), size


def test_resize_and_pad_keeps_the_aspect_ratio_and_centres_the_image():
    image = torch.rand(3, 30, 90)  # wide: fits 64 x 64 as 22 x 64 (ceil of 21.3), 21 rows of black above
    assert fitted_size((30, 90), (64, 64)) == (22, 64)
    padded = resize_and_pad(image, (64, 64))
    assert padded.shape == (3, 64, 64)
    assert padded[:, :21].abs().sum() == 0 and padded[:, 43:].abs().sum() == 0 and padded[:, 21:43].amin() > 0
    torch.testing.assert_close(padded[:, 21:43], F.interpolate(image[None], size=(22, 64), mode="bilinear",
                                                               antialias=True, align_corners=False)[0])


def test_tiles_reassemble_to_the_resized_image_and_the_global_view_comes_first():
    torch.manual_seed(0)
    for size, grid in [((64, 64), (2, 2)), ((30, 130), (1, 4)), ((100, 20), (4, 1)), ((32, 32), (2, 2))]:
        image = torch.rand(3, *size)
        views = anyres_views(image, MINI_RESOLUTIONS, 32)
        assert views.grid == grid and views.views.shape == (1 + grid[0] * grid[1], 3, 32, 32)
        assert views.padded.shape == (3, 32 * grid[0], 32 * grid[1])
        assert torch.equal(join_tiles(views.views[1:], grid), views.padded)
        assert torch.equal(split_tiles(views.padded, 32), views.views[1:])
        torch.testing.assert_close(views.views[0], F.interpolate(image[None], size=(32, 32), mode="bilinear",
                                                                 antialias=True, align_corners=False)[0])
        assert token_count(size, MINI_RESOLUTIONS, view=32, patch=8) == len(views.views) * 16
    tile = split_tiles(torch.arange(2 * 4 * 6.0).reshape(2, 4, 6), 2)  # row by row: tile 1 is rows 0-1, cols 2-3
    assert torch.equal(tile[1], torch.tensor([[[2.0, 3], [8, 9]], [[26, 27], [32, 33]]]))


def test_a_mosaic_of_four_images_gives_each_back_whole_in_a_tile_and_at_half_size_in_the_global_view():
    images = F.pad(torch.rand(8, 3, 24, 24), (4, 4, 4, 4))  # black borders wider than the filter: seams mix nothing
    tiles, in_global = mosaic_views(images)
    assert torch.equal(tiles, images)
    half = F.interpolate(images, size=(16, 16), mode="bilinear", antialias=True, align_corners=False)
    torch.testing.assert_close(in_global, F.interpolate(half, size=(32, 32), mode="bilinear", align_corners=False),
                               atol=1e-5, rtol=0)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="size must be"):
        select_best_resolution((0, 10), LLAVA_NEXT_RESOLUTIONS)
    with pytest.raises(ValueError, match="resolutions must list"):
        select_best_resolution((10, 10), [])
    with pytest.raises(ValueError, match="one image"):
        anyres_views(torch.rand(1, 3, 8, 8), MINI_RESOLUTIONS, 32)
    with pytest.raises(ValueError, match="whole 32 x 32 tiles"):
        anyres_views(torch.rand(3, 8, 8), [(40, 40)], 32)
    with pytest.raises(ValueError, match="2 x 2 square tiles"):
        join_tiles(torch.rand(3, 3, 4, 4), (2, 2))
    with pytest.raises(ValueError, match="groups of four"):
        mosaic_views(torch.rand(3, 3, 32, 32))
