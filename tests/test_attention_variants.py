"""Lecture 4's variants of attention: Bahdanau's and Luong's decoder steps, local-p attention, soft vs hard attention
(Show, Attend and Tell) on the shipped visual attention model, and the architecture diagrams."""

import math

import pytest
import torch
from torch import nn

from course_lib import attention_diagrams
from course_lib.data.tokenizer import BOS
from course_lib.models.attention import MultiplicativeAttention, padding_mask
from course_lib.models.decoder_steps import bahdanau_step, luong_step
from course_lib.models.hard_attention import hard_attend
from course_lib.models.local_attention import LocalAttention, local_p_weights, predicted_position
from course_lib.models.scores import general_score
from course_lib.models.seq2seq import Seq2Seq
from course_lib.models.show_attend_tell import hard_attention_accuracy, hard_visual_attention, reinforce_gradient
from course_lib.models.transformer import Block
from course_lib.models.visual_attention import colour_queries, evaluate_attention
from course_lib.recipes import Source
from course_lib.recipes.visual_attention import VisualAttentionRecipe, attention_scenes

E, H, S, V = 8, 16, 7, 11


@pytest.fixture
def states():
    g = torch.Generator().manual_seed(0)
    return (torch.randn(2, E, generator=g), torch.randn(2, H, generator=g), torch.randn(2, S, H, generator=g),
            padding_mask(torch.tensor([7, 4])))


# Bahdanau's and Luong's decoder steps

def test_the_course_translator_takes_bahdanaus_step_whatever_its_score():
    for attention in ("additive", "general"):
        model = Seq2Seq(13, V, attention=attention, emb_dim=E, hidden_dim=H).eval()
        src, lengths = torch.randint(3, 13, (2, 5)), torch.tensor([5, 3])
        memory, summary = model.encode(src, lengths)
        mask, state, prev = padding_mask(lengths, 5), torch.randn(2, H), torch.tensor([BOS, 4])
        ours = bahdanau_step(model.cell, model.attention, model.out, model.tgt_embed(prev), state, memory, mask)
        for a, b in zip(ours, model.step(prev, state, memory, mask, summary)):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_bahdanau_looks_with_the_previous_state_and_feeds_the_context_into_the_rnn(states):
    prev, state, memory, mask = states
    cell, attention, readout = nn.GRUCell(E + H, H), MultiplicativeAttention(H, H, "general"), nn.Linear(2 * H, V)
    logits, new_state, weights = bahdanau_step(cell, attention, readout, prev, state, memory, mask)
    context, expected_weights = attention(state, memory, mask=mask)  # the query is s_{t-1}
    torch.testing.assert_close(weights, expected_weights)
    torch.testing.assert_close(new_state, cell(torch.cat([prev, context], -1), state))
    torch.testing.assert_close(logits, readout(torch.cat([new_state, context], -1)))
    _, other_state, _ = bahdanau_step(cell, attention, readout, prev, state, memory.flip(1), mask)
    assert not torch.allclose(other_state, new_state)  # the new state has read the source


def test_luong_looks_with_the_current_state_and_combines_after_the_rnn(states):
    prev, state, memory, mask = states
    cell, attention = nn.GRUCell(E + H, H), MultiplicativeAttention(H, H, "general")
    combine, readout, prev_attentional = nn.Linear(2 * H, H), nn.Linear(H, V), torch.randn(2, H)
    logits, new_state, attentional, weights = luong_step(cell, attention, combine, readout, prev, state,
                                                         prev_attentional, memory, mask)
    torch.testing.assert_close(new_state, cell(torch.cat([prev, prev_attentional], -1), state))  # input feeding
    context, expected_weights = attention(new_state, memory, mask=mask)  # the query is h_t, not h_{t-1}
    torch.testing.assert_close(weights, expected_weights)
    assert not torch.allclose(weights, attention(state, memory, mask=mask)[1])
    torch.testing.assert_close(attentional, torch.tanh(combine(torch.cat([context, new_state], -1))))
    torch.testing.assert_close(logits, readout(attentional))
    _, same_state, other_attentional, _ = luong_step(cell, attention, combine, readout, prev, state,
                                                     prev_attentional, memory.flip(1), mask)
    torch.testing.assert_close(same_state, new_state)  # this step's RNN never sees this step's source context
    assert not torch.allclose(other_attentional, attentional)


