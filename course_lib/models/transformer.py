"""A tiny transformer (lecture 4): sinusoidal positions, multi-head self-attention, an MLP, residuals.

`TransformerEncoder` returns the hidden states and, for every layer, its per-head attention maps,
so a lecture can draw what each head looks at. `causal=True` makes it a decoder-style (masked)
stack: position i only sees positions 0..i. It is the course's one transformer stack: lecture 4's tiny
transformers, lecture 5's CLIP text encoder and lecture 7's TinyLM (which feeds it embeddings) are all this.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from course_lib.models.attention import MultiHeadAttention, causal_mask


def sinusoidal_positions(length: int, d_model: int) -> torch.Tensor:
    """(length, d_model): PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(p / 10000^(2i/d))."""
    for name, value in (("length", length), ("d_model", d_model)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}.")
    if d_model % 2:
        raise ValueError(f"Sinusoidal positions need an even d_model, got {d_model}.")
    position = torch.arange(length, dtype=torch.float32)[:, None]  # (L, 1)
    frequency = torch.exp(-math.log(10000.0) * torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)  # (d/2,)
    table = torch.zeros(length, d_model)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table


class Block(nn.Module):
    """One pre-norm transformer layer: x + attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, d_model: int, n_heads: int, mlp_ratio: int = 4):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, n_heads)
        self.ln_2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, mlp_ratio * d_model), nn.GELU(), nn.Linear(mlp_ratio * d_model, d_model))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, need_weights: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (B, L, d) -> (B, L, d), attention weights (B, heads, L, L) if need_weights (else None: fused attention)."""
        h = self.ln_1(x)
        attended, weights = self.attn(h, h, h, mask=mask, need_weights=need_weights)  # queries, keys, values: all x
        x = x + attended
        return x + self.mlp(self.ln_2(x)), weights


class TransformerEncoder(nn.Module):
    """The course's one transformer stack: inputs + sinusoidal positions -> n_layers Blocks -> LayerNorm.

    Its inputs are token ids (B, L), embedded here (scaled by sqrt(d_model), as in 'Attention Is All You Need'),
    or embeddings (B, L, d_model) made elsewhere: image tokens (LLaVA's TinyLM), image patches (a ViT). Built with
    vocab_size=None it has no embedding table and takes embeddings only.
    """

    def __init__(self, vocab_size: int | None, d_model: int = 64, n_heads: int = 4, n_layers: int = 2,
                 max_len: int = 64, causal: bool = False):
        super().__init__()
        self.causal, self.max_len, self.d_model = causal, max_len, d_model
        self.embed = nn.Embedding(vocab_size, d_model) if vocab_size is not None else None
        self.register_buffer("positions", sinusoidal_positions(max_len, d_model), persistent=False)
        self.blocks = nn.ModuleList(Block(d_model, n_heads) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)

    def forward(self, inputs: torch.Tensor, key_padding_mask: torch.Tensor | None = None, need_weights: bool = False
                ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """token ids (B, L) or embeddings (B, L, d) -> hidden states (B, L, d), [per-layer weights (B, heads, L, L)].

        key_padding_mask (B, L) is True on real tokens; padding is never attended to. The weights are computed
        only with need_weights=True; otherwise the layers use the fused kernel and the list is empty.
        """
        x = self.embed_inputs(inputs)  # (B, L, d), positions added
        length = x.shape[1]
        mask = causal_mask(length, x.device) if self.causal else None  # (L, L)
        if key_padding_mask is not None:
            padding = key_padding_mask[:, None, None, :]  # (B, 1, 1, L)
            mask = padding if mask is None else mask & padding
        maps = []
        for block in self.blocks:
            x, weights = block(x, mask, need_weights)
            maps += [weights] if need_weights else []
        return self.ln_f(x), maps

    def embed_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """token ids (B, L) or embeddings (B, L, d) -> (B, L, d) with the positions added."""
        if inputs.is_floating_point():
            if inputs.ndim != 3 or inputs.shape[-1] != self.d_model:
                raise ValueError(f"Expected input embeddings (batch, length, {self.d_model}), "
                                 f"got {tuple(inputs.shape)}.")
        elif self.embed is None:
            raise ValueError("This transformer has no vocabulary (vocab_size=None): give it embeddings (B, L, d).")
        elif inputs.ndim != 2:
            raise ValueError(f"Expected token ids (batch, length), got shape {tuple(inputs.shape)}.")
        length = inputs.shape[1]
        if length > self.max_len:
            raise ValueError(f"A sequence of {length} tokens is longer than this model's max_len={self.max_len}.")
        x = inputs if inputs.is_floating_point() else self.embed(inputs) * math.sqrt(self.d_model)
        return x + self.positions[:length]


class TinyTransformer(nn.Module):
    """A TransformerEncoder with a linear head: one prediction per position (a tagger, or with causal=True a language model)."""

    def __init__(self, vocab_size: int, n_outputs: int | None = None, **encoder_kwargs):
        super().__init__()
        self.encoder = TransformerEncoder(vocab_size, **encoder_kwargs)
        self.head = nn.Linear(self.encoder.d_model, n_outputs or vocab_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, L) -> logits (B, L, n_outputs)."""
        hidden, _ = self.encoder(tokens)
        return self.head(hidden)

    @torch.no_grad()
    def attention_maps(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, L) -> every map at once, (layers, B, heads, L, L)."""
        return torch.stack(self.encoder(tokens, need_weights=True)[1])


def per_position_loss(model: nn.Module, tokens: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the model's per-position logits (B, L, V) against targets (B, L); target -100 is ignored."""
    logits = model(tokens)
    return nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)
