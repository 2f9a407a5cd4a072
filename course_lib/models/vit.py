"""A tiny Vision Transformer (lecture 8): an image is a sequence of patches, and the rest is lecture 4's transformer.

    image (B, C, H, W) -> patches (B, N, C*P*P) -> linear -> (B, N, d)      N = (H/P) * (W/P), row-major
    prepend a learned [CLS] token, add position embeddings                   (B, N+1, d)
    the course's pre-norm Blocks, final LayerNorm, linear head on [CLS]       (B, n_classes)

Cutting into patches and applying one linear map to each is exactly a convolution with kernel P and stride P,
which is how `PatchEmbedding` computes it. Without position embeddings self-attention cannot tell where a patch
was: shuffling the patches shuffles the outputs the same way, and the [CLS] output does not change at all.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from course_lib.models.transformer import Block, sinusoidal_positions
from course_lib.validation import describe, image_batch, require_positive_int

POSITIONS = ("learned", "learned2d", "sinusoidal", "none")


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, C*P*P): non-overlapping P x P patches, row-major, each flattened in (C, P, P) order."""
    require_positive_int(patch_size=patch_size)
    _check_images(images, patch_size)
    batch, channels, height, width = images.shape
    gh, gw, p = height // patch_size, width // patch_size, patch_size
    patches = images.reshape(batch, channels, gh, p, gw, p)  # split H into (gh, P) and W into (gw, P)
    patches = patches.permute(0, 2, 4, 1, 3, 5)  # (B, gh, gw, C, P, P): patch (row, col), then its pixels
    return patches.reshape(batch, gh * gw, channels * p * p)  # same as F.unfold(images, P, stride=P).transpose(1, 2)


def unpatchify(patches: torch.Tensor, image_shape: tuple[int, int], patch_size: int) -> torch.Tensor:
    """(B, N, C*P*P) -> (B, C, H, W): the inverse of patchify."""
    require_positive_int(patch_size=patch_size)
    height, width = image_shape
    if height % patch_size or width % patch_size:
        raise ValueError(f"image_shape {tuple(image_shape)} is not divisible by patch_size={patch_size}.")
    gh, gw, p = height // patch_size, width // patch_size, patch_size
    if patches.ndim != 3 or patches.shape[1] != gh * gw or patches.shape[2] % (p * p):
        raise ValueError(f"patches must be (B, {gh * gw}, C*{p * p}) for image_shape {tuple(image_shape)}, "
                         f"got {tuple(patches.shape)}.")
    batch, channels = len(patches), patches.shape[2] // (p * p)
    images = patches.reshape(batch, gh, gw, channels, p, p).permute(0, 3, 1, 4, 2, 5)  # (B, C, gh, P, gw, P)
    return images.reshape(batch, channels, height, width)


