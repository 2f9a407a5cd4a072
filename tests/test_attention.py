"""The course's attention family against PyTorch's own, and the properties every attention has."""

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from course_lib.models.attention import (AdditiveAttention, MultiHeadAttention, MultiplicativeAttention,
                                         causal_mask, merge_heads, padding_mask, scaled_dot_product_attention,
                                         split_heads)



def torch_sdpa(q, k, v, mask=None):
    with sdpa_kernel(SDPBackend.MATH):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


@pytest.mark.parametrize("shape", [(3, 5, 7, 8), (2, 4, 1, 9, 6), (6, 6, 4)])
def test_scaled_dot_product_matches_pytorch_without_mask(shape):
    *batch, l_q, d = shape
    q, k, v = torch.randn(shape), torch.randn(*batch, 11, d), torch.randn(*batch, 11, 5)
    out, weights = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(out, torch_sdpa(q, k, v), atol=1e-5, rtol=0)
    assert weights.shape == (*batch, l_q, 11)


@pytest.mark.parametrize("seed", range(3))
def test_scaled_dot_product_matches_pytorch_with_causal_and_padding_masks(seed):
    torch.manual_seed(seed)
    batch, heads, length, d = 3, 4, 9, 8
    q, k, v = (torch.randn(batch, heads, length, d) for _ in range(3))
    causal = causal_mask(length)  # (L, L): broadcasts over batch and heads
    out, weights = scaled_dot_product_attention(q, k, v, causal)
    torch.testing.assert_close(out, torch_sdpa(q, k, v, causal), atol=1e-5, rtol=0)
    assert (weights.masked_select(~causal) == 0).all(), "a future position got weight"

    lengths = torch.tensor([9, 5, 1])
    padding = padding_mask(lengths)[:, None, None, :]  # (B, 1, 1, L_k): broadcasts over heads and queries
    out, weights = scaled_dot_product_attention(q, k, v, padding)
    torch.testing.assert_close(out, torch_sdpa(q, k, v, padding), atol=1e-5, rtol=0)
    for b, n in enumerate(lengths):
        assert (weights[b, :, :, n:] == 0).all() and torch.allclose(weights[b].sum(-1), torch.ones(heads, length))

    both = causal & padding  # (B, 1, L, L)
    out, weights = scaled_dot_product_attention(q, k, v, both)
    torch.testing.assert_close(out, torch_sdpa(q, k, v, both), atol=1e-5, rtol=0)


def test_weights_are_a_distribution_and_scaling_is_by_sqrt_dk():
    q, k, v = torch.randn(2, 3, 16), torch.randn(2, 5, 16), torch.randn(2, 5, 4)
    _, weights = scaled_dot_product_attention(q, k, v)
    assert (weights >= 0).all() and torch.allclose(weights.sum(-1), torch.ones(2, 3))
    expected = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(16), dim=-1)
    torch.testing.assert_close(weights, expected)


def test_the_lectures_worked_example():
    x = torch.tensor([[0.1, 0.2], [0.9, 0.3], [0.5, 0.8]])  # 'The', 'fox', 'jumped'
    w_q, w_k, w_v = (torch.tensor(m) for m in ([[0.5, 0.1], [0.2, 0.6]], [[0.3, 0.4], [0.7, 0.1]],
                                                [[0.8, 0.2], [0.3, 0.9]]))
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    out, weights = scaled_dot_product_attention(q[2:], k, v)  # the query of 'jumped'
    torch.testing.assert_close(q[2] @ k.T, torch.tensor([0.1015, 0.4035, 0.4395]), atol=1e-4, rtol=0)
    assert [round(w, 3) for w in weights[0].tolist()] == [0.285, 0.353, 0.362]
    assert [round(o, 3) for o in out[0].tolist()] == [0.557, 0.513]  # not 0.558
    # the circulated version: weights 0.24, 0.35, 0.36 sum to 0.95 and are no rounding of the exact ones
    assert round(0.24 + 0.35 + 0.36, 2) == 0.95 and [round(w, 2) for w in weights[0].tolist()] == [0.29, 0.35, 0.36]
    assert round((q[2] @ k.T)[0].item(), 2) == 0.10 and round((q[2] @ k.T)[1].item(), 4) == 0.4035  # not 0.41
    assert [round(o, 2) for o in out[0].tolist()] == [0.56, 0.51]  # not [0.54, 0.51]


