"""Every model the course trains (course_lib.recipes.registry): seconds to load it, and to train it from scratch.

    time_load(entry, device)      -> the checkpoint shipped with course_lib, or one an earlier run cached
    time_training(entry, device)  -> trains the recipe from scratch and saves nothing; what it builds on (e.g.
                                     lecture 5's MiniCLIP under a U-Net) is loaded from the shipped checkpoints,
                                     so only the recipe itself trains
"""

from __future__ import annotations

import time

import torch

from course_lib.recipes.registry import ENTRIES, Entry
from course_lib.recipes.store import Source, Store, default_cache_dir, shipped_dir


def course_models() -> tuple[Entry, ...]:
    """The registry's entries, lecture by lecture."""
    return ENTRIES


def time_load(entry: Entry, device: str) -> tuple[float, Source | None]:
    """Seconds to load the entry's checkpoint (shipped, else cached), and where it came from (None: no checkpoint)."""
    store = Store(torch.device(device), False, shipped_dir(), default_cache_dir(), train_missing=False)
    if store.find(entry.recipe) is None:
        return 0.0, None
    start = time.perf_counter()
    trained = store.load(entry.recipe)
    return time.perf_counter() - start, trained.source


def time_training(entry: Entry, device: str) -> tuple[float, float]:
    """Seconds to train the entry's recipe from scratch (nothing saved), and its last training loss."""
    store = Store(torch.device(device), False, shipped_dir(), None)
    start = time.perf_counter()
    trained = store.train(entry.recipe)
    return time.perf_counter() - start, trained.history[-1]
