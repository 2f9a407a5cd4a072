"""scikit-learn's handwritten digits: 1797 images of 8x8 pixels, classes 0-9."""

from __future__ import annotations

import sklearn.datasets

from course_lib.data.dataset import ImageDataset, split_images


def load_digits(test_fraction: float = 0.2, seed: int = 0) -> ImageDataset:
    """The digits scaled to [0, 1] (raw values are 0..16), split train/test."""
    bunch = sklearn.datasets.load_digits()
    images = bunch.images / 16.0  # (1797, 8, 8)
    class_names = tuple(str(d) for d in range(10))
    return split_images("digits", images, bunch.target, class_names, test_fraction, seed)
