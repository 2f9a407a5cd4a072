"""Lecture 8's measurements, shared by the lecture and its tests: ViT against CNN, positions, rollout, attention cost.

Each function returns plain numbers or rows; the lecture prints and draws them, the tests assert the claims.
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib.data import load_digits
from course_lib.metrics import classification_accuracy
from course_lib.models.hard_attention import vit_logits_with_hard_attention
from course_lib.models.unet import count_parameters
from course_lib.models.vit import ViT, nearest_positions, position_similarity
from course_lib.recipes.vision import LECTURE8_CNN_ATTENTIONS, LECTURE8_FRACTIONS, CNNRecipe, ViTRecipe, digits_subset
from course_lib.vision_attention import attention_rollout, best_seconds


def digits_test_accuracy(model: nn.Module) -> float:
    """Accuracy on the 360 held-out test digits."""
    data = load_digits()
    return classification_accuracy(model, data.x_test, data.y_test)


def data_size_comparison(store, fractions=LECTURE8_FRACTIONS) -> list[dict]:
    """For each fraction of the training set: rows {fraction, n_train, vit, cnn} (test accuracies), same budget."""
    rows = []
    for fraction in fractions:
        vit = store.load(ViTRecipe(train_fraction=fraction)).model
        cnn = store.load(CNNRecipe(train_fraction=fraction)).model
        rows.append({"fraction": fraction, "n_train": len(digits_subset(fraction)[1]),
                     "vit": digits_test_accuracy(vit), "cnn": digits_test_accuracy(cnn)})
    return rows


def position_comparison(store) -> dict[str, float]:
    """Test accuracy of the ViT with each kind of position embedding ('learned', 'learned2d', 'none')."""
    return {kind: digits_test_accuracy(store.load(ViTRecipe(positions=kind)).model)
            for kind in ("learned", "learned2d", "none")}


def neighbour_shares(model: ViT) -> dict[str, float]:
    """How far each patch position's most similar position (cosine of the embeddings) lies: the share of positions
    whose nearest is one step away (a 4-neighbour), and in the same row or column; with the chance levels."""
    grid = model.grid
    nearest = nearest_positions(position_similarity(model.position_embeddings()), grid)[:, 0]  # (N, 2)
    rows, cols = torch.arange(grid[0]).repeat_interleave(grid[1]), torch.arange(grid[1]).repeat(grid[0])
    step = (nearest[:, 0] - rows).abs() + (nearest[:, 1] - cols).abs()
    line = (nearest[:, 0] == rows) | (nearest[:, 1] == cols)
    n = grid[0] * grid[1]
    neighbours = sum(min(r + 1, grid[0] - 1) - max(r - 1, 0) + min(c + 1, grid[1] - 1) - max(c - 1, 0)
                     for r in range(grid[0]) for c in range(grid[1]))  # sum over positions of their 4-neighbours
    return {"neighbour": (step == 1).float().mean().item(), "same_line": line.float().mean().item(),
            "neighbour_chance": neighbours / (n * (n - 1)), "same_line_chance": (grid[0] + grid[1] - 2) / (n - 1)}


def corner_similarity(model: ViT) -> dict[str, float]:
    """Mean cosine similarity of the four corner positions' embeddings to each other, and to the other positions."""
    similarity = position_similarity(model.position_embeddings())
    gh, gw = model.grid
    corners = torch.tensor([0, gw - 1, (gh - 1) * gw, gh * gw - 1])
    among = similarity[corners][:, corners]
    rest = torch.ones(gh * gw, dtype=torch.bool)
    rest[corners] = False
    pairs = len(corners) * (len(corners) - 1)  # ordered pairs of two different corners
    return {"corners": ((among.sum() - among.diagonal().sum()) / pairs).item(),
            "corners_to_rest": similarity[corners][:, rest].mean().item()}


def rollout_ink_share(model: ViT, images: torch.Tensor, threshold: float = 0.25) -> dict[str, float]:
    """Where the [CLS] rollout puts its mass: the share on patches with ink (a pixel above `threshold`), against
    the share of patches that have ink (what a uniform map would give)."""
    device = next(model.parameters()).device
    images = model.as_images(images).to(device)
    rollout = attention_rollout(model.attention_maps(images))[:, 0, 1:]  # (B, N): [CLS] row over the patches
    rollout = rollout / rollout.sum(-1, keepdim=True)
    p = model.patch_size
    ink = nn.functional.max_pool2d(images, p).flatten(1) > threshold  # (B, N)
    return {"rollout_on_ink": (rollout * ink).sum(-1).mean().item(), "ink_patches": ink.float().mean().item()}


def hard_attention_accuracy(model: ViT, draws: int = 5, seed: int = 0) -> dict[str, float]:
    """Test accuracy of the ViT as trained (soft), with its last layer's attention made hard by sampling (mean of
    `draws` draws) and by the argmax."""
    data = load_digits()
    device = next(model.parameters()).device
    x, y = data.x_test.to(device), data.y_test.to(device)
    generator = torch.Generator(device=device).manual_seed(seed)

    def accuracy(logits: torch.Tensor) -> float:
        return (logits.argmax(-1) == y).float().mean().item()

    sampled = [accuracy(vit_logits_with_hard_attention(model, x, generator=generator)) for _ in range(draws)]
    return {"soft": digits_test_accuracy(model), "sampled": sum(sampled) / draws,
            "argmax": accuracy(vit_logits_with_hard_attention(model, x, greedy=True))}


def cnn_attention_comparison(store, batch: int = 256, repeats: int = 5) -> list[dict]:
    """Lecture 3's CNN, plain and with each attention module: rows {attention, parameters, accuracy, ms} where ms
    is the best of `repeats` forward passes over `batch` test digits (it varies from machine to machine)."""
    x = load_digits().x_test[:batch]
    rows = []
    for attention in (None, *LECTURE8_CNN_ATTENTIONS):
        model = store.load(CNNRecipe(attention=attention)).model
        device = next(model.parameters()).device
        inputs = x.to(device)
        with torch.no_grad():
            model(inputs)  # warm-up
        rows.append({"attention": attention or "none", "parameters": count_parameters(model),
                     "accuracy": digits_test_accuracy(model), "ms": 1e3 * best_seconds(lambda: model(inputs), repeats)})
    return rows
