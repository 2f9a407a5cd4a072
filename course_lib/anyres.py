"""LLaVA-NeXT's 'AnyRes' (lecture 7): a large image read as encoder-sized tiles plus one downscaled global view.

LLaVA-1.5's vision encoder, CLIP ViT-L/14, sees 336 x 336 pixels: (336 / 14)^2 = 576 patch tokens. LLaVA-NeXT
(Liu et al., January 2024) keeps that encoder and gives it four times the pixels:

    1. among a few allowed resolutions (multiples of 336), choose the one that keeps most of the image's pixels,
       then wastes fewest on padding (select_best_resolution, as LLaVA-NeXT's code does);
    2. resize the image into it, keeping its aspect ratio, and pad the rest with black (resize_and_pad);
    3. cut that into 336 x 336 tiles, and add the whole image squashed to 336 x 336: the global view (anyres_views);
    4. encode every view on its own; the language model reads all their tokens (token_count).

    views = anyres_views(image, MINI_RESOLUTIONS, 32)   # image (3, 64, 64) -> views.views (1 + 2 * 2, 3, 32, 32)
    token_count((672, 672))                             # 2880 = (1 global + 2 x 2 tiles) x 576 patch tokens
    token_count((672, 672), packed=True)                # 2928: + one 'newline' token per row of the tiled grid
    tiles, in_global_view = mosaic_views(images)        # four scenes per 2 x 2 mosaic: each at full and half size

Sizes are (height, width), as in torch and in transformers' LLaVA-NeXT code.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import torch
from torch.nn import functional as F

Size = tuple[int, int]  # (height, width) in pixels
LLAVA_NEXT_RESOLUTIONS: tuple[Size, ...] = ((672, 672), (336, 1344), (1344, 336))  # 2x2, 1x4 and 4x1 tiles of 336
MINI_RESOLUTIONS: tuple[Size, ...] = ((64, 64), (32, 128), (128, 32))  # the same grids of the mini model's 32 px


class AnyRes(NamedTuple):
    """What anyres_views makes of one image: the views the encoder reads, the tile grid, and the padded image."""

    views: torch.Tensor  # (1 + rows * cols, C, view, view): the global view first, then the tiles row by row
    grid: tuple[int, int]  # (rows, cols) of tiles
    padded: torch.Tensor  # (C, rows * view, cols * view): the image resized into the chosen resolution, padded


def select_best_resolution(size: Size, resolutions: Sequence[Size]) -> Size:
    """The resolution that keeps most of the image's pixels once it is fitted in, then wastes fewest (LLaVA-NeXT)."""
    height, width = _size(size, "size")
    best, best_kept, best_wasted = None, -1, math.inf
    for res_height, res_width in (_size(r, "resolutions") for r in resolutions):
        scale = min(res_width / width, res_height / height)  # fit the whole image in, keeping its aspect ratio
        kept = min(int(width * scale) * int(height * scale), width * height)  # upscaling adds no information
        wasted = res_height * res_width - kept
        if kept > best_kept or (kept == best_kept and wasted < best_wasted):
            best, best_kept, best_wasted = (res_height, res_width), kept, wasted
    if best is None:
        raise ValueError("resolutions must list at least one (height, width).")
    return best


def fitted_size(size: Size, resolution: Size) -> Size:
    """(height, width) of an image of `size` resized to fit in `resolution`, keeping its aspect ratio."""
    (height, width), (res_height, res_width) = _size(size, "size"), _size(resolution, "resolution")
    if res_width / width < res_height / height:  # the width is the tighter side
        return min(math.ceil(height * res_width / width), res_height), res_width
    return res_height, min(math.ceil(width * res_height / height), res_width)