# Luong's local-p attention

def test_predicted_position_is_S_times_a_sigmoid():
    g = torch.Generator().manual_seed(1)
    state, W_p, v_p = torch.randn(3, H, generator=g), torch.randn(5, H, generator=g), torch.randn(5, generator=g)
    lengths = torch.tensor([7.0, 20.0, 3.0])
    expected = torch.stack([lengths[b] / (1 + torch.exp(-(v_p @ torch.tanh(W_p @ state[b])))) for b in range(3)])
    position = predicted_position(state, W_p, v_p, lengths)
    torch.testing.assert_close(position, expected)
    assert ((position >= 0) & (position <= lengths)).all()


def test_local_p_weights_are_the_windows_softmax_times_a_gaussian():
    g = torch.Generator().manual_seed(2)
    scores, position, half_width = torch.randn(2, 20, generator=g), torch.tensor([6.3, 17.9]), 3
    mask = padding_mask(torch.tensor([20, 19]))
    weights = local_p_weights(scores, position, half_width, mask)
    for b in range(2):
        window = [s for s in range(20) if abs(s - position[b].item()) <= half_width and mask[b, s]]
        align = torch.softmax(scores[b, window], 0)
        gaussian = torch.exp(-(torch.tensor(window) - position[b]) ** 2 / (2 * (half_width / 2) ** 2))
        torch.testing.assert_close(weights[b, window], align * gaussian)
        outside = [s for s in range(20) if s not in window]
        assert (weights[b, outside] == 0).all()  # nothing outside the window, nothing on padding
        assert weights[b].sum() < 1  # not renormalised after the Gaussian, as in the paper
    assert window == [15, 16, 17, 18]  # row 1: |s - 17.9| <= 3 stops at 20.9, padding cuts it at 18


def test_local_attention_learns_where_to_look_and_a_wide_window_is_global_attention(states):
    _, query, keys, mask = states
    local = LocalAttention(H, half_width=2)
    context, weights, position = local(query, keys, mask)
    torch.testing.assert_close(context, torch.einsum("bs,bsd->bd", weights, keys))
    torch.testing.assert_close(position, predicted_position(query, local.W_p.weight, local.v_p.weight[0],
                                                            mask.sum(-1).float()))
    context.sum().backward()  # the Gaussian is differentiable in p_t: backpropagation trains W_p and v_p
    assert local.W_p.weight.grad.abs().sum() > 0 and local.v_p.weight.grad.abs().sum() > 0
    wide = LocalAttention(H, half_width=10_000)  # sigma = 5000: the Gaussian is flat, the window everything
    wide.load_state_dict(local.state_dict())
    _, wide_weights, _ = wide(query, keys, mask)
    global_weights = torch.softmax(general_score(query[:, None], keys, local.W_a.weight)[:, 0]
                                   .masked_fill(~mask, -math.inf), -1)
    torch.testing.assert_close(wide_weights, global_weights, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="half_width must be a positive integer"):
        LocalAttention(H, half_width=0)


# Soft and hard attention (Show, Attend and Tell)

def test_hard_attention_is_soft_attention_on_average_but_passes_no_gradient_to_the_weights():
    g = torch.Generator().manual_seed(3)
    scores, values = torch.randn(6, generator=g).requires_grad_(), torch.randn(6, 2, generator=g).requires_grad_()
    weights = torch.softmax(scores, -1)
    soft = weights @ values
    hard, picks = hard_attend(weights.expand(20_000, 6), values, generator=g)  # 20,000 draws of one position
    torch.testing.assert_close(picks.mean(0), weights.detach(), atol=0.01, rtol=0)
    torch.testing.assert_close(hard.mean(0), soft.detach(), atol=0.03, rtol=0)  # E[hard] = soft
    assert torch.autograd.grad(soft.sum(), scores)[0].abs().sum() > 0
    assert torch.autograd.grad(hard[0].sum(), scores, allow_unused=True)[0] is None  # the draw cuts the graph


