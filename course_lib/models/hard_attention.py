"""Hard attention (lecture 8): pick ONE key per query instead of averaging them all (Show, Attend and Tell, 2015).

Soft attention returns the weighted average of the values; hard attention draws one key with probability equal
to its weight (or takes the argmax) and returns that key's value. The draw is not differentiable, so a model
trained with soft attention can be *run* with hard attention (`vit_logits_with_hard_attention`), but training it
that way needs another signal: REINFORCE (the log-probability of the pick times a reward) or a straight-through
estimator (the one-hot forward, the soft weights' gradient backward: one_hot + w - w.detach()).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from course_lib.models.attention import merge_heads, scaled_dot_product_attention, split_heads
from course_lib.models.vit import ViT
from course_lib.validation import describe


def hard_attention(weights: torch.Tensor, generator: torch.Generator | None = None,
                   greedy: bool = False) -> torch.Tensor:
    """weights (..., L_k), rows summing to 1 -> one-hot (..., L_k): one key per query, drawn with probability
    weights (or the argmax when greedy).

    The draw is not differentiable: no gradient reaches the weights through it. Training them needs REINFORCE
    (the log-probability of the pick times a reward) or a straight-through estimator (one_hot + w - w.detach()).
    """
    _check_weights(weights)
    flat = weights.detach().reshape(-1, weights.shape[-1])  # (queries, L_k)
    picks = flat.argmax(-1) if greedy else torch.multinomial(flat, 1, generator=generator)[:, 0]  # (queries,)
    return F.one_hot(picks, weights.shape[-1]).to(weights.dtype).reshape(weights.shape)


def hard_attend(weights: torch.Tensor, values: torch.Tensor, generator: torch.Generator | None = None,
                greedy: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """weights (..., L_q, L_k), values (..., L_k, d) -> (each query's picked value (..., L_q, d), the one-hot picks)."""
    one_hot = hard_attention(weights, generator=generator, greedy=greedy)
    if not isinstance(values, torch.Tensor) or values.ndim < 2 or values.shape[-2] != weights.shape[-1]:
        raise ValueError(f"values must be (..., L_k, d) with L_k = {weights.shape[-1]}, got {describe(values)}.")
    return one_hot @ values, one_hot  # gradient reaches the values, never the weights


@torch.no_grad()
def vit_logits_with_hard_attention(model: ViT, images: torch.Tensor, layer: int = -1,
                                   generator: torch.Generator | None = None, greedy: bool = False) -> torch.Tensor:
    """The ViT's logits (B, n_classes) with the attention of one layer made hard: every token of every head takes
    the value of one key, drawn from its soft weights (or the argmax when greedy); the other layers stay soft."""
    blocks = list(model.blocks)
    chosen = range(len(blocks))[layer]  # a clear IndexError for a layer the model does not have
    tokens = model.embed(images)  # (B, N+1, d)
    for i, block in enumerate(blocks):
        if i != chosen:
            tokens = block(tokens)[0]
            continue
        attn, h = block.attn, block.ln_1(tokens)
        q, k, v = (split_heads(proj(h), attn.n_heads) for proj in (attn.q_proj, attn.k_proj, attn.v_proj))
        _, weights = scaled_dot_product_attention(q, k, v)  # the soft weights (B, heads, N+1, N+1)
        picked, _ = hard_attend(weights, v, generator=generator, greedy=greedy)  # (B, heads, N+1, d_head)
        tokens = tokens + attn.out_proj(merge_heads(picked))
        tokens = tokens + block.mlp(block.ln_2(tokens))
    return model.head(model.ln_f(tokens)[:, 0])


def _check_weights(weights: torch.Tensor) -> None:
    if not isinstance(weights, torch.Tensor) or weights.ndim < 1 or not weights.is_floating_point():
        raise ValueError(f"weights must be a float tensor (..., L_k), got {describe(weights)}.")
    if (weights < 0).any() or not torch.isfinite(weights).all() or (weights.sum(-1) <= 0).any():
        raise ValueError("weights must be finite and non-negative, with every row summing to more than 0.")