def test_the_lectures_decisive_dot_product_example():
    s = torch.tensor([10.0, 5.0, 10.0])
    states = torch.tensor([[0.0, 1, 1], [5, 0, 1], [1, 1, 0], [0, 5, 1]])
    weights = torch.softmax(states @ s, dim=0)
    assert weights.argmax() == 1 and weights[1].item() > 1 - 1e-10
    assert (weights @ states - states[1]).abs().max() < 1e-10  # 'the context vector is that state, [5, 0, 1]'


def test_the_lectures_numbers_about_the_scale_of_scores():
    # the question after the [10, 5, 10] example: scores divided by 10 give weights of about 0.01, 0.91, 0.01, 0.07
    weights = torch.softmax(torch.tensor([15.0, 60, 15, 35]) / 10, dim=0)
    assert [round(w, 2) for w in weights.tolist()] == [0.01, 0.91, 0.01, 0.07]
    # section 3: with d_k = 512, q.k of unit-variance vectors has standard deviation sqrt(512) = 22.6: 'about +-45'
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(4000, 512, generator=g), torch.randn(4000, 512, generator=g)
    spread = (q * k).sum(-1).std().item()
    assert abs(spread - math.sqrt(512)) < 1.0 and round(2 * math.sqrt(512)) == 45
    assert abs(((q * k).sum(-1) / math.sqrt(512)).std().item() - 1) < 0.05  # 'back to 1 whatever the dimension'


def test_masks_reject_non_bool_and_shapes_that_do_not_fit():
    q = torch.randn(2, 3, 4)
    with pytest.raises(TypeError, match="bool"):
        scaled_dot_product_attention(q, q, q, torch.ones(3, 3))
    with pytest.raises(TypeError, match="bool"):  # the fused path checks it too (PyTorch would add a float mask)
        scaled_dot_product_attention(q, q, q, torch.ones(3, 3), need_weights=False)
    with pytest.raises(ValueError, match="Shapes do not fit"):
        scaled_dot_product_attention(q, torch.randn(2, 3, 5), q)


def test_split_and_merge_heads_are_inverse_and_keep_features_of_a_head_together():
    x = torch.arange(2 * 3 * 12.0).reshape(2, 3, 12)
    heads = split_heads(x, 4)
    assert heads.shape == (2, 4, 3, 3)
    torch.testing.assert_close(heads[:, 1], x[:, :, 3:6])  # head 1 owns features 3..5
    torch.testing.assert_close(merge_heads(heads), x)
    with pytest.raises(ValueError, match="divisible"):
        split_heads(x, 5)


def copy_into_torch_mha(ours: MultiHeadAttention) -> nn.MultiheadAttention:
    d_model = ours.q_proj.in_features
    theirs = nn.MultiheadAttention(d_model, ours.n_heads, batch_first=True)
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
        theirs.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
        theirs.out_proj.weight.copy_(ours.out_proj.weight)
        theirs.out_proj.bias.copy_(ours.out_proj.bias)
    return theirs.eval()


@pytest.mark.parametrize("n_heads", [1, 2, 4])
def test_multi_head_matches_torch_multihead_attention_with_the_same_weights(n_heads):
    ours = MultiHeadAttention(16, n_heads).eval()
    theirs = copy_into_torch_mha(ours)
    x, memory = torch.randn(3, 7, 16), torch.randn(3, 5, 16)

    # self-attention with a causal mask (torch's bool masks mean the opposite: True = may NOT attend)
    out, weights = ours(x, x, x, mask=causal_mask(7))
    ref, ref_weights = theirs(x, x, x, attn_mask=~causal_mask(7), average_attn_weights=False)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(weights, ref_weights, atol=1e-5, rtol=0)

    # cross-attention with padded keys
    keep = padding_mask(torch.tensor([5, 2, 4]))
    out, weights = ours(x, memory, memory, key_padding_mask=keep)
    ref, ref_weights = theirs(x, memory, memory, key_padding_mask=~keep, average_attn_weights=False)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(weights, ref_weights, atol=1e-5, rtol=0)
    assert weights.shape == (3, n_heads, 7, 5) and (weights[1, :, :, 2:] == 0).all()


