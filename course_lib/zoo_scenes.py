"""The trained models of the lectures on captioned scenes (4 on): loaded from a shipped checkpoint, else trained.

`scripts/train_scene_checkpoints.py` makes the shipped checkpoints with these same functions, so loading
and training from scratch give the same model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from course_lib.checkpoints import CACHE_DIR, SHIPPED_DIR, Trained, load_or_train
from course_lib.data.shapes import Scenes, make_scenes
from course_lib.data.splits import split_seed
from course_lib.device import get_device, seeded
from course_lib.models.visual_attention import VisualAttention, colour_queries, shape_loss
from course_lib.train import train


@dataclass(frozen=True)
class VisualAttentionRecipe:
    """What decides what lecture 4's visual attention model learns (two-object scenes, one query per object)."""

    n_train: int = 3000  # two-object scenes, so 6000 (image, colour word) questions
    image_size: int = 32
    channels: tuple[int, int] = (16, 32)
    d_model: int = 32
    epochs: int = 8
    lr: float = 3e-3
    batch_size: int = 64
    data_seed: int = 0
    seed: int = 0


def attention_scenes(recipe: VisualAttentionRecipe, split: str = "train", n: int | None = None) -> Scenes:
    """The recipe's two-object scenes: its training set, or `n` fresh 'test' scenes drawn with another seed."""
    seed = split_seed(recipe.data_seed, split)
    n = (recipe.n_train if split == "train" else 1000) if n is None else n
    return make_scenes(n, seed=seed, image_size=recipe.image_size, n_objects=2)


def visual_attention(
    recipe: VisualAttentionRecipe = VisualAttentionRecipe(),
    *,
    device: str | torch.device | None = None,
    progress: bool = True,
    directories: tuple[Path, ...] = (SHIPPED_DIR, CACHE_DIR),
    save_to: Path | None = CACHE_DIR,
) -> Trained:
    """Lecture 4's VisualAttention trained by `recipe` (model, 'loaded <file>' or 'trained', loss history)."""
    with seeded(recipe.seed):  # the initial weights are part of the recipe
        model = VisualAttention(recipe.channels, recipe.d_model, recipe.image_size).to(get_device(device))

        def fit(m: torch.nn.Module) -> list[float]:
            q = colour_queries(attention_scenes(recipe, "train"))  # made only when there is no checkpoint
            return train(m, (q.images, q.words, q.shapes), shape_loss, epochs=recipe.epochs,
                         batch_size=recipe.batch_size, lr=recipe.lr, device=device, seed=recipe.seed,
                         progress=progress)

        config = {"dataset": "shapes", **asdict(recipe)}
        trained = load_or_train(model, "scenes_visual_attention", config, fit, directories=directories, save_to=save_to)
        trained.model.eval()
        return trained
