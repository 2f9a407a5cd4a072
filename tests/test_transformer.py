"""The tiny transformer: positions, masks, per-head maps, and the attention patterns lecture 4 shows."""

import math

import pytest
import torch

from course_lib.attention_viz import plot_attention, plot_heads, plot_softmax_saturation
from course_lib.data.sequences import IGNORE, SEPARATOR, VOCAB_SIZE, repeat_task, reversal_task
from course_lib.models.attention import padding_mask
from course_lib.models.transformer import TransformerEncoder, sinusoidal_positions
from course_lib.recipes import Store, TransformerRecipe
from course_lib.viz import figure_pixels
from course_lib.widgets import attention_explorer, draw_attention_head



def test_sinusoidal_positions_follow_the_formula():
    table = sinusoidal_positions(50, 16)
    p, i = 7, 3
    assert table.shape == (50, 16)
    assert math.isclose(table[p, 2 * i], math.sin(p / 10000 ** (2 * i / 16)), abs_tol=1e-6)
    assert math.isclose(table[p, 2 * i + 1], math.cos(p / 10000 ** (2 * i / 16)), abs_tol=1e-6)
    with pytest.raises(ValueError, match="even"):
        sinusoidal_positions(5, 7)


def test_encoder_returns_states_and_a_map_per_layer_and_head():
    encoder = TransformerEncoder(VOCAB_SIZE, d_model=16, n_heads=4, n_layers=3, max_len=12).eval()
    tokens = torch.randint(0, VOCAB_SIZE, (2, 9))
    hidden, maps = encoder(tokens, need_weights=True)
    assert hidden.shape == (2, 9, 16) and len(maps) == 3
    assert all(m.shape == (2, 4, 9, 9) for m in maps)
    torch.testing.assert_close(maps[0].sum(-1), torch.ones(2, 4, 9))
    with pytest.raises(ValueError, match="max_len"):
        encoder(torch.zeros(1, 13, dtype=torch.long))


def test_causal_encoder_never_looks_ahead_and_padding_is_never_attended():
    decoder = TransformerEncoder(VOCAB_SIZE, d_model=16, n_heads=2, n_layers=2, max_len=12, causal=True).eval()
    tokens = torch.randint(0, VOCAB_SIZE, (2, 6))
    _, maps = decoder(tokens, key_padding_mask=padding_mask(torch.tensor([6, 4])), need_weights=True)
    assert len(maps) == 2
    for weights in maps:
        assert (weights.triu(1) == 0).all()
        assert (weights[1, :, :, 4:] == 0).all()
    changed = tokens.clone()
    changed[:, -1] = (changed[:, -1] + 1) % VOCAB_SIZE  # a future token must not change the past
    torch.testing.assert_close(decoder(tokens)[0][:, :-1], decoder(changed)[0][:, :-1])


@pytest.mark.parametrize("causal", [False, True])
def test_without_weights_the_encoder_takes_the_fused_kernel_and_gives_the_same_states(causal):
    encoder = TransformerEncoder(VOCAB_SIZE, d_model=16, n_heads=2, n_layers=2, max_len=12, causal=causal).eval()
    tokens = torch.randint(0, VOCAB_SIZE, (3, 7), generator=torch.Generator().manual_seed(0))
    padding = padding_mask(torch.tensor([7, 5, 2]))
    fused, no_maps = encoder(tokens, key_padding_mask=padding)
    explicit, maps = encoder(tokens, key_padding_mask=padding, need_weights=True)
    assert no_maps == [] and len(maps) == 2
    torch.testing.assert_close(fused, explicit, atol=1e-6, rtol=0)


def test_sequence_tasks():
    x, y = reversal_task(5, 6, seed=1)
    torch.testing.assert_close(y, x.flip(1))
    tokens, targets = repeat_task(4, 5, seed=2)
    assert tokens.shape == (4, 11) and (tokens[:, 5] == SEPARATOR).all()
    torch.testing.assert_close(tokens[:, :5], tokens[:, 6:])
    assert (targets[:, :5] == IGNORE).all() and (targets[:, 5:10] == tokens[:, 6:11]).all()
    with pytest.raises(ValueError, match="at least one"):
        reversal_task(0)


@pytest.fixture(scope="module")
def trained():
    store = Store(torch.device("cpu"), progress=False)  # no folders: trains here, whatever earlier runs saved
    return {task: store.load(TransformerRecipe(task)).model for task in ("reversal", "repeat")}


def accuracy(model, tokens, targets):
    with torch.no_grad():
        predicted = model(tokens).argmax(-1)
    scored = targets != IGNORE
    return ((predicted == targets) & scored).sum().item() / scored.sum().item()


