"""Every number and comparison lecture 8 (Vision Transformers) states, on the shipped checkpoints.

The models are the registry's lecture-8 entries, loaded (never trained) through a shipped-only store; training from
scratch is covered by the recipes' own tests. Each test names the lecture's sentence it checks.
"""

from __future__ import annotations

import pytest
import torch

from course_lib.conv_arithmetic import conv_output_size
from course_lib.data import load_digits
from course_lib.models import PatchEmbedding, ViT, patchify
from course_lib.models.transformer import sinusoidal_positions
from course_lib.recipes import CNNRecipe, ViTRecipe
from course_lib.recipes.registry import ENTRIES
from course_lib.recipes.vision import LECTURE8_SHIFTED, digits_subset
from course_lib.vision_attention import attention_cost
from course_lib.vision_metrics import (cnn_attention_comparison, corner_similarity, count_parameters,
                                       data_size_comparison, hard_attention_accuracy, neighbour_shares,
                                       position_comparison, rollout_ink_share)


def n_tokens(image_size: int, patch: int) -> int:
    side = conv_output_size(image_size, patch, patch)
    return side * side


def test_token_counts_the_lecture_quotes():
    """'ViT-B/16 at 224 pixels reads 196 patches; ... ViT-L/14 at 336 pixels ... 576 image tokens'; quiz 1: 197^2."""
    assert n_tokens(8, 2) == 16 and n_tokens(224, 16) == 196 and n_tokens(336, 14) == 576
    assert (n_tokens(224, 16) + 1) ** 2 == 38_809
    assert n_tokens(32, 2) ** 2 == 16 * n_tokens(32, 4) ** 2  # 'halving the patch size ... multiplies by 16'


def test_the_patch_embedding_is_patchify_then_linear():
    embed = PatchEmbedding(3, 4, 8)
    x = torch.rand(2, 3, 12, 16)
    by_linear = patchify(x, 4) @ embed.proj.weight.flatten(1).T + embed.proj.bias
    assert embed(x).shape == (2, 12, 8)
    torch.testing.assert_close(embed(x), by_linear, atol=1e-5, rtol=1e-5)


