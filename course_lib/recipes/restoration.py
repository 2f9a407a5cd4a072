"""Lecture 2's restoration models: a colouriser (grey -> colour) and a 2x super-resolver (small -> large).

Both train like a denoising autoencoder: take clean photo patches (course_lib.data.photos), damage them by a known
operation (course_lib.restoration: remove the colour, or shrink), and score the repair against the clean patch.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from torch import nn

from course_lib.data.photos import load_photos
from course_lib.models.restoration import Colouriser, SuperResolver
from course_lib.recipes.base import Recipe
from course_lib.restoration import mirrored, restoration_loss, shrink, to_grey
from course_lib.train import train


@dataclass(frozen=True)
class ColouriserRecipe(Recipe):
    """Everything that decides what lecture 2's colouriser learns."""

    family = "photos_colouriser"
    model_class = Colouriser

    channels: tuple[int, ...] = (8, 16, 32)
    epochs: int = 20
    lr: float = 1e-3
    batch_size: int = 32
    seed: int = 0

    def build(self, store) -> nn.Module:
        return Colouriser(self.channels)

    def fit(self, model: nn.Module, store) -> list[float]:
        patches = mirrored(load_photos().train)  # (2 n_train, 3, 32, 32): left-right mirrors only, the sky stays up
        return train(model, patches, restoration_loss(to_grey), epochs=self.epochs, batch_size=self.batch_size,
                     lr=self.lr, device=store.device, seed=self.seed, progress=store.progress)


@dataclass(frozen=True)
class SuperResolutionRecipe(Recipe):
    """Everything that decides what lecture 2's super-resolver learns."""

    family = "photos_super_resolution"
    model_class = SuperResolver

    factor: int = 2
    channels: int = 32
    layers: int = 4
    epochs: int = 6
    lr: float = 1e-3
    batch_size: int = 32
    seed: int = 0

    @property
    def stem(self) -> str:
        return f"{self.family}_x{self.factor}"

    def build(self, store) -> nn.Module:
        return SuperResolver(self.factor, self.channels, self.layers)

    def fit(self, model: nn.Module, store) -> list[float]:
        patches = mirrored(load_photos().train, rotations=True)  # (8 n_train, 3, 32, 32)
        return train(model, patches, restoration_loss(functools.partial(shrink, factor=self.factor)),
                     epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, device=store.device,
                     seed=self.seed, progress=store.progress)