MASKS = {"none": lambda b, lq, lk: None, "causal": lambda b, lq, lk: causal_mask(lq)[:, :lk],
         "padding": lambda b, lq, lk: padding_mask(torch.tensor([lk, 2, 1][:b]), lk)[:, None, None, :],
         "per item": lambda b, lq, lk: torch.rand(b, 1, lq, lk, generator=torch.Generator().manual_seed(3)) > 0.3}


@pytest.mark.parametrize("mask", MASKS)
def test_without_weights_attention_takes_the_fused_kernel_with_the_same_output_and_gradients(mask):
    """need_weights=False: PyTorch's kernel, None for the weights; output and gradients as the explicit path's."""
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(3, 2, 6, 8, generator=generator, requires_grad=True) for _ in range(3))
    m = MASKS[mask](3, 6, 6)
    if m is not None:
        m = m | torch.eye(6, dtype=torch.bool)  # every query keeps a key
    fused, none = scaled_dot_product_attention(q, k, v, m, need_weights=False)
    explicit, weights = scaled_dot_product_attention(q, k, v, m)
    assert none is None and weights.shape == (3, 2, 6, 6)
    torch.testing.assert_close(fused, explicit, atol=1e-6, rtol=0)
    grads = [torch.autograd.grad(out.square().sum(), (q, k, v)) for out in (fused, explicit)]
    for fused_grad, explicit_grad in zip(*grads):
        torch.testing.assert_close(fused_grad, explicit_grad, atol=1e-5, rtol=0)


def test_multi_head_without_weights_gives_the_same_output_for_every_mask_kind():
    ours = MultiHeadAttention(16, 4).eval()
    x, memory = torch.randn(3, 7, 16), torch.randn(3, 5, 16)
    keep = padding_mask(torch.tensor([5, 2, 4]))
    for args in [dict(mask=causal_mask(7)), dict(key_padding_mask=keep), dict(mask=causal_mask(7)[None].expand(3, 7, 7))]:
        keys = x if "mask" in args else memory
        fused, none = ours(x, keys, keys, need_weights=False, **args)
        explicit, weights = ours(x, keys, keys, **args)
        assert none is None and weights is not None
        torch.testing.assert_close(fused, explicit, atol=1e-6, rtol=0)


def test_multi_head_masks_broadcast_per_batch_and_head():
    ours = MultiHeadAttention(8, 2).eval()
    x = torch.randn(2, 4, 8)
    per_item = torch.stack([causal_mask(4), torch.ones(4, 4, dtype=torch.bool)])[:, None]  # (B, 1, L, L)
    _, weights = ours(x, x, x, mask=per_item)
    assert (weights[0].masked_select(~causal_mask(4)) == 0).all()
    assert (weights[1] > 0).all()  # item 1 may look everywhere


def test_multi_head_reads_a_3d_mask_as_per_item_even_when_batch_equals_heads():
    """Regression: a (B, L, L) mask landed on the heads axis, silently wrong when B == heads."""
    ours = MultiHeadAttention(8, 2).eval()
    x = torch.randn(2, 4, 8)
    per_item = torch.stack([causal_mask(4), torch.ones(4, 4, dtype=torch.bool)])  # (B, L, L), B == heads == 2
    _, weights = ours(x, x, x, mask=per_item)
    assert (weights[0].masked_select(~causal_mask(4)) == 0).all()  # item 0: causal in both heads
    assert (weights[1] > 0).all()  # item 1: everywhere, in both heads
    torch.testing.assert_close(weights, ours(x, x, x, mask=per_item[:, None])[1])


