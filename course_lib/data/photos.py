"""Five colour photographs that ship with scikit-image, cut into training patches and held-out tiles (lecture 2).

    photos = load_photos()
    photos.test    # (58, 3, 32, 32): a fifth of each photo's 32x32 tiles, held out
    photos.train   # (608, 3, 32, 32): overlapping patches (stride 16) that touch no held-out tile

Each photo is first shrunk by `shrink` (the mean of each shrink x shrink block), which removes most of the JPEG
artefacts and keeps training fast. The held-out tiles are spread over every photo (see `held_out`), so the test
asks for unseen parts of the same five scenes: five photos are far too few to learn colour in general.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import skimage.data
import skimage.transform
import skimage.util
import torch

from course_lib.validation import require_positive_int

PHOTOS = {
    "astronaut": skimage.data.astronaut,
    "chelsea": skimage.data.chelsea,
    "coffee": skimage.data.coffee,
    "rocket": skimage.data.rocket,
    "motorcycle": lambda: skimage.data.stereo_motorcycle()[0],  # the left view of a stereo pair
}


@dataclass(frozen=True)
class Photos:
    """Training patches and held-out test tiles, RGB in [0, 1], with the photo each tile comes from."""

    train: torch.Tensor  # (n_train, 3, size, size), float32
    test: torch.Tensor  # (n_test, 3, size, size), float32
    test_photo: tuple[str, ...]  # the name of the photo each test tile was cut from


def photo(name: str, shrink: int = 2) -> np.ndarray:
    """One bundled photo as float32 RGB in [0, 1], (height, width, 3), each side shrunk by `shrink` (block means)."""
    if name not in PHOTOS:
        raise ValueError(f"Unknown photo {name!r}: choose one of {sorted(PHOTOS)}.")
    require_positive_int(shrink=shrink)
    pixels = skimage.util.img_as_float32(PHOTOS[name]())  # (h, w, 3)
    return skimage.transform.downscale_local_mean(pixels, (shrink, shrink, 1)).astype(np.float32)


def held_out(height: int, width: int, size: int) -> np.ndarray:
    """(height, width) bool mask of the test tiles: of the size x size grid, tile (r, c) is held out when r + 2c is a
    multiple of 5, a fifth of the tiles, spread over every row and column of the grid (pixels past the grid: False)."""
    rows, cols = np.arange(height) // size, np.arange(width) // size
    tile_test = (rows[:, None] + 2 * cols[None, :]) % 5 == 0
    inside = (rows[:, None] < height // size) & (cols[None, :] < width // size)
    return tile_test & inside


def _stack(squares: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(squares)).permute(0, 3, 1, 2).contiguous()  # (n, 3, size, size)


def load_photos(size: int = 32, stride: int = 16, shrink: int = 2) -> Photos:
    """The five photos as held-out test tiles (a fifth of a size x size grid) and overlapping training patches that
    touch no test tile."""
    require_positive_int(size=size, stride=stride, shrink=shrink)
    train, test, test_photo = [], [], []
    for name in PHOTOS:
        image = photo(name, shrink)  # (h, w, 3)
        height, width = image.shape[:2]
        if min(height, width) < 2 * size:
            raise ValueError(f"size={size} is too large for the photos shrunk {shrink}x: use smaller patches.")
        mask = held_out(height, width, size)  # (h, w)
        tiles = [(i, j) for i in range(0, height - size + 1, size) for j in range(0, width - size + 1, size)
                 if mask[i, j]]
        test += [image[i:i + size, j:j + size] for i, j in tiles]
        test_photo += [name] * len(tiles)
        train += [image[i:i + size, j:j + size] for i in range(0, height - size + 1, stride)
                  for j in range(0, width - size + 1, stride) if not mask[i:i + size, j:j + size].any()]
    return Photos(_stack(train), _stack(test), tuple(test_photo))
