"""MiniCLIP (lecture 5): a small CNN for images, the course's transformer for captions, one shared embedding space.

CLIP's recipe (Radford et al. 2021, Figure 3's pseudocode), in miniature:

    I_f = image_encoder(I)                  # (N, d_i)  a small CNN here, a ResNet or ViT in CLIP
    T_f = text_encoder(T)                   # (N, d_t)  the transformer's state at the end-of-text token
    I_e = l2_normalize(I_f @ W_i)           # (N, d_e)  linear projections into the shared space
    T_e = l2_normalize(T_f @ W_t)           # (N, d_e)
    logits = I_e @ T_e.T * exp(t)           # (N, N)    scaled cosine similarities; t is learned
    loss = (CE(logits, arange(N)) + CE(logits.T, arange(N))) / 2

The text encoder is causal, as CLIP's is: each word sees only the words before it, so the last token,
the <eos> the tokenizer appends, is the only one that has read the whole caption, and it is the one
pooled. The image encoder flattens its last feature map instead of averaging it, so the embedding still
knows where things are (captions say 'left of', 'above').
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from course_lib.contrastive import clip_logits, clip_loss
from course_lib.models.attention import padding_mask
from course_lib.models.transformer import TransformerEncoder

INIT_LOGIT_SCALE = math.log(1 / 0.07)  # CLIP starts at temperature 0.07
MAX_LOGIT_SCALE = math.log(100.0)  # and clamps exp(t) to at most 100, so training stays stable


class ImageEncoder(nn.Module):
    """Three conv3x3-ReLU-maxpool2 stages, flatten, linear, ReLU: (B, C, S, S) -> (B, width)."""

    def __init__(self, in_channels: int = 3, channels: tuple[int, int, int] = (32, 64, 64), image_size: int = 32,
                 width: int = 128):
        super().__init__()
        if image_size % 8:
            raise ValueError(f"Three 2x2 poolings need an image size divisible by 8, got {image_size}.")
        c1, c2, c3 = channels
        self.in_channels, self.image_size, self.feature_channels = in_channels, image_size, c3
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c2, c3, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.fc = nn.Linear(c3 * (image_size // 8) ** 2, width)

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, S, S) -> the last feature map (B, feature_channels, S/8, S/8): one vector per region."""
        c, s = self.in_channels, self.image_size
        if images.ndim != 4 or images.shape[1:] != (c, s, s):
            raise ValueError(f"Expected images (batch, {c}, {s}, {s}), got {tuple(images.shape)}.")
        return self.features(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, S, S) -> features (B, width)."""
        return F.relu(self.fc(self.feature_map(images).flatten(1)))  # (B, c3 * (S/8)^2) -> (B, width)


class MiniCLIP(nn.Module):
    """Image encoder + causal text transformer, each linearly projected to a shared space of unit vectors."""

    def __init__(self, vocab_size: int, embed_dim: int = 64, *, in_channels: int = 3, image_size: int = 32,
                 channels: tuple[int, int, int] = (32, 64, 64), image_width: int = 128, d_model: int = 64,
                 n_heads: int = 4, n_layers: int = 2, max_len: int = 16):
        super().__init__()
        self.image_encoder = ImageEncoder(in_channels, channels, image_size, image_width)
        self.text_encoder = TransformerEncoder(vocab_size, d_model, n_heads, n_layers, max_len, causal=True)
        self.image_projection = nn.Linear(image_width, embed_dim, bias=False)  # W_i
        self.text_projection = nn.Linear(d_model, embed_dim, bias=False)  # W_t
        self.logit_scale = nn.Parameter(torch.tensor(INIT_LOGIT_SCALE))  # t: logits are cosines times exp(t)
        self.vocab_size, self.max_len = vocab_size, max_len

    def scale(self) -> torch.Tensor:
        """exp(t), clamped to [1, 100] as in CLIP: the factor that turns cosine similarities into logits."""
        return self.logit_scale.clamp(0.0, MAX_LOGIT_SCALE).exp()

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """images (N, C, S, S) in [0, 1] -> unit vectors (N, embed_dim)."""
        return F.normalize(self.image_projection(self.image_encoder(images)), dim=-1)

    def encode_text(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Token ids (N, L) padded with 0, lengths (N,) counting the final <eos> -> unit vectors (N, embed_dim)."""
        if ids.ndim != 2 or ids.dtype != torch.long:
            raise ValueError(f"Expected token ids (batch, length) of dtype int64, got {tuple(ids.shape)} {ids.dtype}.")
        if lengths.shape != ids.shape[:1]:
            raise ValueError(f"Expected one length per caption, shape ({len(ids)},), got {tuple(lengths.shape)}.")
        if len(ids) and (lengths.min() < 1 or lengths.max() > ids.shape[1]):
            raise ValueError(f"Every length must be between 1 and {ids.shape[1]} (the padded length), "
                             f"got {lengths.min().item()}..{lengths.max().item()}.")
        if len(ids) and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"Token ids must lie in 0..{self.vocab_size - 1}; was the tokenizer built for this model?")
        hidden, _ = self.text_encoder(ids, key_padding_mask=padding_mask(lengths, ids.shape[1]))  # (N, L, d_model)
        eos = hidden[torch.arange(len(ids), device=ids.device), lengths - 1]  # (N, d_model): the last real token
        return F.normalize(self.text_projection(eos), dim=-1)

    def forward(self, images: torch.Tensor, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """N images and their N captions -> logits (N, N): scaled cosine similarities, matches on the diagonal."""
        if len(images) != len(ids):
            raise ValueError(f"Expected as many captions as images, got {len(images)} images and {len(ids)} captions.")
        return clip_logits(self.encode_image(images), self.encode_text(ids, lengths),
                           self.logit_scale.clamp(0.0, MAX_LOGIT_SCALE))


def clip_batch_loss(model: MiniCLIP, images: torch.Tensor, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric cross-entropy over one batch of matching (image, caption) pairs: a loss_fn for train()."""
    return clip_loss(model(images, ids, lengths))
