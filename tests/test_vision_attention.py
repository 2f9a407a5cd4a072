"""Lecture 8's tools for attention on images: rollout, [CLS] pictures, windowed attention, its cost, hard attention."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_lib.models import MultiHeadAttention, ViT
from course_lib.models.vit import position_similarity
from course_lib.viz import figure_pixels
from course_lib.models.hard_attention import hard_attend, hard_attention, vit_logits_with_hard_attention
from course_lib.vision_attention import (attention_cost, attention_rollout, cls_attention_grid,
                                         plot_attention_cost, plot_cls_attention,
                                         plot_position_similarity, plot_rollout, window_mask, window_partition,
                                         window_reverse, windowed_attention)


def random_maps(layers=3, batch=2, heads=4, n=5, seed=0) -> torch.Tensor:
    """(layers, B, heads, N, N) with rows summing to 1, like real attention."""
    scores = torch.randn(layers, batch, heads, n, n, generator=torch.Generator().manual_seed(seed))
    return torch.softmax(3 * scores, dim=-1)


# ---- attention rollout ----------------------------------------------------------------------------------------

def test_rollout_matches_numpy_products_later_layers_on_the_left():
    maps = random_maps()
    rollout = attention_rollout(maps)
    assert rollout.shape == (2, 5, 5)
    for b in range(2):
        layers = []
        for layer in maps[:, b].numpy().astype(np.float64):
            a = 0.5 * layer.mean(axis=0) + 0.5 * np.eye(5)
            layers.append(a / a.sum(axis=1, keepdims=True))
        expected = np.linalg.multi_dot(layers[::-1])  # A_3 A_2 A_1
        np.testing.assert_allclose(rollout[b].numpy(), expected, rtol=1e-5, atol=1e-6)


def test_rollout_matches_a_direct_loop_over_entries():
    maps = random_maps(layers=2, batch=1, heads=2, n=4, seed=1)
    a = [(0.5 * maps[l, 0].mean(0) + 0.5 * torch.eye(4)) for l in range(2)]
    expected = torch.zeros(4, 4)
    for i in range(4):  # token i's final state ...
        for j in range(4):  # ... from input j, through every middle token k
            expected[i, j] = sum(a[1][i, k] * a[0][k, j] for k in range(4))
    torch.testing.assert_close(attention_rollout(maps)[0], expected)
    assert not torch.allclose(expected, a[0] @ a[1])  # the order matters, so the test can tell


def test_rollout_properties_and_inputs():
    maps = random_maps(batch=3, n=6, seed=2)
    for residual in (True, False):
        for fusion in ("mean", "max"):
            rollout = attention_rollout(maps, residual=residual, head_fusion=fusion)
            torch.testing.assert_close(rollout.sum(-1), torch.ones(3, 6))
            assert (rollout >= 0).all()
    one = maps[:1]
    torch.testing.assert_close(attention_rollout(one), 0.5 * one[0].mean(1) + 0.5 * torch.eye(6))
    torch.testing.assert_close(attention_rollout(one, residual=False), one[0].mean(1))
    fused = one[0].amax(1) + torch.eye(6)
    torch.testing.assert_close(attention_rollout(one, head_fusion="max"), fused / fused.sum(-1, keepdim=True))
    torch.testing.assert_close(attention_rollout(list(maps)), attention_rollout(maps))  # a list of layers works too


def test_rollout_rejects_bad_inputs():
    with pytest.raises(ValueError, match="head_fusion must be one of"):
        attention_rollout(random_maps(), head_fusion="min")
    with pytest.raises(ValueError, match=r"maps must be \(layers, B, heads, N, N\)") as excinfo:
        attention_rollout(random_maps()[0])  # one layer without the layers axis
    assert "\n" not in str(excinfo.value)
    with pytest.raises(ValueError, match="non-empty list"):
        attention_rollout([])


# ---- [CLS] pictures -------------------------------------------------------------------------------------------

def test_cls_attention_grid_drops_cls_and_lays_patches_row_major():
    row = torch.arange(7.0)  # [CLS], then patches 1..6 on a 2x3 grid
    grid = cls_attention_grid(row, (2, 3))
    assert grid.shape == (2, 3)
    for r in range(2):
        for c in range(3):
            assert grid[r, c] == row[1 + r * 3 + c]
    maps = random_maps(layers=2, batch=2, heads=3, n=7)
    assert cls_attention_grid(maps[..., 0, :], (2, 3)).shape == (2, 2, 3, 2, 3)
    with pytest.raises(ValueError, match=r"weights_row must end in N\+1 = 7 weights"):
        cls_attention_grid(torch.rand(6), (2, 3))


@pytest.mark.parametrize("channels", [1, 3])
def test_plot_cls_attention_draws_layers_by_heads_over_grey_or_colour_images(channels):
    model = ViT(8, 2, channels, 3, d_model=16, n_heads=2, n_layers=3)
    images = torch.rand(2, channels, 8, 8)
    maps = model.attention_maps(images)  # (layers, B, heads, 17, 17)
    fig = plot_cls_attention(images[0], maps[:, 0], model.grid)
    assert isinstance(fig, plt.Figure) and len(fig.axes) == 3 * (2 + 1)
    assert len(plot_cls_attention(images[1], maps[:, 1:2], model.grid, upsample="bilinear").axes) == 9
    other = maps[:, 0].clone()
    other[..., 0, 1:] = other[..., 0, 1:].flip(-1)  # [CLS] looks elsewhere
    assert not np.array_equal(figure_pixels(fig), figure_pixels(plot_cls_attention(images[0], other, model.grid)))
    with pytest.raises(ValueError, match=r"pick image b with maps\[:, b\]"):
        plot_cls_attention(images[0], maps, model.grid)
    with pytest.raises(ValueError, match=r"image must be \(1, H, W\) grey or \(3, H, W\) colour"):
        plot_cls_attention(torch.rand(2, 8, 8), maps[:, 0], model.grid)


def test_plot_rollout_and_position_similarity_return_figures():
    model = ViT(8, 2, 3, 3, d_model=16, n_heads=2, n_layers=2)
    images = torch.rand(3, 3, 8, 8)
    rollouts = attention_rollout(model.attention_maps(images))
    fig = plot_rollout(images, rollouts, model.grid, titles=["a", "b", "c"])
    assert isinstance(fig, plt.Figure) and len(fig.axes) == 6
    with pytest.raises(ValueError, match="rollouts must be"):
        plot_rollout(images, rollouts[:2], model.grid)
    similarity = position_similarity(model.position_embeddings())
    fig = plot_position_similarity(similarity, model.grid)
    assert len(fig.axes) == 16 + 1  # one panel per position, and the colour bar


# ---- windowed (Swin-style) attention --------------------------------------------------------------------------

def test_window_mask_matches_its_definition():
    gh, gw, w = 4, 6, 2
    mask = window_mask(gh, gw, w)
    assert mask.shape == (24, 24) and mask.dtype == torch.bool
    for i in range(24):
        for j in range(24):
            same = (i // gw) // w == (j // gw) // w and (i % gw) // w == (j % gw) // w
            assert mask[i, j] == same
    assert mask.sum() == 24 * w * w  # each token sees window^2 tokens
    with_cls = window_mask(gh, gw, w, cls=True)
    assert with_cls.shape == (25, 25) and with_cls[0].all() and with_cls[:, 0].all()
    assert torch.equal(with_cls[1:, 1:], mask)
    with pytest.raises(ValueError, match="window must be a positive integer dividing the grid 4x6"):
        window_mask(4, 6, 4)


def test_a_token_does_not_see_changes_outside_its_window():
    gh, gw, w = 4, 4, 2
    attn = MultiHeadAttention(8, 2)
    x = torch.randn(1, 16, 8)
    mask = window_mask(gh, gw, w)
    out, weights = attn(x, x, x, mask=mask)
    assert (weights[0, :, 0][:, ~mask[0]] == 0).all()
    outside = x.clone()
    outside[0, 15] += 5.0  # bottom-right window
    inside = x.clone()
    inside[0, 5] += 5.0  # token (1, 1): top-left window, like token 0
    torch.testing.assert_close(attn(outside, outside, outside, mask=mask)[0][0, 0], out[0, 0])
    assert not torch.allclose(attn(inside, inside, inside, mask=mask)[0][0, 0], out[0, 0])
    assert not torch.allclose(attn(outside, outside, outside)[0][0, 0], attn(x, x, x)[0][0, 0])  # global does see it


def test_windowed_attention_equals_masked_global_attention():
    gh, gw, w = 4, 6, 2
    attn = MultiHeadAttention(8, 2)
    x = torch.randn(3, gh * gw, 8)
    out, weights = windowed_attention(x, (gh, gw), w, attn)
    masked_out, masked_weights = attn(x, x, x, mask=window_mask(gh, gw, w))
    torch.testing.assert_close(out, masked_out)
    assert weights.shape == (3, 6, 2, 4, 4)  # (B, windows, heads, w^2, w^2)
    first = torch.tensor([0, 1, gw, gw + 1])  # window (0, 0)'s tokens, row-major inside it
    torch.testing.assert_close(weights[:, 0], masked_weights[:, :, first][:, :, :, first])
    windows = window_partition(x, (gh, gw), w)
    assert windows.shape == (18, 4, 8)
    torch.testing.assert_close(windows[0], x[0, first])
    torch.testing.assert_close(window_reverse(windows, (gh, gw), w), x)
    with pytest.raises(ValueError, match=r"x must be patch tokens \(B, 24, d\)"):
        windowed_attention(x[:, :20], (gh, gw), w, attn)


def test_attention_cost_rows_bytes_grow_as_n_squared_and_linearly():
    state = torch.random.get_rng_state()
    rows = attention_cost([4, 8, 16], window=4, d_model=8, n_heads=2, repeats=1)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's random state is untouched
    assert len(rows) == 6 and all(set(r) == {"grid", "tokens", "kind", "seconds", "weight_bytes"} for r in rows)
    assert all(r["seconds"] > 0 for r in rows)
    for r in rows:
        n = r["tokens"]
        allowed_pairs = n * n if r["kind"] == "global" else n * 4 * 4
        assert r["weight_bytes"] == allowed_pairs * 2 * 4  # pairs x heads x 4 bytes (float32)
    global_ = [r["weight_bytes"] for r in rows if r["kind"] == "global"]
    windowed = [r["weight_bytes"] for r in rows if r["kind"] == "windowed"]
    assert global_[2] / global_[1] == 16 and windowed[2] / windowed[1] == 4  # N x4: N^2 x16, N x4
    assert global_[0] == windowed[0]  # one window covers the whole 4x4 grid
    fig = plot_attention_cost(rows)
    assert len(fig.axes) == 2 and all(len(ax.lines) == 2 for ax in fig.axes)
    with pytest.raises(ValueError, match="window must be a positive integer dividing the grid 6x6"):
        attention_cost([6], window=4)


# ---- hard attention -------------------------------------------------------------------------------------------

def test_hard_attention_picks_one_key_per_query_with_the_weights_as_probabilities():
    weights = torch.tensor([0.5, 0.3, 0.15, 0.05, 0.0])
    many = weights.expand(40_000, 5)
    state = torch.random.get_rng_state()
    picks = hard_attention(many, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.random.get_rng_state(), state)  # its own generator only
    assert picks.shape == many.shape and torch.equal(picks.sum(-1), torch.ones(40_000))
    assert set(picks.unique().tolist()) == {0.0, 1.0}
    frequencies = picks.mean(0)
    # the standard error of each frequency is at most sqrt(0.25 / 40000) = 0.0025: allow 4 of them
    torch.testing.assert_close(frequencies, weights, atol=0.01, rtol=0)
    assert frequencies[4] == 0  # a zero weight is never picked
    again = hard_attention(many, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again, picks)
    greedy = hard_attention(torch.softmax(torch.randn(2, 3, 6), -1), greedy=True)
    assert greedy.shape == (2, 3, 6)


def test_greedy_hard_attention_is_the_argmax():
    weights = torch.softmax(torch.randn(2, 4, 7), dim=-1)
    picks = hard_attention(weights, greedy=True)
    assert torch.equal(picks.argmax(-1), weights.argmax(-1))


def test_hard_attend_returns_picked_values_and_no_gradient_reaches_the_weights():
    scores = torch.randn(2, 3, 5, requires_grad=True)
    weights = torch.softmax(scores, dim=-1)  # (B, L_q, L_k)
    values = torch.randn(2, 5, 4, requires_grad=True)  # (B, L_k, d)
    picked, one_hot = hard_attend(weights, values, generator=torch.Generator().manual_seed(1))
    assert picked.shape == (2, 3, 4)
    index = one_hot.argmax(-1)  # (B, L_q)
    torch.testing.assert_close(picked, torch.stack([values[b, index[b]] for b in range(2)]))
    grad_scores, grad_values = torch.autograd.grad(picked.sum(), [scores, values], allow_unused=True)
    assert grad_scores is None  # the sampling cuts the graph: REINFORCE or straight-through is needed
    assert grad_values is not None and grad_values.abs().sum() > 0
    soft = weights @ values  # soft attention, by contrast, trains the scores directly
    assert torch.autograd.grad(soft.sum(), scores)[0].abs().sum() > 0


def test_hard_attention_rejects_bad_weights():
    with pytest.raises(ValueError, match="non-negative"):
        hard_attention(torch.tensor([0.5, -0.1, 0.6]))
    with pytest.raises(ValueError, match="weights must be a float tensor"):
        hard_attention(torch.tensor([1, 0]))
    with pytest.raises(ValueError, match=r"values must be \(\.\.\., L_k, d\) with L_k = 3"):
        hard_attend(torch.full((2, 3), 1 / 3), torch.randn(4, 2))


def test_a_vit_run_with_hard_attention_greedy_is_deterministic_and_differs_from_soft():
    model = ViT(8, 2, 1, 10).eval()
    images = torch.rand(5, 1, 8, 8)
    soft = model(images)
    greedy = vit_logits_with_hard_attention(model, images, greedy=True)
    assert torch.equal(greedy, vit_logits_with_hard_attention(model, images, greedy=True))
    assert greedy.shape == soft.shape and not torch.allclose(greedy, soft, atol=1e-4)
    drawn = [vit_logits_with_hard_attention(model, images, generator=torch.Generator().manual_seed(s)) for s in (1, 1, 2)]
    assert torch.equal(drawn[0], drawn[1]) and not torch.equal(drawn[0], drawn[2])
    with pytest.raises(IndexError):
        vit_logits_with_hard_attention(model, images, layer=5)
