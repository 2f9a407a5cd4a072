"""Lecture 4's table of score functions: each against its formula computed pair by pair, and the modules use them."""

import math

import pytest
import torch
from torch.nn import functional as F

from course_lib.models.attention import AdditiveAttention, MultiplicativeAttention
from course_lib.models.scores import (additive_score, content_score, dot_score, general_score, location_score,
                                      scaled_dot_score)

B, L_Q, L_K, D_Q, D_K, HIDDEN = 2, 3, 5, 4, 6, 7


@pytest.fixture
def pairs():
    g = torch.Generator().manual_seed(0)
    return torch.randn(B, L_Q, D_Q, generator=g), torch.randn(B, L_K, D_K, generator=g), g


def pairwise(formula, query, keys):
    """The score of every (query, key) pair, one pair at a time: the table's formula read literally."""
    return torch.tensor([[[formula(query[b, i], keys[b, j]) for j in range(keys.shape[1])]
                          for i in range(query.shape[1])] for b in range(query.shape[0])])


def test_content_based_is_beta_times_the_cosine(pairs):
    query, _, g = pairs
    keys = torch.randn(B, L_K, D_Q, generator=g)
    expected = pairwise(lambda s, h: F.cosine_similarity(s, h, dim=0).item(), query, keys)
    torch.testing.assert_close(content_score(query, keys), expected)
    torch.testing.assert_close(content_score(query, 3 * keys, beta=2.0), 2 * expected)  # lengths do not count


def test_additive_is_v_tanh_W_of_the_concatenation(pairs):
    query, keys, g = pairs
    W, v = torch.randn(HIDDEN, D_Q + D_K, generator=g), torch.randn(HIDDEN, generator=g)
    expected = pairwise(lambda s, h: (v @ torch.tanh(W @ torch.cat([s, h]))).item(), query, keys)
    torch.testing.assert_close(additive_score(query, keys, W, v), expected)
    with pytest.raises(ValueError, match=r"W must be \(hidden, d_q \+ d_k\)"):
        additive_score(query, keys, W[:, 1:], v)


def test_location_based_scores_positions_and_ignores_the_keys_content(pairs):
    query, keys, g = pairs
    W_a = torch.randn(9, D_Q, generator=g)  # room for sources of up to 9 words
    scores = location_score(query, keys, W_a)
    expected = torch.tensor([[[(W_a[j] @ query[b, i]).item() for j in range(L_K)] for i in range(L_Q)]
                             for b in range(B)])  # (W_a s)_j: row j of W_a belongs to source position j
    torch.testing.assert_close(scores, expected)
    torch.testing.assert_close(location_score(query, torch.randn(B, L_K, D_K, generator=g), W_a), scores)
    torch.testing.assert_close(location_score(query, keys.flip(1), W_a), scores)  # reordered words: same weights
    assert not torch.allclose(location_score(query * 2, keys, W_a), scores)  # it does depend on the query
    with pytest.raises(ValueError, match="rows for 9 source positions"):
        location_score(query, torch.randn(B, 10, D_K), W_a)


def test_general_dot_and_scaled_dot(pairs):
    query, keys, g = pairs
    W_a = torch.randn(D_Q, D_K, generator=g)
    expected = pairwise(lambda s, h: (s @ W_a @ h).item(), query, keys)
    torch.testing.assert_close(general_score(query, keys, W_a), expected)
    same_size = torch.randn(B, L_K, D_Q, generator=g)
    dots = pairwise(lambda s, h: (s @ h).item(), query, same_size)
    torch.testing.assert_close(dot_score(query, same_size), dots)
    torch.testing.assert_close(scaled_dot_score(query, same_size), dots / math.sqrt(D_Q))
    torch.testing.assert_close(general_score(query, same_size, torch.eye(D_Q)), dots)  # dot = general with W_a = I


def test_the_attention_modules_score_with_these_functions(pairs):
    query, keys, _ = pairs
    additive = AdditiveAttention(D_Q, D_K, HIDDEN)
    W = torch.cat([additive.W_q.weight, additive.W_k.weight], dim=1)
    torch.testing.assert_close(additive.score(query, keys), additive_score(query, keys, W, additive.v.weight[0]))
    general = MultiplicativeAttention(D_Q, D_K, "general")
    torch.testing.assert_close(general.score(query, keys), general_score(query, keys, general.W.weight))
    concat = MultiplicativeAttention(D_Q, D_K, "concat", hidden_dim=HIDDEN)  # Luong's 'concat' is the additive score
    expected = additive_score(query, keys, concat.W.weight, concat.v.weight[0])
    torch.testing.assert_close(concat.score(query, keys), expected)
    dot = MultiplicativeAttention(D_K, D_K, "dot")
    torch.testing.assert_close(dot.score(keys, keys), dot_score(keys, keys))


def test_lecture_claims_about_the_picture_of_the_six_scores():
    """Lecture 4, section 4: the notebook's own construction (seed 0), each claim its prose makes about it."""
    g = torch.Generator().manual_seed(0)
    d = 16
    keys = torch.randn(1, 6, d, generator=g)
    queries = keys[:, [4, 1, 2]] + 0.5 * torch.randn(1, 3, d, generator=g)  # noisy copies of h4, h1, h2
    W, v = torch.randn(d, 2 * d, generator=g) / d ** 0.5, torch.randn(d, generator=g)
    W_general, W_location = torch.randn(d, d, generator=g) / d, torch.randn(10, d, generator=g) / d ** 0.5
    table = {"content": content_score, "additive": lambda s, h: additive_score(s, h, W, v),
             "location": lambda s, h: location_score(s, h, W_location),
             "general": lambda s, h: general_score(s, h, W_general), "dot": dot_score, "scaled": scaled_dot_score}
    weights = {name: torch.softmax(score(queries, keys)[0], -1) for name, score in table.items()}
    for name in ("content", "dot", "scaled"):  # 'the largest weight is on the state it was copied from'
        assert weights[name].argmax(-1).tolist() == [4, 1, 2], name
    peak = {name: w.max(-1).values for name, w in weights.items()}  # per query
    assert (peak["dot"] > peak["scaled"]).all() and (peak["scaled"] > peak["content"]).all()  # sharpest to softest
    other_keys = torch.randn(1, 6, d, generator=g)
    for name, score in table.items():  # 'the location-based weights do not move at all'
        moved = (torch.softmax(score(queries, other_keys)[0], -1) - weights[name]).abs().max()
        assert (moved == 0) if name == "location" else (moved > 0.1), name
