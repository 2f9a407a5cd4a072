"""Lecture 4's visual attention: a colour word attends over a CNN's grid of regions to find and name a shape."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from course_lib.data.shapes import Scenes, make_scenes
from course_lib.data.splits import split_seed
from course_lib.models.visual_attention import VisualAttention, colour_queries, shape_loss
from course_lib.recipes.base import Recipe
from course_lib.train import train


@dataclass(frozen=True)
class VisualAttentionRecipe(Recipe):
    """What decides what lecture 4's visual attention model learns (two-object scenes, one query per object)."""

    family = "scenes_visual_attention"
    model_class = VisualAttention

    n_train: int = 3000  # two-object scenes, so 6000 (image, colour word) questions
    image_size: int = 32
    channels: tuple[int, int] = (16, 32)
    d_model: int = 32
    epochs: int = 8
    lr: float = 3e-3
    batch_size: int = 64
    data_seed: int = 0
    seed: int = 0

    def build(self, store) -> nn.Module:
        return VisualAttention(self.channels, self.d_model, self.image_size)

    def fit(self, model: nn.Module, store) -> list[float]:
        q = colour_queries(attention_scenes(self, "train"))
        return train(model, (q.images, q.words, q.shapes), shape_loss, epochs=self.epochs,
                     batch_size=self.batch_size, lr=self.lr, device=store.device, seed=self.seed,
                     progress=store.progress)


def attention_scenes(recipe: VisualAttentionRecipe, split: str = "train", n: int | None = None) -> Scenes:
    """The recipe's two-object scenes: its training set, or `n` fresh 'test' scenes drawn with another seed."""
    seed = split_seed(recipe.data_seed, split)
    n = (recipe.n_train if split == "train" else 1000) if n is None else n
    return make_scenes(n, seed=seed, image_size=recipe.image_size, n_objects=2)