def test_lecture4_reversal_transformer_solves_the_task_with_an_anti_diagonal(trained):
    model = trained["reversal"]
    x, y = reversal_task(300, 8, seed=99)
    assert accuracy(model, x, y) > 0.99
    last_layer = model.attention_maps(x)[-1]  # (B, heads, L, L)
    anti_diagonal = last_layer.flip(-1).diagonal(dim1=-2, dim2=-1).sum(-1) / 8  # mean weight on L-1-i
    assert anti_diagonal.mean(0).max() > 0.8, "some head of the last layer should look at position L-1-i"


def test_lecture4_causal_transformer_copies_by_looking_back(trained):
    model = trained["repeat"]
    tokens, targets = repeat_task(300, 8, seed=99)
    assert accuracy(model, tokens, targets) > 0.99
    last_layer = model.attention_maps(tokens)[-1]  # (B, heads, 17, 17)
    assert (last_layer.triu(1) == 0).all()
    # at position 8 + j (separator or copy j-1) the next digit is digit j of the first copy: position j
    rows = torch.arange(8, 16)
    looks_back = last_layer[:, :, rows, rows - 8].mean(-1)  # (B, heads)
    assert looks_back.mean(0).max() > 0.5, "some head should look back at the digit to copy"


def test_attention_pictures_and_explorer(trained, monkeypatch):
    x, _ = reversal_task(3, 8, seed=5)
    maps = trained["reversal"].attention_maps(x)  # (layers, B, heads, L, L)
    tokens = [[str(t) for t in row] for row in x.tolist()]

    def source(i):
        return maps[:, i], tokens[i], tokens[i]

    fig = plot_heads(maps[:, 0], tokens[0])
    assert len(fig.axes) == 4
    first = figure_pixels(draw_attention_head(source, 0, 1, 0))
    assert not (first == figure_pixels(draw_attention_head(source, 0, 0, 0))).all()
    with pytest.raises(ValueError, match="No layer 3"):
        draw_attention_head(source, 0, 2, 0)
    with pytest.raises(ValueError, match="do not fit"):
        plot_attention(maps[0, 0, 0], tokens[0][:3], tokens[0])
    shown = []
    monkeypatch.setattr("course_lib.widgets.display", lambda fig: shown.append(fig.axes[0].get_title()))
    explorer = attention_explorer(source, 3, n_layers=2, n_heads=2)
    example, layer, head = explorer.children[0].children
    layer.value = 2  # moving a control redraws
    head.value = 2
    assert shown == ["layer 1, head 1", "layer 2, head 1", "layer 2, head 2"]
    assert plot_softmax_saturation(dims=(4, 256)).lines


def test_softmax_saturates_without_scaling():
    ax = plot_softmax_saturation(dims=(4, 1024), n_keys=10)
    unscaled, scaled = (line.get_ydata() for line in ax.lines[:2])
    assert unscaled[-1] > 0.9 and scaled[-1] < 0.6 and unscaled[-1] > unscaled[0]


def test_lecture4_parameters_match_the_recipes_tested_here():
    import json

    from ci.run_notebooks import REPO

    nb = json.loads((REPO / "lectures" / "04_attention.ipynb").read_text())
    parameters = {}
    exec("".join(next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))["source"]), parameters)
    assert parameters["TRANSFORMER_EPOCHS"] == TransformerRecipe("reversal").epochs


def test_one_stack_takes_token_ids_or_embeddings():
    """The text encoder, lecture 4's transformers and lecture 7's TinyLM are one TransformerEncoder."""
    from course_lib.models.llava import TinyLM

    torch.manual_seed(0)
    encoder = TransformerEncoder(20, d_model=16, n_heads=2, n_layers=2, max_len=8, causal=True).eval()
    ids = torch.randint(0, 20, (3, 5))
    from_ids, maps = encoder(ids, need_weights=True)
    from_embeddings, _ = encoder(encoder.embed(ids) * 16 ** 0.5)  # what embedding the ids inside does
    torch.testing.assert_close(from_embeddings, from_ids)
    assert from_ids.shape == (3, 5, 16) and len(maps) == 2 and maps[0].shape == (3, 2, 5, 5)
    assert isinstance(TinyLM(20, d_model=16, n_heads=2), TransformerEncoder)
    patches_only = TransformerEncoder(None, d_model=16, n_heads=2, max_len=8)  # e.g. a ViT's patch tokens
    assert patches_only(torch.randn(2, 4, 16))[0].shape == (2, 4, 16)
    with pytest.raises(ValueError, match="no vocabulary"):
        patches_only(ids)
    with pytest.raises(ValueError, match=r"embeddings \(batch, length, 16\)"):
        encoder(torch.randn(2, 4, 8))
    with pytest.raises(ValueError, match="longer than this model's max_len=8"):
        encoder(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match="embed token ids with lm.embed"):
        TinyLM(20, d_model=16, n_heads=2)(ids)
