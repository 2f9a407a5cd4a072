"""Lecture 5's MiniCLIP on captioned scenes: the recipe, its tokenizer, and the measurements the lecture makes.

    trained = mini_clip(CLIPRecipe())          # loads the shipped checkpoint, else trains (minutes on a CPU)
    clip = MiniCLIPEncoders(trained.model)     # MiniCLIP + the scene tokenizer behind the common interface
    zero_shot_accuracy(clip, zero_shot_scenes(CLIPRecipe(), "held_out"))   # combinations never seen in training

The common interface, shared with the real CLIP of `course_lib.hub.load_hf_clip`, is two methods:
`encode_images(images (N, 3, H, W) in [0, 1]) -> (N, d)` and `encode_texts(texts: list[str]) -> (M, d)`,
both unit vectors on the CPU. Everything below that takes `clip` works with either.
`scripts/train_clip_checkpoint.py` makes the shipped checkpoint with these same functions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol, Sequence

import torch

from course_lib.checkpoints import CACHE_DIR, SHIPPED_DIR, Trained, load_or_train
from course_lib.contrastive import class_embeddings, recall_at_k, zero_shot_predict
from course_lib.data.shapes import COLOURS, SHAPES, Combo, Scenes, make_scenes
from course_lib.data.splits import split_seed
from course_lib.data.tokenizer import Tokenizer, scene_tokenizer
from course_lib.device import get_device, seeded
from course_lib.models.clip import MiniCLIP, clip_batch_loss
from course_lib.train import train

CLASS_NAMES = tuple(f"{c} {s}" for c in COLOURS for s in SHAPES)  # the 18 zero-shot classes, 'red circle', ...
SCENE_TEMPLATES = ("a small {}", "a large {}")  # in the captions' own words; other words become <unk>


class CLIPLike(Protocol):
    """What lecture 5 needs of a CLIP model: unit-vector embeddings of images and of texts, on the CPU."""

    def encode_images(self, images: torch.Tensor) -> torch.Tensor: ...  # (N, 3, H, W) in [0, 1] -> (N, d)

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor: ...  # M strings -> (M, d)


@dataclass(frozen=True)
class CLIPRecipe:
    """What decides what lecture 5's MiniCLIP learns: its data (with held-out combinations), size and training."""

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


def build_mini_clip(recipe: CLIPRecipe, device: str | torch.device | None = None) -> MiniCLIP:
    """The recipe's MiniCLIP before any training (seeded: the initial weights are part of the recipe)."""
    with seeded(recipe.seed):
        return MiniCLIP(len(scene_tokenizer()), recipe.embed_dim, image_size=recipe.image_size,
                        channels=recipe.channels,
                        image_width=recipe.image_width, d_model=recipe.d_model, n_heads=recipe.n_heads,
                        n_layers=recipe.n_layers).to(get_device(device)).eval()


def mini_clip(
    recipe: CLIPRecipe = CLIPRecipe(),
    *,
    device: str | torch.device | None = None,
    progress: bool = True,
    directories: tuple[Path, ...] = (SHIPPED_DIR, CACHE_DIR),
    save_to: Path | None = CACHE_DIR,
) -> Trained:
    """Lecture 5's MiniCLIP trained by `recipe` (model, 'loaded <file>' or 'trained', loss history)."""
    model = build_mini_clip(recipe, device)

    def fit(m: torch.nn.Module) -> list[float]:
        scenes = clip_scenes(recipe, "train")  # made only when there is no checkpoint
        ids, lengths = scene_tokenizer().batch(scenes.captions)  # (N, L), (N,)
        return train(m, (scenes.images, ids, lengths), clip_batch_loss, epochs=recipe.epochs,
                     batch_size=recipe.batch_size, lr=recipe.lr, device=device, seed=recipe.seed, progress=progress)

    config = {"dataset": "shapes", **asdict(recipe)}
    trained = load_or_train(model, "scenes_mini_clip", config, fit, directories=directories, save_to=save_to)
    trained.model.eval()
    return trained


