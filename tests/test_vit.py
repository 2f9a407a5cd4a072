"""Lecture 8's tiny ViT: patches, the patch embedding as a strided convolution, [CLS], positions, permutations."""

import pytest
import torch
from torch.nn import functional as F

from course_lib.models import PatchEmbedding, ViT, patchify
from course_lib.models.transformer import sinusoidal_positions
from course_lib.models.vit import POSITIONS, nearest_positions, position_similarity, unpatchify


def one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("shape, p", [((2, 3, 8, 12), 4), ((3, 1, 6, 6), 2), ((1, 2, 5, 10), 5)])
def test_patchify_is_unfold_with_stride_p_row_major_in_c_p_p_order(shape, p):
    images = torch.randn(*shape)
    patches = patchify(images, p)
    torch.testing.assert_close(patches, F.unfold(images, p, stride=p).transpose(1, 2), rtol=0, atol=0)
    gw = shape[3] // p
    assert patches.shape == (shape[0], (shape[2] // p) * gw, shape[1] * p * p)
    # patch 1 is the first row's second patch (row-major), flattened channel by channel
    torch.testing.assert_close(patches[:, 1], images[:, :, :p, p:2 * p].flatten(1))
    back = unpatchify(patches, shape[2:], p)
    torch.testing.assert_close(back, images, rtol=0, atol=0)
    torch.testing.assert_close(back, F.fold(patches.transpose(1, 2), shape[2:], p, stride=p), rtol=0, atol=0)


def test_patchify_rejects_sizes_that_do_not_divide():
    with pytest.raises(ValueError, match="height 7 and width 8.*patch_size=4") as excinfo:
        patchify(torch.rand(1, 1, 7, 8), 4)
    one_line_error(excinfo)
    with pytest.raises(ValueError, match="width 9.*patch_size=4"):
        patchify(torch.rand(1, 1, 8, 9), 4)
    with pytest.raises(ValueError, match="patch_size must be a positive integer"):
        patchify(torch.rand(1, 1, 8, 8), 0)
    with pytest.raises(ValueError, match=r"images must be a tensor \(B, C, H, W\)"):
        patchify(torch.rand(8, 8), 4)
    with pytest.raises(ValueError, match="image_shape"):
        unpatchify(torch.rand(1, 4, 16), (8, 9), 4)


def test_patch_embedding_is_patchify_then_one_linear_map():
    embed = PatchEmbedding(in_channels=3, patch_size=4, d_model=16)
    images = torch.randn(2, 3, 8, 12)
    weight = embed.proj.weight.reshape(16, -1)  # (d, C*P*P): the conv kernel read as a linear map
    expected = patchify(images, 4) @ weight.T + embed.proj.bias  # (B, N, d)
    torch.testing.assert_close(embed(images), expected)
    assert embed(images).shape == (2, 6, 16)
    with pytest.raises(ValueError, match="3 channels, this embedding expects 1"):
        PatchEmbedding(1, 4, 16)(images)


@pytest.mark.parametrize("positions", POSITIONS)
def test_vit_shapes_maps_and_rows_for_every_kind_of_position(positions):
    model = ViT((8, 12), patch_size=4, in_channels=3, n_classes=5, d_model=16, n_heads=2, n_layers=3,
                positions=positions)
    images = torch.rand(4, 3, 8, 12)
    assert model.grid == (2, 3)
    logits, maps = model.forward_with_attention(images)
    assert logits.shape == (4, 5) and len(maps) == 3
    assert all(m.shape == (4, 2, 7, 7) for m in maps)  # N + 1 = 2*3 + 1 tokens
    torch.testing.assert_close(model(images), logits)
    stacked = model.attention_maps(images)
    assert stacked.shape == (3, 4, 2, 7, 7) and not stacked.requires_grad
    torch.testing.assert_close(stacked, torch.stack(maps).detach())
    torch.testing.assert_close(stacked.sum(-1), torch.ones(3, 4, 2, 7))
    assert model.position_embeddings().shape == (6, 16)


def test_vit_takes_digit_rows_like_the_digits_cnn(digits):
    model = ViT(8, patch_size=2, in_channels=1, n_classes=10)
    rows = digits.x_train[:5]
    torch.testing.assert_close(model(rows), model(rows.reshape(5, 1, 8, 8)))
    with pytest.raises(ValueError, match=r"images must be \(B, 64\) or \(B, 1, 8, 8\)") as excinfo:
        model(torch.rand(5, 63))
    one_line_error(excinfo)
    with pytest.raises(ValueError, match=r"images must be \(B, 3, 8, 8\)"):
        ViT(8, 2, 3, 10)(torch.rand(5, 64))  # rows only for one channel


def test_vit_learns_a_small_batch_of_digits(digits):
    model = ViT(8, patch_size=2, in_channels=1, n_classes=10, d_model=32, n_heads=4, n_layers=2)
    x, y = digits.x_train[:64], digits.y_train[:64]
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = F.cross_entropy(model(x), y).item()
    for _ in range(60):
        loss = F.cross_entropy(model(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert loss.item() < 0.5 * first


def test_position_embeddings_for_each_kind():
    gh, gw, d = 2, 3, 8
    learned = ViT((4, 6), 2, 1, 3, d_model=d, n_heads=2, positions="learned")
    torch.testing.assert_close(learned.position_embeddings(), learned.pos_table[1:].detach())
    assert learned.pos_table.shape == (gh * gw + 1, d) and learned.pos_table.requires_grad
    assert 0.005 < learned.pos_table.std().item() < 0.05  # initialised like ViT: normal, std 0.02

    grid2d = ViT((4, 6), 2, 1, 3, d_model=d, n_heads=2, positions="learned2d")
    table = grid2d.position_embeddings()
    for r in range(gh):
        for c in range(gw):
            torch.testing.assert_close(table[r * gw + c], (grid2d.pos_rows[r] + grid2d.pos_cols[c]).detach())
    torch.testing.assert_close(grid2d.position_table()[0], grid2d.pos_cls)  # [CLS] has its own vector

    fixed = ViT((4, 6), 2, 1, 3, d_model=d, n_heads=2, positions="sinusoidal")
    torch.testing.assert_close(fixed.position_embeddings(), sinusoidal_positions(gh * gw + 1, d)[1:])
    assert not any("pos" in name for name, _ in fixed.named_parameters())  # fixed, not learned

    none = ViT((4, 6), 2, 1, 3, d_model=d, n_heads=2, positions="none")
    assert torch.equal(none.position_embeddings(), torch.zeros(gh * gw, d))
    images = torch.rand(2, 1, 4, 6)
    tokens = torch.cat([none.cls_token.expand(2, -1, -1), none.patch_embed(images)], dim=1)
    torch.testing.assert_close(none.embed(images), tokens)  # nothing added


def shuffle_patches(images: torch.Tensor, p: int, order: torch.Tensor) -> torch.Tensor:
    """The image with its patches moved: new patch n is old patch order[n]."""
    return unpatchify(patchify(images, p)[:, order], images.shape[-2:], p)


def test_without_positions_self_attention_is_permutation_equivariant():
    model = ViT((8, 8), 2, 1, 4, d_model=16, n_heads=2, n_layers=2, positions="none").eval()
    images = torch.rand(3, 1, 8, 8)
    order = torch.randperm(16, generator=torch.Generator().manual_seed(1))
    tokens = model.embed(images)  # (B, 17, d), [CLS] first
    keep_cls = torch.cat([torch.tensor([0]), order + 1])
    hidden, maps = model.encode(tokens, need_weights=True)
    hidden_shuffled, maps_shuffled = model.encode(tokens[:, keep_cls], need_weights=True)
    torch.testing.assert_close(hidden_shuffled, hidden[:, keep_cls])  # outputs shuffle the same way
    torch.testing.assert_close(maps_shuffled[1], maps[1][:, :, keep_cls][:, :, :, keep_cls])
    torch.testing.assert_close(model(shuffle_patches(images, 2, order)), model(images))  # [CLS] cannot tell


@pytest.mark.parametrize("positions", ["learned", "learned2d", "sinusoidal"])
def test_with_positions_shuffling_the_patches_changes_the_output(positions):
    model = ViT((8, 8), 2, 1, 4, d_model=16, n_heads=2, n_layers=2, positions=positions).eval()
    images = torch.rand(3, 1, 8, 8)
    order = torch.randperm(16, generator=torch.Generator().manual_seed(1))
    difference = (model(shuffle_patches(images, 2, order)) - model(images)).abs().max()
    assert difference > 1e-4  # without positions it is float rounding, about 1e-7


def test_position_similarity_is_the_cosine_matrix():
    embeddings = torch.randn(6, 5)
    expected = torch.stack([F.cosine_similarity(embeddings[i:i + 1], embeddings, dim=-1) for i in range(6)])
    similarity = position_similarity(embeddings)
    torch.testing.assert_close(similarity, expected)
    torch.testing.assert_close(similarity.diagonal(), torch.ones(6))
    with pytest.raises(ValueError, match=r"embeddings must be a tensor \(N, d\)"):
        position_similarity(torch.randn(2, 3, 4))


def test_nearest_positions_finds_grid_neighbours():
    gh, gw = 3, 4
    rows, cols = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
    coords = torch.stack([rows.flatten(), cols.flatten()], dim=1).float()  # (N, 2)
    similarity = -torch.cdist(coords, coords)  # closer on the grid = more similar
    nearest = nearest_positions(similarity, (gh, gw))
    assert nearest.shape == (gh * gw, 1, 2) and nearest.dtype == torch.long
    assert ((nearest[:, 0].float() - coords).abs().sum(-1) == 1).all()  # a 4-neighbour, never itself
    with pytest.raises(ValueError, match="k must be an integer from 1 to N-1 = 11"):
        nearest_positions(similarity, (gh, gw), k=12)
    with pytest.raises(ValueError, match="similarity must be"):
        nearest_positions(similarity, (gh, gw + 1))


def test_learned2d_positions_are_most_like_their_row_and_column():
    gh, gw = 4, 4
    model = ViT(8, 2, 1, 3, d_model=256, n_heads=4, positions="learned2d")
    similarity = position_similarity(model.position_embeddings())
    nearest = nearest_positions(similarity, (gh, gw), k=gh - 1 + gw - 1)  # (N, 6, 2)
    own = torch.tensor([[n // gw, n % gw] for n in range(gh * gw)])[:, None, :]  # (N, 1, 2)
    same_row_or_column = (nearest == own).any(-1)  # (N, 6)
    assert same_row_or_column.all()
    # a plain 1-D table has no such structure
    flat = ViT(8, 2, 1, 3, d_model=256, n_heads=4, positions="learned")
    nearest_flat = nearest_positions(position_similarity(flat.position_embeddings()), (gh, gw), k=6)
    assert not (nearest_flat == own).any(-1).all()


@pytest.mark.parametrize("kwargs, match", [
    (dict(positions="rope"), "positions must be one of"),
    (dict(image_size=10), "image_size .* is not divisible by patch_size=4"),
    (dict(patch_size=0), "patch_size must be a positive integer"),
    (dict(d_model=30), "d_model=30 is not divisible by n_heads=4"),
    (dict(d_model=12, n_heads=4, positions="sinusoidal"), None),
    (dict(d_model=9, n_heads=3, positions="sinusoidal"), "positions='sinusoidal' needs an even d_model"),
    (dict(image_size=(8, 8, 8)), "image_size must be"),
])
def test_bad_vit_arguments_give_one_line_errors(kwargs, match):
    arguments = dict(image_size=8, patch_size=4, in_channels=1, n_classes=3, d_model=16, n_heads=4) | kwargs
    if match is None:
        assert ViT(**arguments).position_embeddings().shape == (4, 12)
        return
    with pytest.raises(ValueError, match=match) as excinfo:
        ViT(**arguments)
    one_line_error(excinfo)


def test_forward_takes_the_fused_kernel_and_gives_the_logits_of_the_explicit_path():
    model = ViT((8, 8), 2, 1, 5, d_model=16, n_heads=2, n_layers=2).eval()
    images = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    logits, maps = model.forward_with_attention(images)  # the weights asked for: the explicit path
    assert len(maps) == 2 and maps[0].shape == (4, 2, 17, 17)
    assert model.forward_with_attention(images, need_weights=False)[1] == []
    torch.testing.assert_close(model(images), logits, atol=1e-6, rtol=0)