def test_without_positions_order_is_invisible():
    """Shuffled patches give shuffled outputs, and the same [CLS] output."""
    bag = ViT(8, 2, 1, 10, positions="none").eval()
    x = load_digits().x_test[:4].reshape(-1, 1, 8, 8)
    order = torch.randperm(16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        tokens = bag.embed(x)
        out, _ = bag.encode(tokens)
        shuffled, _ = bag.encode(torch.cat([tokens[:, :1], tokens[:, 1:][:, order]], dim=1))
    torch.testing.assert_close(shuffled[:, 1:], out[:, 1:][:, order], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(shuffled[:, 0], out[:, 0], atol=1e-5, rtol=1e-5)


def test_sinusoidal_dot_products_depend_only_on_the_offset_and_peak_at_zero():
    table = sinusoidal_positions(64, 32)
    dots = table @ table.T
    torch.testing.assert_close(dots[0, 5], dots[20, 25])
    omega = 10000.0 ** (-torch.arange(0, 32, 2) / 32)  # the 16 frequencies
    torch.testing.assert_close(dots[3, 10], torch.cos(7 * omega).sum(), atol=1e-4, rtol=1e-4)  # sum_i cos(k w_i)
    for p in (0, 20, 40):
        assert dots[p].argmax() == p


def test_positions_matter_and_2d_does_as_well_as_1d(shipped_store):
    """'Without positions the ViT is far worse (72 % against 97 %) ... The 2-D table ... does as well.'"""
    accuracy = position_comparison(shipped_store)
    assert round(100 * accuracy["none"]) == 72 and round(100 * accuracy["learned"]) == 97
    assert abs(accuracy["learned2d"] - accuracy["learned"]) <= 0.01


def test_centred_digits_teach_the_table_borders_and_shifted_ones_the_grid(shipped_store):
    """'a direct neighbour hardly more often than chance ... the four corners are alike'; shifted: 'for most
    positions ... a direct neighbour's, and almost always one in the same row or column'."""
    centred = shipped_store.load(ViTRecipe()).model
    plain, corners = neighbour_shares(centred), corner_similarity(centred)
    assert plain["neighbour"] <= plain["neighbour_chance"] + 0.1
    assert corners["corners"] > 0.4 and corners["corners_to_rest"] < 0.1
    moved = neighbour_shares(shipped_store.load(LECTURE8_SHIFTED).model)
    assert moved["neighbour"] >= 0.6 and moved["neighbour"] >= 3 * moved["neighbour_chance"]
    assert moved["same_line"] >= 0.8 > plain["same_line"]


def test_shifted_training_has_the_same_number_of_gradient_steps():
    steps = lambda recipe, n: recipe.epochs * -(-n * (1 + recipe.shifted_copies) // recipe.batch_size)  # noqa: E731
    n = len(digits_subset(1.0)[1])
    assert n == 1437
    assert abs(steps(LECTURE8_SHIFTED, n) - steps(ViTRecipe(), n)) / steps(ViTRecipe(), n) < 0.02  # within 2 %: 1356 against 1380


def test_the_vit_and_the_cnn_have_similar_sizes_and_the_budget_the_lecture_states(shipped_store):
    """'26.5 thousand parameters ... 21.4 thousand'; 'Adam, 3e-3, batches of 64, 60 epochs'."""
    vit, cnn = shipped_store.load(ViTRecipe()), shipped_store.load(CNNRecipe())
    assert round(count_parameters(vit.model) / 100) == 265 and round(count_parameters(cnn.model) / 100) == 214
    for recipe in (ViTRecipe(), CNNRecipe()):
        assert (recipe.lr, recipe.batch_size, recipe.epochs) == (3e-3, 64, 60)
    # 'The CNN's loss falls much faster in the first epochs; by the end both are equally low.'
    assert vit.history[9] > 3 * cnn.history[9]
    assert abs(vit.history[-1] - cnn.history[-1]) < 0.2 * cnn.history[-1]


def test_the_cnn_wins_with_little_data_and_the_gap_closes(shipped_store):
    """'by 16 points with 142 training digits, by 6 with 434 and by under 2 with all 1437'; losses under 0.05."""
    rows = data_size_comparison(shipped_store)
    assert [row["n_train"] for row in rows] == [142, 434, 1437]
    gaps = [100 * (row["cnn"] - row["vit"]) for row in rows]
    assert round(gaps[0]) == 16 and round(gaps[1]) == 6 and 0 < gaps[2] < 2
    assert gaps[0] > gaps[1] > gaps[2] > 0
    for fraction in (0.1, 0.3, 1.0):
        for recipe in (ViTRecipe(train_fraction=fraction), CNNRecipe(train_fraction=fraction)):
            assert shipped_store.load(recipe).history[-1] < 0.05


def test_rollout_leans_towards_the_ink_but_only_a_little(shipped_store):
    vit = shipped_store.load(ViTRecipe()).model
    share = rollout_ink_share(vit, load_digits().x_test)
    assert share["ink_patches"] < share["rollout_on_ink"] < share["ink_patches"] + 0.1


def test_heads_are_sharper_than_the_rollout(shipped_store):
    """'Single heads are sharp ... The rollout ... is smooth': the largest [CLS] weight on a patch."""
    from course_lib.vision_attention import attention_rollout
    vit = shipped_store.load(ViTRecipe()).model
    maps = vit.attention_maps(load_digits().x_test[:50])  # (layers, B, heads, 17, 17)
    heads = maps[:, :, :, 0, 1:]
    heads = heads / heads.sum(-1, keepdim=True)
    rollout = attention_rollout(maps)[:, 0, 1:]
    rollout = rollout / rollout.sum(-1, keepdim=True)
    assert heads.amax(-1).mean() > 2 * rollout.amax(-1).mean()


def test_attention_in_cnns_costs_parameters_and_does_not_help_on_digits(shipped_store):
    """'spatial attention very few, the non-local block the most'; 'none of them beats the plain CNN ... within 1.5
    points'."""
    rows = {row["attention"]: row for row in cnn_attention_comparison(shipped_store, batch=32, repeats=1)}
    extra = {name: rows[name]["parameters"] - rows["none"]["parameters"] for name in ("se", "spatial", "nonlocal")}
    assert 0 < extra["spatial"] < extra["se"] < extra["nonlocal"]
    assert extra["se"] == 2 * 64 * 64 // 4 + 64 // 4 + 64  # 2C^2/r weights and the biases, C = 64, r = 4
    for name in ("se", "spatial", "nonlocal"):
        assert rows["none"]["accuracy"] - 0.015 <= rows[name]["accuracy"] <= rows["none"]["accuracy"]


def test_se_gates_pass_most_channels_and_switch_a_few_off(shipped_store):
    gates = shipped_store.load(CNNRecipe(attention="se")).model.attention_weights(load_digits().x_test[:6])
    assert gates.shape == (6, 64)
    assert ((gates > 0.9).float().mean(-1) > 0.75).all() and ((gates < 0.1).sum(-1) >= 1).all()


def test_hard_attention_costs_accuracy_the_argmax_less(shipped_store):
    hard = hard_attention_accuracy(shipped_store.load(ViTRecipe()).model, draws=10)
    assert hard["soft"] > hard["argmax"] > hard["sampled"]
    assert hard["soft"] - hard["sampled"] < 0.05


def test_windowed_attention_memory_and_the_quiz_counts():
    """Weight memory: N^2 per head globally, N * window^2 in windows; quiz 4: 64x64 patches, 8x8 windows."""
    rows = attention_cost([8, 16], window=4, repeats=1)
    by = {(r["grid"], r["kind"]): r["weight_bytes"] for r in rows}
    assert by[(16, "global")] == 16 * by[(8, "global")] and by[(16, "windowed")] == 4 * by[(8, "windowed")]
    n = 64 * 64
    assert n == 4096 and round(n * n / 1e6, 1) == 16.8 and 64 * 64 ** 2 == 262_144 and n * n // 262_144 == 64


@pytest.mark.parametrize("name", [e.name for e in ENTRIES if e.lecture == 8])
def test_every_lecture8_model_ships(name, shipped_store):
    recipe = next(e.recipe for e in ENTRIES if e.name == name)
    assert shipped_store.find(recipe) is not None
