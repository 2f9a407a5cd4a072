"""Datasets that ship with the installed packages: no downloads, ever.

The names below are imported when first used (PEP 562): `course_lib.data.shapes` and the text tasks do not pay
for scikit-learn and scikit-image, which only the bundled image datasets need.
"""

from __future__ import annotations

from importlib import import_module

_WHERE = {"ImageDataset": "dataset", "load_digits": "digits", "load_faces": "faces", "load_image": "images"}
__all__ = ["DATASETS", "ImageDataset", "load_dataset", "load_digits", "load_faces", "load_image"]


def load_dataset(name: str, **kwargs):
    """Load a bundled dataset by name ('digits' or 'faces')."""
    datasets = __getattr__("DATASETS")
    if name not in datasets:
        raise ValueError(f"Unknown dataset {name!r}: choose one of {sorted(datasets)}.")
    return datasets[name](**kwargs)


def __getattr__(name: str):
    if name == "DATASETS":
        return {"digits": __getattr__("load_digits"), "faces": __getattr__("load_faces")}
    if name in _WHERE:
        return getattr(import_module(f"course_lib.data.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'course_lib.data' has no attribute {name!r}")
