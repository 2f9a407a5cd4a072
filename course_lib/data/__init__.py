"""Datasets that ship with the installed packages: no downloads, ever."""

from __future__ import annotations

from typing import Callable

from course_lib.data.dataset import ImageDataset
from course_lib.data.digits import load_digits
from course_lib.data.faces import load_faces
from course_lib.data.images import load_image

DATASETS: dict[str, Callable[..., ImageDataset]] = {"digits": load_digits, "faces": load_faces}


def load_dataset(name: str, **kwargs) -> ImageDataset:
    """Load a bundled dataset by name ('digits' or 'faces')."""
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}: choose one of {sorted(DATASETS)}.")
    return DATASETS[name](**kwargs)


__all__ = ["DATASETS", "ImageDataset", "load_dataset", "load_digits", "load_faces", "load_image"]
