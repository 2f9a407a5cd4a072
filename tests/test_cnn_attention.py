"""Attention inside CNNs (lecture 8): squeeze-and-excitation, spatial attention, the non-local block, AttentionCNN."""

import math

import pytest
import torch
from torch.nn import functional as F

from course_lib.models import AttentionCNN, DigitsCNN, NonLocalBlock, SpatialAttention, SqueezeExcitation


def n_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_se_gates_are_one_per_channel_in_0_1_and_rescale_the_channels():
    se = SqueezeExcitation(8, reduction=4)
    x = torch.randn(3, 8, 5, 6)
    gates = se.gates(x)
    assert gates.shape == (3, 8) and ((gates > 0) & (gates < 1)).all()
    fc1, fc2 = se.excite[0], se.excite[2]
    assert (fc1.in_features, fc1.out_features, fc2.out_features) == (8, 2, 8)
    expected = torch.sigmoid(fc2(torch.relu(fc1(x.mean(dim=(2, 3))))))  # squeeze over H and W
    torch.testing.assert_close(gates, expected)
    torch.testing.assert_close(se(x), x * expected[:, :, None, None])


def test_se_squeezes_over_the_places_not_the_channels():
    se = SqueezeExcitation(4, reduction=2)
    x = torch.randn(2, 4, 3, 3)
    places = torch.randperm(9, generator=torch.Generator().manual_seed(0))
    moved = x.flatten(2)[:, :, places].reshape(x.shape)  # the same pixels elsewhere: each channel's mean unchanged
    torch.testing.assert_close(se.gates(moved), se.gates(x))
    # same mean over the channels at every place, different channel means: pooling over channels could not tell
    a = torch.zeros(1, 4, 3, 3)
    a[:, 0] = 4.0
    b = torch.zeros(1, 4, 3, 3)
    b[:, 1] = 4.0
    torch.testing.assert_close(a.mean(dim=1), b.mean(dim=1))
    assert not torch.allclose(se.gates(a), se.gates(b))
    # each image gets its own gates
    torch.testing.assert_close(se.gates(torch.cat([a, b]))[1], se.gates(b)[0])


def test_spatial_attention_is_one_weight_per_place_from_channel_mean_and_max():
    spatial = SpatialAttention(kernel_size=3)
    x = torch.randn(2, 6, 5, 7)
    weights = spatial.weight_map(x)
    assert weights.shape == (2, 1, 5, 7) and ((weights > 0) & (weights < 1)).all()
    pooled = torch.stack([x.mean(dim=1), x.max(dim=1).values], dim=1)  # (B, 2, H, W)
    expected = torch.sigmoid(F.conv2d(pooled, spatial.conv.weight, spatial.conv.bias, padding=1))
    torch.testing.assert_close(weights, expected)
    torch.testing.assert_close(spatial(x), x * expected)
    torch.testing.assert_close(spatial.weight_map(x[:, torch.randperm(6)]), weights)  # channel order is irrelevant


def test_nonlocal_block_starts_as_the_identity():
    block = NonLocalBlock(8)
    x = torch.randn(2, 8, 4, 5)
    y, weights = block.attend(x)
    assert torch.equal(y, x) and torch.equal(block(x), x)
    assert weights.shape == (2, 20, 20)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 20))
    assert block.theta.out_channels == 4  # inner defaults to C/2


def test_nonlocal_block_is_self_attention_over_all_places():
    block = NonLocalBlock(6, inner=3)
    torch.nn.init.normal_(block.out.weight)  # as after training: no longer the identity
    x = torch.randn(2, 6, 3, 4)
    y, weights = block.attend(x)

    def tokens(conv):
        return conv(x).flatten(2).transpose(1, 2)  # (B, HW, inner), row-major places

    q, k, v = tokens(block.theta), tokens(block.phi), tokens(block.g)
    expected_weights = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(3), dim=-1)
    torch.testing.assert_close(weights, expected_weights)
    attended = F.scaled_dot_product_attention(q, k, v)  # torch's own, (B, HW, inner)
    expected = x + block.out(attended.transpose(1, 2).reshape(2, 3, 3, 4))
    torch.testing.assert_close(y, expected)
    changed = x.clone()
    changed[:, :, 0, 0] += 1.0  # one far corner
    assert not torch.allclose(block(changed)[:, :, -1, -1], y[:, :, -1, -1])  # reaches the opposite corner


