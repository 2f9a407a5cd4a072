"""scikit-image's `lfw_subset`: 100 faces and 100 non-faces, 25x25 pixels."""

from __future__ import annotations

import numpy as np
import skimage.data

from course_lib.data.dataset import ImageDataset, split_images


def load_faces(test_fraction: float = 0.2, seed: int = 0) -> ImageDataset:
    """The 200 `lfw_subset` patches in [0, 1]; label 1 is a face, 0 is not."""
    images = skimage.data.lfw_subset()  # (200, 25, 25), already in [0, 1]
    labels = np.repeat([1, 0], len(images) // 2)  # the first 100 are faces
    return split_images("faces", images, labels, ("not a face", "face"), test_fraction, seed)
