"""Lecture 8: a tiny ViT and lecture 3's small CNN (plain, or with channel, spatial or non-local attention) on digits.

Both kinds train on the same images with the same budget (optimizer, learning rate, batch size, epochs), on the
whole training set or on a seeded, stratified fraction of it, so the lecture can compare them as data grows.
`shifted_copies` adds copies of every image moved by up to a pixel: lecture 8's ViT trained on them learns position
embeddings that know the grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from course_lib.data import ImageDataset, load_digits
from course_lib.models.cnn_attention import AttentionCNN
from course_lib.models.vit import ViT
from course_lib.recipes.base import Recipe
from course_lib.train import classification_loss, train

LECTURE8_FRACTIONS = (0.1, 0.3, 1.0)  # of the 1437 training digits: how the ViT-CNN gap changes with data
LECTURE8_CNN_ATTENTIONS = ("se", "spatial", "nonlocal")  # the attention modules lecture 8 adds to the CNN


def digits_subset(fraction: float, data_seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(x (n, 64), y (n,)): a seeded fraction of the digits' training set, every class kept in proportion."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"train_fraction must be in (0, 1], got {fraction!r}.")
    data: ImageDataset = load_digits()
    if fraction == 1.0:
        return data.x_train, data.y_train
    generator = torch.Generator().manual_seed(data_seed)
    keep = []
    for label in data.y_train.unique():  # the same share of every class
        members = (data.y_train == label).nonzero().flatten()
        chosen = members[torch.randperm(len(members), generator=generator)]
        keep.append(chosen[:max(1, round(fraction * len(members)))])
    keep = torch.cat(keep).sort().values
    return data.x_train[keep], data.y_train[keep]


def shifted(x: torch.Tensor, copies: int, max_shift: int = 1, seed: int = 0) -> torch.Tensor:
    """x (n, 64) digits -> (n * (1 + copies), 64): x, then `copies` copies, each image moved by a random offset of
    up to `max_shift` pixels in each direction (the pixels moved in are blank)."""
    images = x.reshape(-1, 1, 8, 8)
    padded = F.pad(images, (max_shift,) * 4)  # (n, 1, 8 + 2s, 8 + 2s)
    generator, side, out = torch.Generator().manual_seed(seed), 2 * max_shift + 1, [x]
    for _ in range(copies):
        offset = torch.randint(side * side, (len(x),), generator=generator)  # which of the (2s+1)^2 shifts
        moved = torch.empty_like(images)
        for k in offset.unique().tolist():
            chosen = offset == k
            dy, dx = divmod(k, side)
            moved[chosen] = padded[chosen, :, dy:dy + 8, dx:dx + 8]
        out.append(moved.flatten(1))
    return torch.cat(out)


@dataclass(frozen=True)
class DigitsTraining:
    """The budget both kinds of classifier share, and which training images they see."""

    train_fraction: float = 1.0
    epochs: int = 60
    lr: float = 3e-3
    batch_size: int = 64
    data_seed: int = 0
    seed: int = 0
    shifted_copies: int = 0  # > 0: add that many copies of the images, each moved by up to one pixel

    def fit(self, model: nn.Module, store) -> list[float]:
        x, y = digits_subset(self.train_fraction, self.data_seed)
        if self.shifted_copies:
            x, y = shifted(x, self.shifted_copies, seed=self.data_seed), y.repeat(1 + self.shifted_copies)
        return train(model, (x, y), classification_loss, epochs=self.epochs, batch_size=self.batch_size,
                     lr=self.lr, device=store.device, seed=self.seed, progress=store.progress)

    def percent(self) -> str:
        return f"{round(100 * self.train_fraction)}pct" + ("_shifted" if self.shifted_copies else "")


@dataclass(frozen=True)
class ViTRecipe(DigitsTraining, Recipe):
    """A tiny ViT on the 8x8 digits: 2x2 patches (a 4x4 grid of 16 tokens and [CLS]), two layers of four heads."""

    family = "digits_vit"
    model_class = ViT

    patch_size: int = 2
    d_model: int = 32
    n_heads: int = 4
    n_layers: int = 2
    positions: str = "learned"

    @property
    def stem(self) -> str:
        return f"digits_vit_{self.positions}_{self.percent()}"

    def build(self, store) -> nn.Module:
        return ViT(8, self.patch_size, 1, 10, self.d_model, self.n_heads, self.n_layers, self.positions)


@dataclass(frozen=True)
class CNNRecipe(DigitsTraining, Recipe):
    """Lecture 3's CNN on the 8x8 digits (conv-ReLU-pool twice, linear), optionally with an attention module."""

    family = "digits_cnn"
    model_class = AttentionCNN

    channels: tuple[int, int] = (32, 64)
    attention: str | None = None  # None, 'se', 'spatial' or 'nonlocal'

    @property
    def stem(self) -> str:
        return f"digits_cnn_{self.attention or 'plain'}_{self.percent()}"

    def build(self, store) -> nn.Module:
        return AttentionCNN(self.channels, 10, (8, 8), 1, self.attention)


# About the same number of gradient steps as ViTRecipe(): five times the images (4 shifted copies), a fifth of the epochs.
LECTURE8_SHIFTED = ViTRecipe(shifted_copies=4, epochs=12)
