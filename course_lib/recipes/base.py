"""A recipe: everything that decides what a model learns, and the key its checkpoint is filed under.

A recipe is a small frozen dataclass. It says which model to build (`build`), how to train it (`fit`), and names
its checkpoint file '<stem>-<key>.safetensors'. The key is a hash of what changes the weights and nothing else:

    - the fields whose values differ from their defaults (a new field with a default changes no existing key),
    - the recipe's `version` (raise it when the training code changes what a recipe learns),
    - the model class it builds (its `model_class`),
    - nested recipes by their own keys (so a change deep inside a recipe reaches every recipe built on it),
    - anything else the recipe derives from its fields that decides the weights (`derived`, e.g. a vocabulary).

A `Store` (course_lib.recipes.store) loads a recipe's checkpoint, or trains it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import TYPE_CHECKING, Any, ClassVar

from torch import nn

if TYPE_CHECKING:
    from course_lib.recipes.store import Store


class Recipe:
    """Base of every recipe dataclass: subclasses set `family` and `model_class`, and write `build` and `fit`."""

    family: ClassVar[str]  # the checkpoint file's stem, e.g. 'scenes_vae'
    model_class: ClassVar[type]  # what `build` returns (part of the key)
    version: ClassVar[int] = 1  # raise it when the code changes what this recipe learns

    # --- what subclasses write --------------------------------------------------------------------------------
    def build(self, store: "Store") -> nn.Module:
        """The untrained model (the store calls it inside `seeded(self.seed)` and moves it to its device)."""
        raise NotImplementedError

    def fit(self, model: nn.Module, store: "Store") -> list[float]:
        """Train `model` in place and return the loss per epoch; other recipes come from `store.load`."""
        raise NotImplementedError

    def weights(self, model: nn.Module) -> nn.Module:
        """The part of the model the checkpoint holds (all of it, unless a recipe trains only an adapter)."""
        return model

    def finish(self, model: nn.Module) -> nn.Module:
        """The model as callers get it: in eval mode."""
        return model.eval()

    def derived(self) -> dict[str, Any]:
        """What else decides the weights, computed from the fields (e.g. a vocabulary built from the data)."""
        return {}

    @property
    def stem(self) -> str:
        """The readable start of the checkpoint's file name."""
        return self.family

    # --- the key ----------------------------------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        """What the key hashes (also stored in the checkpoint): family, model class, version, changed fields."""
        changed = {}
        for f in dataclasses.fields(self):
            value, default = getattr(self, f.name), _default(f)
            if default is dataclasses.MISSING or _encode(value) != _encode(default):
                changed[f.name] = _encode(value)
        identity = {"family": self.family, "model": self.model_class.__name__, "version": self.version,
                    "changed": changed}
        derived = self.derived()
        return {**identity, "derived": _encode(derived)} if derived else identity

    def key(self) -> str:
        """Eight hex digits that change exactly when what decides the weights changes."""
        text = json.dumps(self.identity(), sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:8]

    @property
    def filename(self) -> str:
        return f"{self.stem}-{self.key()}.safetensors"


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _encode(value: Any) -> Any:
    """JSON-able, with nested recipes replaced by their keys and tuples by lists."""
    if isinstance(value, Recipe):
        return {"recipe": value.key()}
    if isinstance(value, (tuple, list)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    return value