@pytest.mark.parametrize("attention", [None, "se", "spatial", "nonlocal"])
def test_attention_cnn_shapes_rows_and_inspectable_weights(attention):
    model = AttentionCNN((4, 8), attention=attention)
    rows = torch.rand(5, 64)
    assert model(rows).shape == (5, 10)
    torch.testing.assert_close(model(rows), model(rows.reshape(5, 1, 8, 8)))
    weights = model.attention_weights(rows)
    expected = {None: None, "se": (5, 8), "spatial": (5, 1, 4, 4), "nonlocal": (5, 16, 16)}[attention]
    assert (weights is None) if expected is None else (weights.shape == expected and not weights.requires_grad)
    colour = AttentionCNN((4, 8), n_classes=3, image_shape=(12, 16), in_channels=3, attention=attention)
    assert colour(torch.rand(2, 3, 12, 16)).shape == (2, 3)


def test_attention_cnn_without_attention_is_the_digits_cnn_and_nonlocal_starts_equal():
    digits_cnn = DigitsCNN((4, 8))
    plain, nonlocal_ = AttentionCNN((4, 8)), AttentionCNN((4, 8), attention="nonlocal")
    for model in (plain, nonlocal_):
        model.block1[0].load_state_dict(digits_cnn.features[0].state_dict())
        model.block2[0].load_state_dict(digits_cnn.features[3].state_dict())
        model.classifier.load_state_dict(digits_cnn.classifier.state_dict())
    rows = torch.rand(4, 64)
    torch.testing.assert_close(plain(rows), digits_cnn(rows))
    torch.testing.assert_close(nonlocal_(rows), digits_cnn(rows))  # the zero-initialised block adds nothing yet


def test_parameter_counts_of_the_attention_variants():
    c1, c2 = 4, 8
    kinds = (None, "se", "spatial", "nonlocal")
    counts = {kind: n_parameters(AttentionCNN((c1, c2), attention=kind)) for kind in kinds}
    print(counts)
    base = n_parameters(DigitsCNN((c1, c2)))
    hidden, inner = c2 // 4, c2 // 2
    assert counts[None] == base
    assert counts["se"] == base + (c2 * hidden + hidden) + (hidden * c2 + c2)
    assert counts["spatial"] == base + 2 * 7 * 7 + 1
    assert counts["nonlocal"] == base + 3 * (c2 * inner + inner) + (inner * c2 + c2)
    assert len(set(counts.values())) == 4


@pytest.mark.parametrize("make, match", [
    (lambda: AttentionCNN(attention="cbam"), "attention must be one of"),
    (lambda: AttentionCNN(image_shape=(6, 8)), "image_shape: two 2x2 poolings"),
    (lambda: SqueezeExcitation(0), "channels must be a positive integer"),
    (lambda: SqueezeExcitation(8, reduction=0), "reduction must be a positive integer"),
    (lambda: SpatialAttention(4), "kernel_size must be odd"),
    (lambda: NonLocalBlock(8, inner=0), "inner must be a positive integer"),
    (lambda: SqueezeExcitation(4).gates(torch.rand(4, 3, 3)), r"x must be feature maps \(B, C, H, W\)"),
    (lambda: NonLocalBlock(4)(torch.rand(2, 4)), r"x must be feature maps"),
    (lambda: AttentionCNN((4, 8))(torch.rand(2, 63)), r"images must be \(B, 64\) or \(B, 1, 8, 8\)"),
])
def test_bad_arguments_give_one_line_errors(make, match):
    with pytest.raises(ValueError, match=match) as excinfo:
        make()
    assert "\n" not in str(excinfo.value)