def test_reinforce_estimates_the_gradient_and_a_baseline_makes_it_less_noisy():
    """Lecture 4, section 15: the notebook's six region scores (seed 0) and made-up losses."""
    logits = torch.randn(6, generator=torch.Generator().manual_seed(0))
    costs = torch.tensor([1.0, 0.2, 3.0, 1.5, 0.5, 2.0])
    z = logits.clone().requires_grad_()
    expected_cost = (torch.softmax(z, -1) * costs).sum()
    exact = torch.autograd.grad(expected_cost, z)[0]
    g = torch.Generator().manual_seed(4)
    torch.testing.assert_close(reinforce_gradient(logits, costs, 100_000, g), exact, atol=0.01, rtol=0)
    plain = torch.stack([reinforce_gradient(logits, costs, 100, g) for _ in range(200)])
    centred = torch.stack([reinforce_gradient(logits, costs, 100, g, baseline=expected_cost.item())
                           for _ in range(200)])
    torch.testing.assert_close(centred.mean(0), exact, atol=0.01, rtol=0)  # the baseline keeps the mean ...
    assert ((centred - exact) ** 2).sum(-1).mean() < 0.5 * ((plain - exact) ** 2).sum(-1).mean()  # ... halves the noise


@pytest.fixture(scope="module")
def looker(shipped_store):
    trained = shipped_store.load(VisualAttentionRecipe())
    assert trained.source == Source.SHIPPED
    return trained.model.eval()


def test_hard_visual_attention_reads_one_region_of_the_soft_weights(looker, monkeypatch):
    queries = colour_queries(attention_scenes(VisualAttentionRecipe(), "test", 20))
    soft_logits, weights = looker.attend(queries.images, queries.words)  # weights (Q, 8, 8)
    logits, picks = hard_visual_attention(looker, queries.images, queries.words, greedy=True)
    assert picks.shape == weights.shape and (picks.flatten(1).sum(-1) == 1).all()
    assert torch.equal(picks.flatten(1).argmax(-1), weights.flatten(1).argmax(-1))  # greedy: the strongest region
    assert not torch.allclose(logits, soft_logits)
    # with the draw replaced by the weighted average, the same code is the soft model: only the read differs
    monkeypatch.setattr("course_lib.models.show_attend_tell.hard_attend",
                        lambda w, values, generator=None, greedy=False: (w @ values, w))
    average, _ = hard_visual_attention(looker, queries.images, queries.words)
    torch.testing.assert_close(average, soft_logits)


def test_lecture_claims_hard_attention_costs_this_model_little(looker):
    queries = colour_queries(attention_scenes(VisualAttentionRecipe(), "test", 200))
    scores = hard_attention_accuracy(looker, queries, draws=3, seed=0)
    assert scores["soft"] == pytest.approx(evaluate_attention(looker, queries)["accuracy"])  # the trained model
    assert scores["soft"] > 0.97  # measured 1.000 on these 400 questions
    assert 0 < scores["soft"] - scores["sampled"] < 0.05  # measured 0.984 sampled: a little lower ...
    assert scores["argmax"] >= scores["sampled"]  # ... the argmax less so (0.990); 1000 scenes: 0.999, 0.985, 0.998


# The diagrams

def test_the_diagrams_draw():
    for draw in (attention_diagrams.draw_decoder_steps, attention_diagrams.draw_transformer,
                 attention_diagrams.draw_lstmn):
        assert draw().axes[0].patches
    gnmt = attention_diagrams.draw_gnmt(n_layers=8)
    labels = [t.get_text() for t in gnmt.axes[0].texts]
    assert labels.count("LSTM layer 8") == 2 and "LSTM →" in labels and "← LSTM" in labels
    with pytest.raises(ValueError, match="current must index"):
        attention_diagrams.draw_lstmn(current=0)


def test_the_feed_forward_layer_is_applied_to_each_position_separately():
    mlp = Block(32, 2).mlp
    x = torch.randn(3, 9, 32)
    one_by_one = torch.stack([mlp(x[:, i]) for i in range(9)], dim=1)
    torch.testing.assert_close(mlp(x), one_by_one)