class PatchEmbedding(nn.Module):
    """Patchify + one shared linear map, computed as a convolution (kernel P, stride P): (B, C, H, W) -> (B, N, d)."""

    def __init__(self, in_channels: int, patch_size: int, d_model: int):
        super().__init__()
        require_positive_int(patch_size=patch_size)
        self.in_channels, self.patch_size = in_channels, patch_size
        self.proj = nn.Conv2d(in_channels, d_model, kernel_size=patch_size, stride=patch_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        _check_images(images, self.patch_size)
        if images.shape[1] != self.in_channels:
            raise ValueError(f"images have {images.shape[1]} channels, this embedding expects {self.in_channels}.")
        return self.proj(images).flatten(2).transpose(1, 2)  # (B, d, gh, gw) -> (B, N, d), row-major


class ViT(nn.Module):
    """Patch embedding, [CLS] token, position embeddings, the course's Blocks, LayerNorm, a linear head on [CLS]."""

    def __init__(self, image_size: int | tuple[int, int], patch_size: int, in_channels: int, n_classes: int,
                 d_model: int = 32, n_heads: int = 4, n_layers: int = 2, positions: str = "learned"):
        super().__init__()
        self.image_shape = _check_vit_arguments(image_size, patch_size, d_model, n_heads, positions)
        self.patch_size, self.in_channels, self.positions = patch_size, in_channels, positions
        gh, gw = self.grid
        self.patch_embed = PatchEmbedding(in_channels, patch_size, d_model)
        self.cls_token = nn.Parameter(0.02 * torch.randn(1, 1, d_model))
        if positions == "learned":  # one free vector per token, [CLS] included
            self.pos_table = nn.Parameter(0.02 * torch.randn(gh * gw + 1, d_model))
        elif positions == "learned2d":  # a vector per row plus a vector per column; [CLS] has its own
            self.pos_rows = nn.Parameter(0.02 * torch.randn(gh, d_model))
            self.pos_cols = nn.Parameter(0.02 * torch.randn(gw, d_model))
            self.pos_cls = nn.Parameter(0.02 * torch.randn(d_model))
        elif positions == "sinusoidal":  # fixed, lecture 4's table over the N+1 tokens
            self.register_buffer("pos_table", sinusoidal_positions(gh * gw + 1, d_model), persistent=False)
        self.blocks = nn.ModuleList(Block(d_model, n_heads) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_classes)

    @property
    def grid(self) -> tuple[int, int]:
        """(H/P, W/P): the patch grid; patch n sits at row n // (W/P), column n % (W/P)."""
        return self.image_shape[0] // self.patch_size, self.image_shape[1] // self.patch_size

    def as_images(self, x: torch.Tensor) -> torch.Tensor:
        """Rows (B, H*W) -> images (B, 1, H, W) for one-channel models; images (B, C, H, W) pass through unchanged."""
        return image_batch(x, self.image_shape, self.in_channels)

    def position_table(self) -> torch.Tensor | None:
        """(N+1, d) what is added to the tokens, [CLS] first; None for positions='none'."""
        if self.positions == "learned2d":
            patches = (self.pos_rows[:, None, :] + self.pos_cols[None, :, :]).flatten(0, 1)  # (gh*gw, d)
            return torch.cat([self.pos_cls[None], patches])
        return None if self.positions == "none" else self.pos_table

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """images -> tokens (B, N+1, d): [CLS] then the patches, positions added."""
        patches = self.patch_embed(self.as_images(images))  # (B, N, d)
        cls = self.cls_token.expand(len(patches), -1, -1)  # (B, 1, d)
        tokens = torch.cat([cls, patches], dim=1)  # (B, N+1, d)
        table = self.position_table()
        return tokens if table is None else tokens + table

    def encode(self, tokens: torch.Tensor, need_weights: bool = False) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """tokens (B, L, d) -> hidden states (B, L, d), [per-layer weights (B, heads, L, L)]: Blocks then LayerNorm.

        The weights are computed only with need_weights=True (otherwise fused attention, and an empty list).
        """
        maps = []
        for block in self.blocks:
            tokens, weights = block(tokens, need_weights=need_weights)
            maps += [weights] if need_weights else []
        return self.ln_f(tokens), maps

    def forward_with_attention(self, images: torch.Tensor, need_weights: bool = True
                               ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """images -> logits (B, n_classes), [per-layer weights (B, heads, N+1, N+1)]."""
        hidden, maps = self.encode(self.embed(images), need_weights)
        return self.head(hidden[:, 0]), maps  # the [CLS] token's final state decides

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, H, W), or rows (B, H*W) for one channel -> logits (B, n_classes); fused attention."""
        return self.forward_with_attention(images, need_weights=False)[0]

    @torch.no_grad()
    def attention_maps(self, images: torch.Tensor) -> torch.Tensor:
        """Every map at once, (layers, B, heads, N+1, N+1); token 0 is [CLS]."""
        return torch.stack(self.forward_with_attention(images)[1])

    @torch.no_grad()
    def position_embeddings(self) -> torch.Tensor:
        """(N, d): the embedding added to each patch position (no [CLS]); zeros for positions='none'."""
        table = self.position_table()
        if table is None:
            return torch.zeros(self.grid[0] * self.grid[1], self.cls_token.shape[-1], device=self.cls_token.device)
        return table[1:].clone()


def position_similarity(embeddings: torch.Tensor) -> torch.Tensor:
    """(N, d) position embeddings -> (N, N) cosine similarities (a zero vector is similar to nothing)."""
    if not isinstance(embeddings, torch.Tensor) or embeddings.ndim != 2:
        raise ValueError(f"embeddings must be a tensor (N, d), got {describe(embeddings)}.")
    unit = F.normalize(embeddings.detach().float(), dim=-1)  # (N, d)
    return unit @ unit.T


def nearest_positions(similarity: torch.Tensor, grid: tuple[int, int], k: int = 1) -> torch.Tensor:
    """(N, N) similarities -> (N, k, 2) long: for each position, the (row, col) of its k most similar others."""
    gh, gw = grid
    if not isinstance(similarity, torch.Tensor) or similarity.shape != (gh * gw, gh * gw):
        raise ValueError(f"similarity must be (N, N) with N = {gh}*{gw} = {gh * gw}, got {describe(similarity)}.")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k < gh * gw:
        raise ValueError(f"k must be an integer from 1 to N-1 = {gh * gw - 1}, got {k!r}.")
    others = similarity.detach().clone().fill_diagonal_(float("-inf"))  # a position is not its own neighbour
    best = others.topk(k, dim=-1).indices  # (N, k) flat indices
    return torch.stack([best // gw, best % gw], dim=-1)  # (N, k, 2): (row, col)


def _check_images(images: torch.Tensor, patch_size: int) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError(f"images must be a tensor (B, C, H, W), got {describe(images)}.")
    height, width = images.shape[-2:]
    if height % patch_size or width % patch_size:
        raise ValueError(f"images of height {height} and width {width} cannot be cut into {patch_size}x{patch_size} "
                         f"patches: both must be divisible by patch_size={patch_size}.")


def _check_vit_arguments(image_size, patch_size, d_model, n_heads, positions) -> tuple[int, int]:
    shape = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(shape) != 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
        raise ValueError(f"image_size must be a positive integer or (height, width), got {image_size!r}.")
    require_positive_int(patch_size=patch_size)
    if shape[0] % patch_size or shape[1] % patch_size:
        raise ValueError(f"image_size {shape} is not divisible by patch_size={patch_size}.")
    if positions not in POSITIONS:
        raise ValueError(f"positions must be one of {POSITIONS}, got {positions!r}.")
    if d_model % n_heads:
        raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}.")
    if positions == "sinusoidal" and d_model % 2:
        raise ValueError(f"positions='sinusoidal' needs an even d_model, got {d_model}.")
    return shape

