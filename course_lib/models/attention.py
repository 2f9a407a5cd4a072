"""Attention, one small piece per idea (lecture 4). Every piece returns (output, weights).

Conventions: a mask is a bool tensor, True where a query MAY attend to a key (as in
torch.nn.functional.scaled_dot_product_attention); it broadcasts against the scores
(..., L_q, L_k). Every query needs at least one key it may attend to.

- `AdditiveAttention`: Bahdanau, score = v^T tanh(W_q q + W_k k)
- `MultiplicativeAttention`: Luong's 'dot', 'general' and 'concat' scores
  (the score functions themselves, and the rest of the table, are in `course_lib.models.scores`)
- `scaled_dot_product_attention`: softmax(q k^T / sqrt(d_k)) v, with padding and causal masks
- `MultiHeadAttention`: project, split heads, attend, merge heads, project
Self-attention is `attn(x, x, x)`; cross-attention is `attn(decoder_states, encoder_states, encoder_states)`.

The last two take `need_weights` (as torch.nn.MultiheadAttention does). True, the default: the explicit,
teachable computation, which builds the (L_q, L_k) weights and returns them. False: PyTorch's fused kernel
(F.scaled_dot_product_attention), the same output without keeping the weights (None is returned in their place):
what the models use when nobody draws the weights (training, sampling), faster and lighter for long sequences.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from course_lib.models import scores as score_table  # the formulas; imported as a module, not as names


def causal_mask(n: int, device: str | torch.device | None = None) -> torch.Tensor:
    """(n, n) bool, True on and below the diagonal: position i may look at positions 0..i only."""
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()


def padding_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """(batch, max_len) bool, True on the first lengths[b] positions of row b (real tokens), False on padding."""
    if not isinstance(lengths, torch.Tensor) or lengths.ndim != 1 or lengths.numel() == 0 \
            or lengths.is_floating_point():
        raise ValueError(f"lengths must be a non-empty 1-D integer tensor (one length per sequence), got {lengths!r}.")
    max_len = int(lengths.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lengths.device) < lengths[:, None]


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax over the last axis, where positions with mask False get exactly zero weight."""
    if mask is not None:
        _check_mask_dtype(mask)
        scores = scores.masked_fill(~mask, float("-inf"))  # before the softmax, never after
    return torch.softmax(scores, dim=-1)


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None, need_weights: bool = True
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """softmax(q k^T / sqrt(d_k)) v: q (..., L_q, d_k), k (..., L_k, d_k), v (..., L_k, d_v) -> (..., L_q, d_v), weights.

    need_weights=False: the same output from PyTorch's fused kernel, and None for the weights.
    """
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"Shapes do not fit: q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)} "
                         "(need q[-1] == k[-1] and k[-2] == v[-2]).")
    if not need_weights:
        if mask is not None:
            _check_mask_dtype(mask)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask), None  # never builds the weights
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., L_q, L_k)
    weights = masked_softmax(scores, mask)  # each row sums to 1
    return weights @ v, weights


def _check_mask_dtype(mask: torch.Tensor) -> None:
    if mask.dtype != torch.bool:
        raise TypeError(f"A mask must be a bool tensor (True = may attend), got {mask.dtype}.")


