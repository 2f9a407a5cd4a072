"""Visual attention (lecture 4): 'which shape is red?' The word asks, the regions of the image answer.

A small CNN turns a scene (B, 3, S, S) into a feature map (B, d, S/4, S/4): with S = 32, 8x8 regions of
4x4 pixels, each a d-vector, to which a learned embedding of the region's position is added. The regions
are the keys and values; the query is the embedding of a colour word. Scaled dot-product attention
weighs the regions, and a linear head reads the shape of the attended object from the context vector.
The weights, reshaped to (S/4, S/4), show where the model looked.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from course_lib.data.shapes import COLOURS, SHAPES, Scenes
from course_lib.models.attention import scaled_dot_product_attention


class VisualAttention(nn.Module):
    """CNN regions (+ position) as keys and values, a colour word's embedding as the query, a linear head on top."""

    def __init__(self, channels: tuple[int, int] = (16, 32), d_model: int = 32, image_size: int = 32,
                 words: tuple[str, ...] = COLOURS, classes: tuple[str, ...] = SHAPES):
        super().__init__()
        if image_size % 4:
            raise ValueError(f"Two 2x2 poolings need an image size divisible by 4, got {image_size}.")
        c1, c2 = channels
        self.image_size, self.grid = image_size, (image_size // 4, image_size // 4)
        self.words, self.classes = tuple(words), tuple(classes)
        self.features = nn.Sequential(
            nn.Conv2d(3, c1, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c2, d_model, kernel_size=3, padding=1), nn.ReLU(),
        )
        self.position = nn.Parameter(0.02 * torch.randn(d_model, *self.grid))  # one learned vector per region
        self.word = nn.Embedding(len(words), d_model)
        self.key, self.value = nn.Linear(d_model, d_model), nn.Linear(d_model, d_model)
        self.head = nn.Linear(d_model, len(classes))

    def word_ids(self, words: list[str]) -> torch.Tensor:
        """['red', 'blue'] -> tensor([0, 2]): the indices the model embeds."""
        unknown = [w for w in words if w not in self.words]
        if unknown:
            raise ValueError(f"Unknown words {unknown}: the model knows {self.words}.")
        return torch.tensor([self.words.index(w) for w in words])

    def attend(self, images: torch.Tensor, words: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images (B, 3, S, S), word indices (B,) -> class scores (B, n_classes), attention weights (B, S/4, S/4)."""
        if images.ndim != 4 or images.shape[1:] != (3, self.image_size, self.image_size):
            size = self.image_size
            raise ValueError(f"Expected images (batch, 3, {size}, {size}), got {tuple(images.shape)}.")
        if words.shape != images.shape[:1]:
            raise ValueError(f"Expected one word per image, shape ({len(images)},), got {tuple(words.shape)}.")
        regions = (self.features(images) + self.position).flatten(2).transpose(1, 2)  # (B, h*w, d)
        query = self.word(words)[:, None, :]  # (B, 1, d): one query per image
        context, weights = scaled_dot_product_attention(query, self.key(regions), self.value(regions))
        # context (B, 1, d), weights (B, 1, h*w): how much each region answers the word
        return self.head(context[:, 0]), weights[:, 0].reshape(-1, *self.grid)

    def forward(self, images: torch.Tensor, words: torch.Tensor) -> torch.Tensor:
        return self.attend(images, words)[0]  # (B, n_classes): the class scores (logits)


class ColourQueries(NamedTuple):
    """One question per object, 'which shape is <colour>?': the image, the word, the answer and where the object is."""

    images: torch.Tensor  # (Q, 3, H, W)
    words: torch.Tensor  # (Q,) indices into COLOURS
    shapes: torch.Tensor  # (Q,) indices into SHAPES: the answer
    boxes: torch.Tensor  # (Q, 4) the queried object's box (x0, y0, x1, y1), in pixels


def colour_queries(scenes: Scenes) -> ColourQueries:
    """Ask about every object of every scene (a scene's colours differ, so each word names one object)."""
    rows = [(i, COLOURS.index(o.colour), SHAPES.index(o.shape), o.box)
            for i, objs in enumerate(scenes.objects) for o in objs]
    if not rows:
        raise ValueError("No scenes, so no questions to ask.")
    index, words, shapes, boxes = zip(*rows)
    return ColourQueries(scenes.images[torch.tensor(index)], torch.tensor(words), torch.tensor(shapes),
                         torch.tensor(boxes, dtype=torch.float32))


def shape_loss(model: nn.Module, images: torch.Tensor, words: torch.Tensor, shapes: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the shape scores for (image, colour word) pairs: a loss_fn for course_lib.train.train."""
    return F.cross_entropy(model(images, words), shapes)


def regions_in_boxes(boxes: torch.Tensor, grid: tuple[int, int], image_size: int) -> torch.Tensor:
    """(Q, h, w) bool: True where a region's centre lies inside the box (x0, y0, x1, y1) of boxes (Q, 4)."""
    h, w = grid
    cy = (torch.arange(h) + 0.5) * image_size / h  # region centres, in pixels
    cx = (torch.arange(w) + 0.5) * image_size / w
    x0, y0, x1, y1 = (boxes[:, i, None, None] for i in range(4))  # (Q, 1, 1) each
    return (cx[None, None, :] >= x0) & (cx[None, None, :] <= x1) & (cy[None, :, None] >= y0) & (cy[None, :, None] <= y1)


@torch.no_grad()
def evaluate_attention(model: VisualAttention, queries: ColourQueries, batch_size: int = 1024) -> dict[str, float]:
    """{'accuracy': shapes right, 'hit_rate': attention's argmax in the queried box, 'mass_in_box': weight there}."""
    device = next(model.parameters()).device
    model.eval()
    batches = [slice(i, i + batch_size) for i in range(0, len(queries.words), batch_size)]
    logits, weights = zip(*(model.attend(queries.images[b].to(device), queries.words[b].to(device)) for b in batches))
    logits, weights = torch.cat(logits).cpu(), torch.cat(weights).cpu()  # (Q, n_classes), (Q, h, w)
    inside = regions_in_boxes(queries.boxes, model.grid, model.image_size).flatten(1)  # (Q, h*w)
    flat = weights.flatten(1)
    return {
        "accuracy": (logits.argmax(1) == queries.shapes).double().mean().item(),
        "hit_rate": inside.gather(1, flat.argmax(1, keepdim=True)).double().mean().item(),
        "mass_in_box": (flat * inside).sum(1).double().mean().item(),
    }