def resize(image: torch.Tensor, size: Size) -> torch.Tensor:
    """(C, H, W) -> (C, height, width): bilinear, antialiased when shrinking."""
    return F.interpolate(image[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0]


def resize_and_pad(image: torch.Tensor, resolution: Size) -> torch.Tensor:
    """(C, H, W) -> (C, *resolution): resized to fit, keeping its aspect ratio, centred on black."""
    res_height, res_width = _size(resolution, "resolution")
    height, width = fitted_size(_image(image).shape[-2:], resolution)
    top, left = (res_height - height) // 2, (res_width - width) // 2
    return F.pad(resize(image, (height, width)), (left, res_width - width - left, top, res_height - height - top))


def split_tiles(image: torch.Tensor, tile: int) -> torch.Tensor:
    """(C, rows * tile, cols * tile) -> (rows * cols, C, tile, tile), row by row."""
    c, height, width = _image(image).shape
    if height % tile or width % tile:
        raise ValueError(f"The image ({height} x {width}) is not a whole number of {tile} x {tile} tiles.")
    rows, cols = height // tile, width // tile
    return image.reshape(c, rows, tile, cols, tile).permute(1, 3, 0, 2, 4).reshape(rows * cols, c, tile, tile)


def join_tiles(tiles: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(rows * cols, C, tile, tile) -> (C, rows * tile, cols * tile): split_tiles undone, or a mosaic of images."""
    rows, cols = grid
    if tiles.ndim != 4 or len(tiles) != rows * cols or tiles.shape[-1] != tiles.shape[-2]:
        raise ValueError(f"Expected {rows} x {cols} square tiles (N, C, tile, tile), got {tuple(tiles.shape)}.")
    n, c, tile, _ = tiles.shape
    return tiles.reshape(rows, cols, c, tile, tile).permute(2, 0, 3, 1, 4).reshape(c, rows * tile, cols * tile)


def anyres_views(image: torch.Tensor, resolutions: Sequence[Size], view: int) -> AnyRes:
    """One image (C, H, W) -> the global view (squashed to view x view) and the tiles of its best-fitting resolution."""
    resolution = select_best_resolution(_image(image).shape[-2:], resolutions)
    if resolution[0] % view or resolution[1] % view:
        raise ValueError(f"Every resolution must be whole {view} x {view} tiles, got {resolution}.")
    padded = resize_and_pad(image, resolution)  # (C, rows * view, cols * view)
    global_view = resize(image, (view, view))  # the whole picture, aspect ratio ignored, at the encoder's size
    grid = (resolution[0] // view, resolution[1] // view)
    return AnyRes(torch.cat([global_view[None], split_tiles(padded, view)]), grid, padded)


def token_count(size: Size, resolutions: Sequence[Size] = LLAVA_NEXT_RESOLUTIONS, view: int = 336, patch: int = 14,
                packed: bool = False) -> int:
    """Image tokens of an image of `size`: views x (view / patch)^2.

    packed=True counts what LLaVA-NeXT's language model finally reads: the global view's tokens, then the tiles'
    tokens as one big grid, with the rows and columns that show only padding dropped and one learnt 'newline'
    token after each remaining row.
    """
    per_side = view // patch  # 24 patches along a 336-px view
    rows, cols = (side // view for side in select_best_resolution(size, resolutions))
    if not packed:
        return (1 + rows * cols) * per_side ** 2
    height, width = _size(size, "size")
    grid_height, grid_width = rows * per_side, cols * per_side  # the tiles' patch grid
    if width / height > grid_width / grid_height:  # a wider image: padding above and below
        grid_height -= 2 * ((grid_height - int(round(height * grid_width / width, 7))) // 2)
    else:  # a taller image: padding left and right
        grid_width -= 2 * ((grid_width - int(round(width * grid_height / height, 7))) // 2)
    return per_side ** 2 + grid_height * grid_width + grid_height  # global view, unpadded tiles, newlines


def mosaic_views(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (4k, C, S, S) as k 2 x 2 mosaics read by AnyRes at S px -> what each image becomes (4k, C, S, S):
    in the tiles, and in the global view (its S/2 x S/2 quarter of it, upscaled back to S x S for the encoder)."""
    if images.ndim != 4 or len(images) % 4 or images.shape[-1] != images.shape[-2] or images.shape[-1] % 2:
        raise ValueError(f"Expected square images in groups of four (4k, C, S, S), got {tuple(images.shape)}.")
    view = images.shape[-1]
    mosaics = [anyres_views(join_tiles(images[i:i + 4], (2, 2)), [(2 * view, 2 * view)], view)
               for i in range(0, len(images), 4)]
    tiles = torch.cat([m.views[1:] for m in mosaics])  # (4k, C, S, S)
    corners = torch.cat([split_tiles(m.views[0], view // 2) for m in mosaics])  # (4k, C, S/2, S/2)
    return tiles, F.interpolate(corners, size=(view, view), mode="bilinear", align_corners=False)


def _size(size: Sequence[int], name: str) -> Size:
    """(height, width) as two positive ints, or a ValueError naming the argument."""
    if len(size) != 2 or any(int(s) != s or s < 1 for s in size):
        raise ValueError(f"{name} must be (height, width) in whole pixels, got {tuple(size)!r}.")
    return int(size[0]), int(size[1])


def _image(image: torch.Tensor) -> torch.Tensor:
    """The image itself if it is (C, H, W), else a ValueError."""
    if not isinstance(image, torch.Tensor) or image.ndim != 3:
        raise ValueError(f"Expected one image (C, H, W), got {getattr(image, 'shape', type(image).__name__)}.")
    return image