class AdditiveAttention(nn.Module):
    """Bahdanau attention: score(q, k) = v^T tanh(W_q q + W_k k), a one-hidden-layer network per pair."""

    def __init__(self, query_dim: int, key_dim: int, hidden_dim: int):
        super().__init__()
        self.W_q = nn.Linear(query_dim, hidden_dim, bias=False)
        self.W_k = nn.Linear(key_dim, hidden_dim, bias=False)
        self.v = nn.Linear(hidden_dim, 1, bias=False)

    def score(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """query (B, L_q, d_q), keys (B, L_k, d_k) -> scores (B, L_q, L_k)."""
        W = torch.cat([self.W_q.weight, self.W_k.weight], dim=1)  # (h, d_q + d_k): W [q; k] = W_q q + W_k k
        return score_table.additive_score(query, keys, W, self.v.weight[0])

    def forward(self, query, keys, values=None, mask=None):
        """Context vectors and weights; see `attend`."""
        return attend(self.score, query, keys, values, mask)


LUONG_SCORES = ("dot", "general", "concat")


class MultiplicativeAttention(nn.Module):
    """Luong attention: 'dot' q.k, 'general' q^T W k, 'concat' v^T tanh(W [q; k])."""

    def __init__(self, query_dim: int, key_dim: int, score: str = "general", hidden_dim: int | None = None):
        super().__init__()
        if score not in LUONG_SCORES:
            raise ValueError(f"Unknown Luong score {score!r}: choose one of {LUONG_SCORES}.")
        if score == "dot" and query_dim != key_dim:
            raise ValueError(f"The 'dot' score needs query_dim == key_dim, got {query_dim} and {key_dim}.")
        self.kind = score
        if score == "general":
            self.W = nn.Linear(key_dim, query_dim, bias=False)
        elif score == "concat":
            hidden_dim = hidden_dim or query_dim
            self.W = nn.Linear(query_dim + key_dim, hidden_dim, bias=False)
            self.v = nn.Linear(hidden_dim, 1, bias=False)

    def score(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """query (B, L_q, d_q), keys (B, L_k, d_k) -> scores (B, L_q, L_k)."""
        if self.kind == "dot":
            return score_table.dot_score(query, keys)
        if self.kind == "general":
            return score_table.general_score(query, keys, self.W.weight)  # W.weight (d_q, d_k)
        return score_table.additive_score(query, keys, self.W.weight, self.v.weight[0])  # 'concat' = additive

    def forward(self, query, keys, values=None, mask=None):
        """Context vectors and weights; see `attend`."""
        return attend(self.score, query, keys, values, mask)


def attend(score_fn, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor | None = None,
           mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Score, mask, softmax, weighted sum: the recipe every attention shares.

    query (B, d_q) for one decoder step, or (B, L_q, d_q); keys (B, L_k, d_k); values default to the keys.
    mask: for one step, a padding mask (B, L_k); for L_q queries, (B or 1, L_q or 1, L_k), e.g.
    causal_mask(L)[None] (a padding mask then reads padding_mask(lengths)[:, None, :]). A 2-D mask with L_q
    queries is refused: (L_q, L_k) and (B, L_k) cannot be told apart when B == L_q. Returns the context
    (B, d_v) or (B, L_q, d_v) and the weights (B, L_k) or (B, L_q, L_k).
    """
    values = keys if values is None else values
    _check_attend_shapes(query, keys, values, mask)
    one_step = query.dim() == 2
    if one_step:
        query = query[:, None, :]  # (B, 1, d_q)
        mask = None if mask is None else mask[:, None, :]  # the padding mask (B, L_k) of the one query
    weights = masked_softmax(score_fn(query, keys), mask)  # (B, L_q, L_k)
    context = weights @ values  # (B, L_q, d_v)
    return (context[:, 0], weights[:, 0]) if one_step else (context, weights)


def _check_attend_shapes(query, keys, values, mask) -> None:
    if query.dim() not in (2, 3) or keys.dim() != 3 or values.dim() != 3:
        raise ValueError(f"Expected query (B, d_q) or (B, L_q, d_q) and keys, values (B, L_k, d): got query "
                         f"{tuple(query.shape)}, keys {tuple(keys.shape)}, values {tuple(values.shape)}.")
    batch, l_k = keys.shape[0], keys.shape[1]
    if query.shape[0] != batch or values.shape[:2] != keys.shape[:2]:
        raise ValueError(f"query, keys and values must share the batch (and keys, values the length): got "
                         f"{tuple(query.shape)}, {tuple(keys.shape)}, {tuple(values.shape)}.")
    if mask is None:
        return
    if query.dim() == 2:
        if tuple(mask.shape) != (batch, l_k):
            raise ValueError(f"For one query step the mask is a padding mask (B, L_k) = ({batch}, {l_k}), got "
                             f"{tuple(mask.shape)}.")
    elif mask.dim() != 3 or mask.shape[0] not in (1, batch) or mask.shape[1] not in (1, query.shape[1]) \
            or mask.shape[2] != l_k:
        raise ValueError(f"With {query.shape[1]} queries the mask must be (B or 1, L_q or 1, L_k) = ({batch}, "
                         f"{query.shape[1]}, {l_k}), got {tuple(mask.shape)}: a causal mask reads "
                         "causal_mask(L)[None], a padding mask padding_mask(lengths)[:, None, :].")


def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """(B, L, d_model) -> (B, heads, L, d_head): head h owns features h*d_head .. (h+1)*d_head - 1."""
    batch, length, d_model = x.shape
    if d_model % n_heads:
        raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}.")
    return x.view(batch, length, n_heads, d_model // n_heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, heads, L, d_head) -> (B, L, heads * d_head): the inverse of split_heads."""
    batch, n_heads, length, d_head = x.shape
    return x.transpose(1, 2).reshape(batch, length, n_heads * d_head)


class MultiHeadAttention(nn.Module):
    """Multi-head attention: project q, k, v; split into heads; attend in each; merge; project.

    Same maths as torch.nn.MultiheadAttention(batch_first=True); `weights` are per head (B, heads, L_q, L_k).
    """

    def __init__(self, d_model: int, n_heads: int, *, bias: bool = True, kdim: int | None = None,
                 vdim: int | None = None):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}.")
        self.n_heads = n_heads
        self.dims = {"query": d_model, "key": kdim or d_model, "value": vdim or d_model}  # input features expected
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(kdim or d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(vdim or d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None = None,
                key_padding_mask: torch.Tensor | None = None, need_weights: bool = True
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """query (B, L_q, d), key/value (B, L_k, d_k/d_v) -> output (B, L_q, d), weights (B, heads, L_q, L_k).

        `mask` is (L_q, L_k) (e.g. causal_mask(L)), (B, L_q, L_k), or (B, heads, L_q, L_k): the same for every
        head unless it has a heads axis. `key_padding_mask` (B, L_k) is True on real tokens. Both: a query
        attends where both allow. need_weights=False: the fused kernel, and None for the weights.
        """
        self._check_inputs(query, key, value, mask, key_padding_mask)
        q = split_heads(self.q_proj(query), self.n_heads)  # (B, heads, L_q, d_head)
        k = split_heads(self.k_proj(key), self.n_heads)  # (B, heads, L_k, d_head)
        v = split_heads(self.v_proj(value), self.n_heads)  # (B, heads, L_k, d_head)
        if mask is not None and mask.dim() == 3:
            mask = mask[:, None]  # (B, 1, L_q, L_k): every head
        if key_padding_mask is not None:
            padding = key_padding_mask[:, None, None, :]  # the same for every head and every query
            mask = padding if mask is None else mask & padding
        out, weights = scaled_dot_product_attention(q, k, v, mask, need_weights)  # (B, heads, L_q, d_head)
        return self.out_proj(merge_heads(out)), weights

    def _check_inputs(self, query, key, value, mask, key_padding_mask) -> None:
        for name, x in (("query", query), ("key", key), ("value", value)):
            if x.dim() != 3:
                raise ValueError(f"{name} must be batched, (B, L, {self.dims[name]}); got {tuple(x.shape)} "
                                 "(for one sequence, add the batch axis: x[None]).")
            if x.shape[-1] != self.dims[name]:
                raise ValueError(f"{name} has {x.shape[-1]} features, this attention expects {self.dims[name]}.")
        batch, l_q, l_k = query.shape[0], query.shape[1], key.shape[1]
        if key.shape[:2] != value.shape[:2] or key.shape[0] != batch:
            raise ValueError(f"query, key and value must share the batch (key and value the length): got "
                             f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}.")
        if mask is not None:
            shapes = {2: (l_q, l_k), 3: (batch, l_q, l_k), 4: (batch, self.n_heads, l_q, l_k)}
            expected = shapes.get(mask.dim())
            if expected is None or any(m not in (1, e) for m, e in zip(mask.shape, expected)):
                raise ValueError(f"mask must be (L_q, L_k) = {(l_q, l_k)}, (B, L_q, L_k) or (B, heads, L_q, L_k), "
                                 f"got {tuple(mask.shape)}.")
        if key_padding_mask is not None and tuple(key_padding_mask.shape) != (batch, l_k):
            raise ValueError(f"key_padding_mask must be (B, L_k) = {(batch, l_k)}, got "
                             f"{tuple(key_padding_mask.shape)}.")
