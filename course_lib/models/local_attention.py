"""Luong et al.'s (2015) local-p attention (lecture 4): look only at a window around a predicted source position.

Global attention scores every source position s = 0 .. S-1. Local-p first predicts where to look, from the
decoder state h_t, then attends inside a window of half-width D around that place, favouring its centre:

    p_t    = S * sigmoid(v_p^T tanh(W_p h_t))                      a real position in [0, S]
    align  = softmax of score(h_t, h_s) over the window |s - p_t| <= D   ('general' score here)
    a_t(s) = align(s) * exp(-(s - p_t)^2 / (2 sigma^2)),  sigma = D / 2,  and 0 outside the window

p_t enters through the Gaussian, which is differentiable, so W_p and v_p are trained by backpropagation like the
rest. (Local-m is the monotonic variant: p_t = t.) As in the paper, the weights are not renormalised after the
Gaussian: they sum to less than 1.
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib.models.attention import masked_softmax
from course_lib.models.scores import general_score
from course_lib.validation import require_positive_int


def predicted_position(state: torch.Tensor, W_p: torch.Tensor, v_p: torch.Tensor,
                       source_length: torch.Tensor) -> torch.Tensor:
    """p_t = S * sigmoid(v_p^T tanh(W_p h_t)): state (B, d), W_p (hidden, d), v_p (hidden,), S (B,) -> (B,)."""
    return source_length * torch.sigmoid(torch.tanh(state @ W_p.T) @ v_p)


def local_p_weights(scores: torch.Tensor, position: torch.Tensor, half_width: int,
                    mask: torch.Tensor | None = None) -> torch.Tensor:
    """scores (B, S), centres p_t (B,) -> weights (B, S): the window's softmax times a Gaussian of sigma = D / 2."""
    distance = torch.arange(scores.shape[-1], device=scores.device) - position[:, None]  # (B, S): s - p_t
    window = distance.abs() <= half_width  # (B, S): the 2D + 1 positions around p_t
    if mask is not None:
        window = window & mask  # never the padding
    align = masked_softmax(scores, window)  # sums to 1 over the window
    sigma = half_width / 2
    return align * torch.exp(-distance ** 2 / (2 * sigma ** 2))


class LocalAttention(nn.Module):
    """Local-p attention with the 'general' score: query (B, d), keys (B, S, d) -> context, weights, p_t."""

    def __init__(self, dim: int, half_width: int, hidden_dim: int | None = None):
        super().__init__()
        require_positive_int(half_width=half_width)
        self.half_width = half_width
        self.W_p = nn.Linear(dim, hidden_dim or dim, bias=False)
        self.v_p = nn.Linear(hidden_dim or dim, 1, bias=False)
        self.W_a = nn.Linear(dim, dim, bias=False)  # the 'general' score s^T W_a h

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """query (B, d), keys (B, S, d), mask (B, S) True on real words -> context (B, d), weights (B, S), p_t (B,)."""
        if query.dim() != 2 or keys.dim() != 3 or query.shape[0] != keys.shape[0]:
            raise ValueError(f"Expected query (B, d) and keys (B, S, d), got {tuple(query.shape)} and "
                             f"{tuple(keys.shape)}.")
        lengths = mask.sum(-1) if mask is not None else torch.full_like(query[:, 0], keys.shape[1])  # S of each row
        position = predicted_position(query, self.W_p.weight, self.v_p.weight[0], lengths)  # (B,)
        scores = general_score(query[:, None, :], keys, self.W_a.weight)[:, 0]  # (B, S)
        weights = local_p_weights(scores, position, self.half_width, mask)  # (B, S)
        return (weights[:, None, :] @ keys)[:, 0], weights, position
