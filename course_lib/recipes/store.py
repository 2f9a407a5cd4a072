"""One store: where a run's models come from (shipped, cached, trained) and where new ones go.

    store = Store.for_notebook(USE_CHECKPOINTS, DEVICE)   # the same line in every lecture
    vae, source, history = store.load(VAERecipe())         # shipped checkpoint, else cached, else trained

USE_CHECKPOINTS = True reads the checkpoints shipped with course_lib, then the cache folder ($COURSE_CACHE_DIR,
else ~/.cache/course_lib), and trains only what neither holds (saving it to the cache). USE_CHECKPOINTS = False
trains every model the notebook needs once, into a fresh folder of its own that later cells load from; nothing
shipped or cached is read or overwritten.
"""

from __future__ import annotations

import atexit
import enum
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from course_lib.checkpoints import load_checkpoint, read_metadata, save_checkpoint
from course_lib.device import get_device, seeded
from course_lib.recipes.base import Recipe

CACHE_ENV_VAR = "COURSE_CACHE_DIR"


def shipped_dir() -> Path:
    """The checkpoints that travel with the package (course_lib/weights/, package data in a wheel)."""
    return Path(str(resources.files("course_lib") / "weights"))


def default_cache_dir() -> Path:
    """$COURSE_CACHE_DIR, else $XDG_CACHE_HOME/course_lib, else ~/.cache/course_lib (read when a store is made)."""
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "course_lib"


class Source(enum.Enum):
    """Where a loaded model came from."""

    SHIPPED = "shipped checkpoint"
    CACHED = "cached checkpoint"
    TRAINED = "trained here"

    def __str__(self) -> str:
        return self.value


class Trained(NamedTuple):
    """A model, where it came from, and its loss per epoch (as stored with the checkpoint, or just trained)."""

    model: nn.Module
    source: Source
    history: list[float]


@dataclass(frozen=True)
class Store:
    """Loads recipes: from `shipped` (read only), then `cache` (read and written), else trains them."""

    device: torch.device
    progress: bool = True
    shipped: Path | None = None
    cache: Path | None = None
    train_missing: bool = True  # False: a missing checkpoint is an error instead of a training run

    @classmethod
    def for_notebook(cls, use_checkpoints: bool = True, device: str | torch.device | None = None,
                     progress: bool = True) -> "Store":
        """The store a lecture makes from its USE_CHECKPOINTS and DEVICE parameters."""
        if not isinstance(use_checkpoints, bool):
            raise TypeError(f"use_checkpoints must be True or False, got {use_checkpoints!r}.")
        if use_checkpoints:
            return cls(get_device(device), progress, shipped_dir(), default_cache_dir())
        fresh = Path(tempfile.mkdtemp(prefix="course-trained-"))  # this run's models only,
        atexit.register(shutil.rmtree, fresh, ignore_errors=True)  # removed when the kernel ends
        return cls(get_device(device), progress, None, fresh)

    @classmethod
    def shipped_only(cls, device: str | torch.device = "cpu") -> "Store":
        """Loads only the checkpoints shipped with course_lib: a missing one is an error, never a training run."""
        return cls(get_device(device), False, shipped_dir(), None, train_missing=False)

    def folders(self) -> list[tuple[Source, Path]]:
        found = [(Source.SHIPPED, self.shipped), (Source.CACHED, self.cache)]
        return [(source, Path(folder)) for source, folder in found if folder is not None]

    def find(self, recipe: Recipe) -> tuple[Source, Path] | None:
        """Where the checkpoint of exactly this recipe is, if anywhere."""
        found = self._find(recipe)
        return None if found is None else found[:2]

    def _find(self, recipe: Recipe) -> tuple[Source, Path, dict] | None:
        """(source, path, metadata) of the recipe's checkpoint: the metadata is read once, here."""
        identity, filename = recipe.identity(), recipe.filename
        for source, folder in self.folders():
            path = folder / filename
            if path.is_file():
                metadata = read_metadata(path)
                if metadata["config"] == identity:
                    return source, path, metadata
        return None

    def load(self, recipe: Recipe) -> Trained:
        """The recipe's model: its checkpoint if the store has one, else trained now (and saved to the cache)."""
        _check_recipe(recipe)
        with seeded(recipe.seed):  # the initial weights are part of the recipe
            model = recipe.build(self).to(self.device)
            found = self._find(recipe)
            if found is not None:
                source, path, metadata = found
                load_checkpoint(recipe.weights(model), path)
                return Trained(recipe.finish(model), source, metadata["history"])
            if not self.train_missing:
                raise FileNotFoundError(f"No checkpoint {recipe.filename} in {[str(f) for _, f in self.folders()]}.")
            _warn_if_shipped(recipe, self)
            return self._fit_and_save(recipe, model)

    def untrained(self, recipe: Recipe) -> nn.Module:
        """The recipe's model before any training, with the initial weights `load` would start from."""
        _check_recipe(recipe)
        with seeded(recipe.seed):
            return recipe.finish(recipe.build(self).to(self.device))

    def train(self, recipe: Recipe) -> Trained:
        """Train the recipe from scratch whatever is saved (what it builds on is loaded), and save it to the cache."""
        _check_recipe(recipe)
        with seeded(recipe.seed):
            return self._fit_and_save(recipe, recipe.build(self).to(self.device))

    def _fit_and_save(self, recipe: Recipe, model: nn.Module) -> Trained:
        history = [float(h) for h in recipe.fit(model, self)]
        if self.cache is not None:
            save_checkpoint(recipe.weights(model), Path(self.cache) / recipe.filename, recipe.identity(), history)
        return Trained(recipe.finish(model), Source.TRAINED, history)


def _check_recipe(recipe: object) -> None:
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be a course_lib recipe (e.g. CLIPRecipe()), got {type(recipe).__name__}.")


def _warn_if_shipped(recipe: Recipe, store: Store) -> None:
    """A registered recipe that should ship a checkpoint but has none: say so, and how to rebuild it."""
    if store.shipped is None:
        return  # the store was asked to train everything
    from course_lib.recipes.registry import shipped_name  # the registry imports every recipe module
    name = shipped_name(recipe)
    if name is not None:
        warnings.warn(f"The shipped checkpoint of recipe '{name}' ({recipe.filename}) is missing, so it is trained "
                      f"now; rebuild it with: python -m course_lib.recipes train {name}", stacklevel=3)
