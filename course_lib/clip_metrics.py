"""How well a CLIP model links images and captions: zero-shot classification and retrieval (lecture 5).

Everything here takes `clip`, anything with the common interface shared by MiniCLIP (through MiniCLIPEncoders) and
the real CLIP of `course_lib.hub.load_hf_clip`: `encode_images(images (N, 3, H, W) in [0, 1]) -> (N, d)` and
`encode_texts(texts: list[str]) -> (M, d)`, both unit vectors on the CPU.

    clip = MiniCLIPEncoders(store.load(CLIPRecipe()).model)
    zero_shot_accuracy(clip, zero_shot_scenes(CLIPRecipe(), "held_out"))   # combinations never seen in training
"""

from __future__ import annotations

from typing import Protocol, Sequence

import torch

from course_lib.contrastive import class_embeddings, recall_at_k, zero_shot_predict
from course_lib.data.shapes import COLOURS, SHAPES, Scenes
from course_lib.data.tokenizer import Tokenizer, scene_tokenizer
from course_lib.models.clip import MiniCLIP

CLASS_NAMES = tuple(f"{c} {s}" for c in COLOURS for s in SHAPES)  # the 18 zero-shot classes, 'red circle', ...
SCENE_TEMPLATES = ("a small {}", "a large {}")  # in the captions' own words; other words become <unk>


class CLIPLike(Protocol):
    """What lecture 5 needs of a CLIP model: unit-vector embeddings of images and of texts, on the CPU."""

    def encode_images(self, images: torch.Tensor) -> torch.Tensor: ...  # (N, 3, H, W) in [0, 1] -> (N, d)

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor: ...  # M strings -> (M, d)


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