@torch.no_grad()
def encode_images(model: MiniCLIP, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """images (N, C, S, S) -> unit vectors (N, embed_dim) on the CPU, a batch at a time on the model's device."""
    model.eval()
    device = next(model.parameters()).device
    return torch.cat([model.encode_image(images[i:i + batch_size].to(device)).cpu()
                      for i in range(0, len(images), batch_size)])


@torch.no_grad()
def encode_texts(model: MiniCLIP, tokenizer: Tokenizer, texts: Sequence[str]) -> torch.Tensor:
    """Texts -> unit vectors (N, embed_dim) on the CPU; words the tokenizer does not know become <unk>."""
    model.eval()
    device = next(model.parameters()).device
    ids, lengths = tokenizer.batch(list(texts))  # (N, L), (N,): a ValueError for an empty list
    return model.encode_text(ids.to(device), lengths.to(device)).cpu()


class MiniCLIPEncoders:
    """A MiniCLIP and its tokenizer behind the common interface: encode_images(images), encode_texts(texts)."""

    def __init__(self, model: MiniCLIP, tokenizer: Tokenizer | None = None):
        self.model, self.tokenizer = model, tokenizer or scene_tokenizer()
        if len(self.tokenizer) != model.vocab_size:
            raise ValueError(f"The tokenizer has {len(self.tokenizer)} tokens but the model embeds "
                             f"{model.vocab_size}: they were not made for each other.")

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, S, S) in [0, 1] -> (N, d) unit vectors on the CPU."""
        return encode_images(self.model, images)

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """M texts -> (M, d) unit vectors on the CPU."""
        return encode_texts(self.model, self.tokenizer, texts)


def zero_shot_labels(scenes: Scenes) -> torch.Tensor:
    """(N,) the index in CLASS_NAMES of each one-object scene's object."""
    if any(len(objects) != 1 for objects in scenes.objects):
        raise ValueError("Zero-shot classification here names one object per image: use one-object scenes "
                         "(make_scenes(..., n_objects=1) or zero_shot_scenes).")
    return torch.tensor([CLASS_NAMES.index(objects[0].name) for objects in scenes.objects])


def zero_shot_classify(clip: CLIPLike, images: torch.Tensor, class_names: Sequence[str] = CLASS_NAMES,
                       templates: Sequence[str] = SCENE_TEMPLATES) -> torch.Tensor:
    """(N,) the class each image's embedding is closest to, among prompt-averaged class embeddings; no training."""
    classes = class_embeddings(clip.encode_texts, class_names, templates)  # (C, d)
    return zero_shot_predict(clip.encode_images(images), classes)


def zero_shot_accuracy(clip: CLIPLike, scenes: Scenes, templates: Sequence[str] = SCENE_TEMPLATES) -> float:
    """Fraction of one-object scenes whose 'colour shape' (one of 18) the model names zero-shot."""
    predicted = zero_shot_classify(clip, scenes.images, CLASS_NAMES, templates)
    return (predicted == zero_shot_labels(scenes)).double().mean().item()


def similarity_matrix(clip: CLIPLike, images: torch.Tensor, captions: Sequence[str]) -> torch.Tensor:
    """Cosine similarities (N, M) of N images (rows) and M captions (columns)."""
    return clip.encode_images(images) @ clip.encode_texts(captions).T


def retrieval_recall(clip: CLIPLike, images: torch.Tensor, captions: Sequence[str], ks: Sequence[int] = (1, 5)
                     ) -> dict[str, float]:
    """{'image_to_text@k', 'text_to_image@k'}: how often image i's caption i (and back) ranks among the top k."""
    if len(images) != len(captions):
        raise ValueError(f"Retrieval needs one caption per image, got {len(images)} images, {len(captions)} captions.")
    similarity = similarity_matrix(clip, images, captions)  # (N, N), matches on the diagonal
    recalls = {}
    for k in ks:
        recalls[f"image_to_text@{k}"] = recall_at_k(similarity, k)
        recalls[f"text_to_image@{k}"] = recall_at_k(similarity.T, k)
    return recalls
