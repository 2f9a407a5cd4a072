"""Lecture 5's MiniCLIP: contrastive image-caption training on scenes, with combinations held out for zero-shot.

    store = Store.for_notebook()
    trained = store.load(CLIPRecipe())            # the shipped checkpoint, else trained (minutes on a CPU)

What it is measured with (zero-shot accuracy, retrieval) is in course_lib.clip_metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from course_lib.data.shapes import Combo, Scenes, make_scenes
from course_lib.data.splits import split_seed
from course_lib.data.tokenizer import scene_tokenizer
from course_lib.models.clip import MiniCLIP, clip_batch_loss
from course_lib.recipes.base import Recipe
from course_lib.train import train


@dataclass(frozen=True)
class CLIPRecipe(Recipe):
    """What decides what lecture 5's MiniCLIP learns: its data (with held-out combinations), size and training."""

    family = "scenes_mini_clip"
    model_class = MiniCLIP

    n_train: int = 10000  # scenes of one or two objects, one caption each
    held_out: tuple[Combo, ...] = (("purple", "triangle"), ("orange", "circle"))  # never in any training scene
    image_size: int = 32
    channels: tuple[int, int, int] = (32, 64, 64)
    image_width: int = 128
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    embed_dim: int = 64
    epochs: int = 15
    lr: float = 1e-3
    batch_size: int = 128  # also the number of candidates each image and caption is contrasted with
    data_seed: int = 0
    seed: int = 0

    def build(self, store) -> nn.Module:
        return MiniCLIP(len(scene_tokenizer()), self.embed_dim, image_size=self.image_size, channels=self.channels,
                        image_width=self.image_width, d_model=self.d_model, n_heads=self.n_heads,
                        n_layers=self.n_layers)

    def fit(self, model: nn.Module, store) -> list[float]:
        scenes = clip_scenes(self, "train")
        ids, lengths = scene_tokenizer().batch(scenes.captions)  # (N, L), (N,)
        return train(model, (scenes.images, ids, lengths), clip_batch_loss, epochs=self.epochs,
                     batch_size=self.batch_size, lr=self.lr, device=store.device, seed=self.seed,
                     progress=store.progress)


def clip_scenes(recipe: CLIPRecipe, split: str = "train", n: int | None = None,
                n_objects: int | tuple[int, ...] = (1, 2)) -> Scenes:
    """The recipe's training scenes, or `n` fresh 'test' scenes (another seed); neither has a held-out combination."""
    seed = split_seed(recipe.data_seed, split)
    n = (recipe.n_train if split == "train" else 1000) if n is None else n
    return make_scenes(n, seed=seed, image_size=recipe.image_size, n_objects=n_objects, exclude=recipe.held_out)


def zero_shot_scenes(recipe: CLIPRecipe, combos: str = "seen", n: int = 1000) -> Scenes:
    """n fresh one-object test scenes of the combinations training saw ('seen') or never saw ('held_out')."""
    if combos not in ("seen", "held_out"):
        raise ValueError(f"combos must be 'seen' or 'held_out', got {combos!r}.")
    which = {"exclude": recipe.held_out} if combos == "seen" else {"only": recipe.held_out}
    return make_scenes(n, seed=split_seed(recipe.data_seed, "test"), image_size=recipe.image_size, n_objects=1,
                       **which)
