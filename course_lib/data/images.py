"""Two real photographs that ship with scikit-image: `camera` (grey) and `astronaut` (colour), 512x512."""

from __future__ import annotations

import numpy as np
import skimage.color
import skimage.data
import skimage.util
import torch

IMAGES = {"camera": skimage.data.camera, "astronaut": skimage.data.astronaut}


def load_image(name: str, *, gray: bool = False) -> torch.Tensor:
    """A bundled image as floats in [0, 1], shape (channels, height, width): 1 channel if gray, else 3 (RGB)."""
    if name not in IMAGES:
        raise ValueError(f"Unknown image {name!r}: choose one of {sorted(IMAGES)}.")
    pixels = skimage.util.img_as_float32(IMAGES[name]())  # (h, w) or (h, w, 3), in [0, 1]
    if pixels.ndim == 2:
        pixels = pixels[..., None]  # (h, w, 1)
    if gray and pixels.shape[-1] == 3:
        pixels = skimage.color.rgb2gray(pixels)[..., None]  # luminance: 0.2125 R + 0.7154 G + 0.0721 B
    elif not gray and pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)  # a grey image as RGB: three equal channels
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1))).float()  # (channels, h, w)
