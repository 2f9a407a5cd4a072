"""Contrastive image-text learning on embeddings (lecture 5): CLIP's loss, zero-shot classification, retrieval.

These functions know nothing about the encoders: they take embeddings, so the same code serves the
course's MiniCLIP and a real CLIP loaded from Hugging Face.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch.nn import functional as F

CLIP_TEMPLATES = ("a photo of a {}.", "a {} shape.", "a picture of a {}.", "a drawing of a {}.")  # prompt templates


def clip_logits(image_embeddings: torch.Tensor, text_embeddings: torch.Tensor, logit_scale: torch.Tensor | float
                ) -> torch.Tensor:
    """Cosine similarities times exp(t): I (N, d), T (M, d), t = log(temperature scale) -> logits (N, M).

    As in the CLIP paper's pseudocode: both sides L2-normalised, logits = I_e T_e^T * exp(t).
    """
    image_embeddings = F.normalize(image_embeddings, dim=-1)
    text_embeddings = F.normalize(text_embeddings, dim=-1)
    scale = torch.as_tensor(logit_scale, dtype=image_embeddings.dtype, device=image_embeddings.device).exp()
    return scale * image_embeddings @ text_embeddings.T


def clip_loss(logits: torch.Tensor) -> torch.Tensor:
    """Symmetric cross-entropy of an (N, N) logit matrix whose diagonal holds the matching pairs.

    loss_i: each image must pick its own caption among N (rows); loss_t: each caption its own image (columns).
    """
    if logits.dim() != 2 or logits.shape[0] != logits.shape[1]:
        raise ValueError(f"CLIP's loss needs a square (N, N) logit matrix, got shape {tuple(logits.shape)}.")
    labels = torch.arange(logits.shape[0], device=logits.device)  # pair i is image i with text i
    loss_images = F.cross_entropy(logits, labels)  # over rows: image -> texts
    loss_texts = F.cross_entropy(logits.T, labels)  # over columns: text -> images
    return (loss_images + loss_texts) / 2


def class_embeddings(encode_text: Callable[[list[str]], torch.Tensor], class_names: Sequence[str],
                     templates: Sequence[str] = CLIP_TEMPLATES) -> torch.Tensor:
    """One unit vector per class: the mean of the normalised embeddings of its prompts, normalised -> (C, d)."""
    for name, value in (("class_names", class_names), ("templates", templates)):
        if isinstance(value, str):
            raise TypeError(f"{name} must be a list of strings, got the single string {value!r} "
                            f"(for one, pass [{value!r}]).")
    if not class_names or not templates:
        raise ValueError("Zero-shot classification needs at least one class name and one prompt template.")
    if any("{}" not in t for t in templates):
        raise ValueError(f"Every template needs a '{{}}' where the class name goes: {list(templates)}.")
    prompts = [t.format(name) for name in class_names for t in templates]  # class-major order
    embeddings = F.normalize(encode_text(prompts), dim=-1)  # (C * T, d)
    per_class = embeddings.view(len(class_names), len(templates), -1).mean(1)  # (C, d)
    return F.normalize(per_class, dim=-1)


def zero_shot_predict(image_embeddings: torch.Tensor, class_embeddings: torch.Tensor) -> torch.Tensor:
    """The class whose text embedding is most cosine-similar to each image: (N, d), (C, d) -> (N,) class indices."""
    similarity = F.normalize(image_embeddings, dim=-1) @ F.normalize(class_embeddings, dim=-1).T  # (N, C)
    return similarity.argmax(dim=-1)


def recall_at_k(similarity: torch.Tensor, k: int) -> float:
    """Fraction of queries (rows) whose match (the same index, the diagonal) is among their k most similar columns.

    Ties count in the match's favour: a row's match is found when fewer than k columns are strictly more similar,
    so a duplicate caption (a column equal to the match) never pushes the match out of the top k.
    """
    if similarity.dim() != 2 or similarity.shape[0] != similarity.shape[1]:
        raise ValueError(f"recall@k needs a square (N, N) similarity matrix with matches on the diagonal, "
                         f"got shape {tuple(similarity.shape)}.")
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"k must be an integer, got {k!r}.")
    if not 1 <= k <= similarity.shape[1]:
        raise ValueError(f"k must be between 1 and {similarity.shape[1]}, got {k}.")
    match = similarity.diagonal()[:, None]  # (N, 1)
    better = (similarity > match).sum(dim=1)  # (N,): columns strictly more similar than the match
    return (better < k).float().mean().item()
