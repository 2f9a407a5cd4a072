"""A fixed, seeded train/test split of small images, kept as flat float tensors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import train_test_split


@dataclass(frozen=True)
class ImageDataset:
    """Images flattened to rows in [0, 1], with labels and a fixed split."""

    name: str
    x_train: torch.Tensor  # (n_train, height * width), float32 in [0, 1]
    y_train: torch.Tensor  # (n_train,), int64
    x_test: torch.Tensor  # (n_test, height * width)
    y_test: torch.Tensor  # (n_test,)
    image_shape: tuple[int, int]  # (height, width)
    class_names: tuple[str, ...]

    @property
    def n_features(self) -> int:
        """Pixels per image: the dimension of one row."""
        return self.x_train.shape[1]

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """Reshape rows (n, h*w) back to images (n, h, w)."""
        return x.reshape(-1, *self.image_shape)


def split_images(
    name: str,
    images: np.ndarray,  # (n, height, width), values in [0, 1]
    labels: np.ndarray,  # (n,)
    class_names: tuple[str, ...],
    test_fraction: float,
    seed: int,
) -> ImageDataset:
    """Flatten, convert to tensors and split with a stratified, seeded shuffle."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}.")
    flat = images.reshape(len(images), -1).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        flat, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )
    return ImageDataset(
        name=name,
        x_train=torch.from_numpy(x_train),
        y_train=torch.from_numpy(y_train).long(),
        x_test=torch.from_numpy(x_test),
        y_test=torch.from_numpy(y_test).long(),
        image_shape=tuple(images.shape[1:]),
        class_names=class_names,
    )