def test_multi_head_names_what_is_wrong_with_its_inputs():
    ours = MultiHeadAttention(8, 2)
    x = torch.randn(2, 4, 8)
    with pytest.raises(ValueError, match=r"query has 6 features, this attention expects 8"):
        ours(torch.randn(2, 4, 6), x, x)
    with pytest.raises(ValueError, match=r"query must be batched, \(B, L, 8\); got \(4, 8\)"):
        ours(x[0], x[0], x[0])
    with pytest.raises(ValueError, match="mask must be"):
        ours(x, x, x, mask=causal_mask(5))
    with pytest.raises(ValueError, match=r"key_padding_mask must be \(B, L_k\) = \(2, 4\)"):
        ours(x, x, x, key_padding_mask=padding_mask(torch.tensor([4, 2, 1])))


@pytest.mark.parametrize("make", [
    lambda: AdditiveAttention(6, 10, 8),
    lambda: MultiplicativeAttention(6, 10, "general"),
    lambda: MultiplicativeAttention(6, 10, "concat", hidden_dim=5),
    lambda: MultiplicativeAttention(10, 10, "dot"),
], ids=["additive", "general", "concat", "dot"])
def test_bahdanau_and_luong_scores_give_a_masked_distribution(make):
    attention = make()
    d_q = 10 if getattr(attention, "kind", "") == "dot" else 6
    query, keys = torch.randn(3, d_q), torch.randn(3, 7, 10)
    keep = padding_mask(torch.tensor([7, 3, 1]))
    context, weights = attention(query, keys, mask=keep)  # one decoder step
    assert context.shape == (3, 10) and weights.shape == (3, 7)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3))
    assert (weights.masked_select(~keep) == 0).all()
    torch.testing.assert_close(context, torch.einsum("bs,bsd->bd", weights, keys))
    many_queries = query[:, None].expand(-1, 2, -1)  # (B, L_q, d_q)
    many_context, many_weights = attention(many_queries, keys, mask=keep[:, None, :])  # padding for every query
    torch.testing.assert_close(many_weights[:, 1], weights)
    with pytest.raises(ValueError, match=r"mask must be \(B or 1, L_q or 1, L_k\)"):
        attention(many_queries, keys, mask=keep)  # 2-D with L_q queries: padding or per-query? refused


def test_a_causal_mask_never_passes_for_a_padding_mask_in_bahdanau_and_luong_attention():
    """Regression: a 2-D (L, L) causal mask was read as a (B, L_k) padding mask; with B == L the weights attended
    to the future, with B == 1 the context came back (L, L, d)."""
    attention = MultiplicativeAttention(4, 4, "dot")
    for batch in (5, 1):
        x = torch.randn(batch, 5, 4)
        with pytest.raises(ValueError, match=r"causal_mask\(L\)\[None\]"):
            attention(x, x, mask=causal_mask(5))
        context, weights = attention(x, x, mask=causal_mask(5)[None])
        assert context.shape == (batch, 5, 4) and weights.shape == (batch, 5, 5)
        assert (weights.masked_select(~causal_mask(5)) == 0).all()  # nothing from the future
    with pytest.raises(ValueError, match=r"padding mask \(B, L_k\) = \(2, 5\)"):
        attention(torch.randn(2, 4), torch.randn(2, 5, 4), mask=causal_mask(5))


def test_additive_score_is_bahdanaus_formula():
    attention = AdditiveAttention(4, 5, 3)
    query, keys = torch.randn(2, 4), torch.randn(2, 6, 5)
    _, weights = attention(query, keys)
    scores = torch.stack([torch.stack([attention.v.weight[0] @ torch.tanh(attention.W_q.weight @ query[b]
                                                                          + attention.W_k.weight @ keys[b, j])
                                       for j in range(6)]) for b in range(2)])
    torch.testing.assert_close(weights, torch.softmax(scores, -1))


def test_luong_rejects_unknown_scores_and_mismatched_dot():
    with pytest.raises(ValueError, match="Unknown Luong score"):
        MultiplicativeAttention(4, 4, "cosine")
    with pytest.raises(ValueError, match="query_dim == key_dim"):
        MultiplicativeAttention(4, 5, "dot")
