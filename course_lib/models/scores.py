"""Attention's score functions, a few lines each (lecture 4): how well does each key match the query?

Every function takes queries s (..., L_q, d_q), e.g. decoder states, and keys h (..., L_k, d_k), e.g. encoder
states, and returns scores (..., L_q, L_k); a softmax over the last axis makes them weights. The table of Weng
(2018, "Attention? Attention!"), with who introduced each score:

| name           | score(s, h)             | paper                    |
|----------------|-------------------------|--------------------------|
| content-based  | beta * cosine(s, h)     | Graves et al., 2014 (Neural Turing Machines; beta = 1 in the table) |
| additive       | v^T tanh(W [s; h])      | Bahdanau et al., 2015 (Luong's 'concat' is the same score) |
| location-based | (W_a s)_i               | Luong et al., 2015: position i's score; the keys' content is not used |
| general        | s^T W_a h               | Luong et al., 2015       |
| dot            | s^T h                   | Luong et al., 2015       |
| scaled dot     | s^T h / sqrt(d_k)       | Vaswani et al., 2017     |

The modules in `course_lib.models.attention` compute their scores with these functions.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F


def content_score(query: torch.Tensor, keys: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """beta * cosine(s, h): the angle only, not the lengths (Graves et al., 2014; beta sharpens the softmax)."""
    return beta * F.normalize(query, dim=-1) @ F.normalize(keys, dim=-1).transpose(-2, -1)


def additive_score(query: torch.Tensor, keys: torch.Tensor, W: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """v^T tanh(W [s; h]): W (hidden, d_q + d_k), v (hidden,); a one-hidden-layer network on every pair."""
    d_q = query.shape[-1]
    if W.shape[-1] != d_q + keys.shape[-1]:
        raise ValueError(f"W must be (hidden, d_q + d_k) = (hidden, {d_q + keys.shape[-1]}), got {tuple(W.shape)}.")
    # W [s; h] = W_s s + W_h h: project queries and keys once, then add every pair
    hidden = torch.tanh((query @ W[:, :d_q].T)[..., :, None, :] + (keys @ W[:, d_q:].T)[..., None, :, :])
    return hidden @ v  # (..., L_q, L_k, hidden) @ (hidden,) -> (..., L_q, L_k)


def location_score(query: torch.Tensor, keys: torch.Tensor, W_a: torch.Tensor) -> torch.Tensor:
    """W_a s: W_a (max_len, d_q), one row per source position; of the keys only their number L_k is used."""
    if keys.shape[-2] > W_a.shape[0]:
        raise ValueError(f"W_a has rows for {W_a.shape[0]} source positions, the keys have {keys.shape[-2]}.")
    return query @ W_a[: keys.shape[-2]].T  # (..., L_q, L_k): the same for any keys of this length


def general_score(query: torch.Tensor, keys: torch.Tensor, W_a: torch.Tensor) -> torch.Tensor:
    """s^T W_a h: W_a (d_q, d_k), a learned bilinear form (queries and keys may differ in size)."""
    return query @ (keys @ W_a.T).transpose(-2, -1)


def dot_score(query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """s^T h: no parameters; needs d_q == d_k."""
    return query @ keys.transpose(-2, -1)


def scaled_dot_score(query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """s^T h / sqrt(d_k): unit variance for unit-variance vectors of any size, so the softmax does not saturate."""
    return dot_score(query, keys) / math.sqrt(keys.shape[-1])
