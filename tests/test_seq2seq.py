"""Lecture 4's encoder-decoder: the tokenizer, the toy translation tasks, the Seq2Seq model, its metrics and recipe."""

import json

import pytest
import torch
from torch.nn import functional as F

from course_lib.checkpoints import read_metadata
from course_lib.data.text import (ADJECTIVES, ARTICLES, NOUNS, make_pairs, normalise_date, to_tensors,
                                  train_test_split, translate_phrases)
from course_lib.data.tokenizer import BOS, EOS, PAD, UNK, Tokenizer
from course_lib.models.seq2seq import ATTENTIONS, Seq2Seq, seq2seq_loss
from course_lib.seq2seq_metrics import (accuracy_by_length, alignment_accuracy, attention_maps, exact_match,
                                        translate)
from course_lib.train import train
from course_lib.recipes import Source
from course_lib.recipes.sequences import Seq2SeqRecipe, translation_data



@pytest.fixture(scope="module")
def small():
    """A small split, its tokenizers and its tensors."""
    train_pairs, test_pairs = train_test_split("phrases", 200, 24, max_phrases=3, seed=0)
    src_tok, tgt_tok = Tokenizer.from_sentences(train_pairs.source), Tokenizer.from_sentences(train_pairs.target)
    return train_pairs, test_pairs, src_tok, tgt_tok


def make_model(small, attention="additive", **kwargs):
    torch.manual_seed(0)
    return Seq2Seq(len(small[2]), len(small[3]), attention=attention, emb_dim=8, hidden_dim=16, **kwargs).eval()


# --- the tokenizer ---------------------------------------------------------------------------------------------

def test_tokenizer_round_trip_specials_and_unknown_words():
    tok = Tokenizer.from_sentences(["The red dress", "a black car", "the red car"])
    assert tok.itos[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"] and len(tok) == 4 + 6
    assert tok.itos[4:] == sorted(tok.itos[4:])  # sorted words: the ids do not depend on the sentences' order
    ids = tok.encode("the RED car", bos=True)
    assert ids[0] == BOS and ids[-1] == EOS and tok.decode(ids) == "the red car"
    assert tok.encode("the purple car") == [tok.stoi["the"], UNK, tok.stoi["car"], EOS]
    assert tok.decode(tok.encode("the purple car")) == "the <unk> car"  # unknown words stay visible
    assert tok.decode([tok.stoi["a"], EOS, tok.stoi["car"], PAD]) == "a"  # stops at <eos>
    assert tok.decode(torch.tensor([BOS, tok.stoi["a"], EOS, PAD]), strip_specials=False) == "<bos> a <eos> <pad>"


def test_tokenizer_batch_pads_with_zero_and_returns_lengths():
    tok = Tokenizer.from_sentences(["the red dress", "a car"])
    ids, lengths = tok.batch(["the red dress", "a car"])
    assert ids.shape == (2, 4) and ids.dtype == torch.long and lengths.tolist() == [4, 3]
    assert ids[1, 3] == PAD and ids[0, 3] == EOS == ids[1, 2]
    assert [tok.decode(row) for row in ids] == ["the red dress", "a car"]


def test_tokenizer_survives_json():
    tok = Tokenizer.from_sentences(["the red dress", "a black car"])
    again = Tokenizer.from_dict(json.loads(json.dumps(tok.to_dict())))
    assert again == tok and again.encode("a red car") == tok.encode("a red car")


def test_tokenizer_rejects_bad_input():
    tok = Tokenizer.from_sentences(["a car"])
    with pytest.raises(ValueError, match="no words"):
        Tokenizer.from_sentences(["", "  "])
    with pytest.raises(ValueError, match="twice"):
        Tokenizer(["car", "car"])
    with pytest.raises(ValueError, match="special"):
        Tokenizer(["<pad>"])
    with pytest.raises(ValueError, match="Token ids"):
        tok.decode([0, 99])
    with pytest.raises(ValueError, match="list of sentences"):
        tok.batch("a car")
    with pytest.raises(TypeError, match="str"):
        tok.encode(["a", "car"])
    with pytest.raises(ValueError, match="specials"):
        Tokenizer.from_dict({"specials": ["<s>"], "words": ["car"]})
    with pytest.raises(ValueError, match="words"):
        Tokenizer.from_dict({"vocab": []})


# --- the toy tasks ----------------------------------------------------------------------------------------------

def test_the_lecture_example_and_its_alignment():
    target, alignment = translate_phrases("the red dress and the black car")
    assert target == "la robe rouge et la voiture noire"
    assert alignment == [0, 2, 1, 3, 4, 6, 5]  # la<-the, robe<-dress, rouge<-red, et<-and, ...
    assert translate_phrases("a white hat")[0] == "un chapeau blanc"  # masculine article and adjective


def test_every_alignment_points_at_the_word_it_translates():
    pairs, _ = train_test_split("phrases", 300, 30, max_phrases=4, seed=3)
    french = {"and": {"et"}, **{w: set(f) for w, f in ARTICLES.items()}, **{w: set(f) for w, f in ADJECTIVES.items()},
              **{w: {f} for w, (f, _) in NOUNS.items()}}
    for source, target, alignment, length in zip(pairs.source, pairs.target, pairs.alignment, pairs.length):
        src, tgt = source.split(), target.split()
        assert len(tgt) == len(alignment) == len(src) == 4 * length - 1
        assert sorted(alignment) == list(range(len(src)))  # every source word is translated exactly once
        assert all(t in french[src[a]] for t, a in zip(tgt, alignment))


def test_generator_is_seeded():  # its speed is a budget of `make bench` (speed section)
    a = train_test_split("phrases", 5000, 600, seed=0)
    assert a == train_test_split("phrases", 5000, 600, seed=0)
    assert a[0].source != train_test_split("phrases", 5000, 600, seed=1)[0].source


def test_test_sentences_are_distinct_balanced_and_never_trained_on():
    train_pairs, test_pairs = train_test_split("phrases", 3000, 120, max_phrases=6, seed=0)
    assert not set(train_pairs.source) & set(test_pairs.source)
    assert len(set(test_pairs.source)) == len(test_pairs) == 120
    assert all(test_pairs.length.count(k) == 20 for k in range(1, 7))
    assert set(train_pairs.length) == set(range(1, 7))


def test_dates_task():
    assert normalise_date("march 5 , 1992") == ("1992 - 03 - 05", [3, -1, 0, -1, 1])
    assert normalise_date("17 July 2017") == ("2017 - 07 - 17", [2, -1, 1, -1, 0])
    train_pairs, test_pairs = train_test_split("dates", 500, 50, seed=0)
    assert not set(train_pairs.source) & set(test_pairs.source) and set(test_pairs.length) == {3, 4}
    assert make_pairs(train_pairs.source[:5], "dates") == make_pairs(train_pairs.source[:5], "dates")


def test_tasks_reject_bad_input():
    for bad in ["", "the red", "red the dress", "the red dress the red car", "the red dress and", "the purple dress"]:
        with pytest.raises(ValueError, match="Not a 'phrases' sentence"):
            translate_phrases(bad)
    with pytest.raises(ValueError, match="Not a valid date"):
        normalise_date("february 30 , 1999")
    with pytest.raises(ValueError, match="Not a 'dates' sentence"):
        normalise_date("1999")
    with pytest.raises(ValueError, match="Unknown task"):
        train_test_split("poetry")
    with pytest.raises(ValueError, match="over half"):
        train_test_split("phrases", 100, 150, max_phrases=1)
    with pytest.raises(ValueError, match="positive"):
        train_test_split("phrases", 0, 10)


def test_to_tensors_shifts_the_target_by_one(small):
    train_pairs, _, src_tok, tgt_tok = small
    src, src_lengths, tgt_in, tgt_out = to_tensors(train_pairs, src_tok, tgt_tok)
    assert src.shape[0] == src_lengths.shape[0] == tgt_in.shape[0] == len(train_pairs)
    assert tgt_in.shape == tgt_out.shape and (tgt_in[:, 0] == BOS).all()
    assert torch.equal(tgt_in[:, 1:], tgt_out[:, :-1].masked_fill(tgt_out[:, :-1] == EOS, PAD))
    assert src_tok.decode(src[0]) == train_pairs.source[0] and tgt_tok.decode(tgt_out[0]) == train_pairs.target[0]


# --- the model --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("attention", ATTENTIONS)
def test_shapes_and_attention_weights(small, attention):
    _, test_pairs, src_tok, tgt_tok = small
    src, src_lengths, tgt_in, _ = to_tensors(test_pairs, src_tok, tgt_tok)
    logits, weights = make_model(small, attention)(src, src_lengths, tgt_in, return_weights=True)
    batch, steps = tgt_in.shape
    assert logits.shape == (batch, steps, len(tgt_tok))  # (B, T, V)
    assert weights.shape == (batch, steps, src.shape[1])  # (B, T, S)
    if attention is None:
        assert (weights == 0).all()
    else:
        assert torch.allclose(weights.sum(-1), torch.ones(batch, steps))
        padding = src == PAD  # (B, S)
        assert padding.any() and (weights.masked_select(padding[:, None, :]) == 0).all()


@pytest.mark.parametrize("attention", ["additive", None])
def test_a_sentence_translates_the_same_alone_or_in_a_padded_batch(small, attention):
    _, test_pairs, src_tok, tgt_tok = small
    model = make_model(small, attention)
    src, src_lengths, tgt_in, _ = to_tensors(test_pairs, src_tok, tgt_tok)
    short = int(src_lengths.argmin())
    alone = model(src[short:short + 1, :src_lengths[short]], src_lengths[short:short + 1], tgt_in[short:short + 1])
    assert torch.allclose(model(src, src_lengths, tgt_in)[short], alone[0], atol=1e-5)


def test_greedy_decode_matches_teacher_forcing_on_its_own_output(small):
    _, test_pairs, src_tok, tgt_tok = small
    model = make_model(small, "general")
    src, src_lengths = src_tok.batch(test_pairs.source)
    tokens, weights = model.greedy_decode(src, src_lengths, max_len=7)
    assert tokens.shape[0] == len(src) and tokens.shape[1] <= 7 and weights.shape == (*tokens.shape, src.shape[1])
    fed = torch.cat([torch.full((len(src), 1), BOS), tokens[:, :-1]], dim=1)  # what the decoder read at each step
    logits, forced_weights = model(src, src_lengths, fed, return_weights=True)
    written = torch.cat([torch.ones(len(src), 1, dtype=torch.bool), (tokens != EOS).cumprod(1)[:, :-1].bool()], 1)
    assert torch.equal(logits.argmax(-1)[written], tokens[written])  # until <eos>: the same choices
    assert (tokens[~written] == PAD).all() and (weights[~written] == 0).all()  # after <eos>: padding, no attention
    assert torch.allclose(forced_weights[written], weights[written], atol=1e-6)


def test_loss_ignores_padding_and_training_lowers_it(small):
    train_pairs, _, src_tok, tgt_tok = small
    model = make_model(small, "additive").train()
    src, src_lengths, tgt_in, tgt_out = to_tensors(train_pairs, src_tok, tgt_tok)
    logits = model(src, src_lengths, tgt_in)
    expected = F.cross_entropy(logits[tgt_out != PAD], tgt_out[tgt_out != PAD])
    assert torch.allclose(seq2seq_loss(model, src, src_lengths, tgt_in, tgt_out), expected, atol=1e-5)
    padded = [F.pad(t, (0, 3)) for t in (src, tgt_in, tgt_out)]  # extra padding columns change nothing
    assert torch.allclose(seq2seq_loss(model, padded[0], src_lengths, padded[1], padded[2]), expected, atol=1e-5)
    history = train(model, (src, src_lengths, tgt_in, tgt_out), seq2seq_loss, epochs=3, batch_size=32, lr=1e-2,
                    progress=False)
    assert history[-1] < history[0]


def test_model_rejects_bad_input(small):
    _, test_pairs, src_tok, tgt_tok = small
    model = make_model(small)
    src, src_lengths, tgt_in, _ = to_tensors(test_pairs, src_tok, tgt_tok)
    with pytest.raises(ValueError, match="Unknown attention 'luong'"):
        Seq2Seq(10, 10, attention="luong")
    with pytest.raises(ValueError, match="even"):
        Seq2Seq(10, 10, hidden_dim=15)
    with pytest.raises(ValueError, match="int64"):
        model(src.float(), src_lengths, tgt_in)
    with pytest.raises(ValueError, match="src_lengths must have shape"):
        model(src, src_lengths[:-1], tgt_in)
    with pytest.raises(ValueError, match="src_lengths must lie"):
        model(src, src_lengths + src.shape[1], tgt_in)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model(src, src_lengths, tgt_in + len(tgt_tok))
    with pytest.raises(ValueError, match="tgt_in must be"):
        model(src, src_lengths, tgt_in[:-1])
    with pytest.raises(ValueError, match="max_len"):
        model.greedy_decode(src, src_lengths, max_len=0)


# --- metrics and the recipe -------------------------------------------------------------------------------------

def test_exact_match_and_accuracy_by_length():
    predictions, references = ["la robe rouge", "le chat", "un lit noir et"], ["la robe rouge", "le chat noir", "x"]
    assert exact_match(predictions, references) == pytest.approx(1 / 3)
    assert accuracy_by_length(predictions, references, [1, 1, 2]) == {1: 0.5, 2: 0.0}
    with pytest.raises(ValueError, match="as many"):
        exact_match(predictions, references[:2])
    with pytest.raises(ValueError, match="one length"):
        accuracy_by_length(predictions, references, [1])


def test_alignment_accuracy_scores_the_peak_of_each_row():
    maps = [torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.3, 0.5], [0.1, 0.8, 0.1]])]  # rows: target words, cols: source
    assert alignment_accuracy(maps, [[0, 2, 1]]) == 1.0
    assert alignment_accuracy(maps, [[0, 1, -1]]) == 0.5  # -1: a word with no source word is not scored
    with pytest.raises(ValueError, match="rows"):
        alignment_accuracy(maps, [[0, 1, 2, 0]])


def test_translate_and_attention_maps_are_cropped_to_the_words(small):
    _, test_pairs, src_tok, tgt_tok = small
    model = make_model(small)
    translations, maps = translate(model, test_pairs.source[:5], src_tok, tgt_tok, max_len=6)
    assert len(translations) == len(maps) == 5 and all(isinstance(t, str) for t in translations)
    assert all(m.shape[0] <= 6 and m.shape[1] == len(s.split()) + 1 for m, s in zip(maps, test_pairs.source))
    forced = attention_maps(model, test_pairs, src_tok, tgt_tok)
    assert [m.shape for m in forced] == [(len(t.split()) + 1, len(s.split()) + 1)
                                         for s, t in zip(test_pairs.source, test_pairs.target)]
    assert 0 <= alignment_accuracy(forced, test_pairs.alignment) <= 1
    with pytest.raises(ValueError, match="list of sentences"):
        translate(model, "the red car", src_tok, tgt_tok)


def test_recipe_trains_once_then_loads_with_its_vocabularies(tmp_store, tmp_path):
    recipe = Seq2SeqRecipe(attention="dot", max_phrases=2, n_train=64, n_test=8, emb_dim=8, hidden_dim=8, epochs=1)
    first, second = tmp_store.load(recipe), tmp_store.load(recipe)
    assert first.source == Source.TRAINED and second.source == Source.CACHED
    assert recipe.filename.startswith("phrases_seq2seq_dot-")
    assert all(torch.equal(p, q) for p, q in zip(first.model.parameters(), second.model.parameters()))
    config = read_metadata(next(tmp_path.glob("*.safetensors")))["config"]["derived"]
    data = translation_data(recipe)
    assert Tokenizer(config["source_vocab"]) == data.source_tokenizer
    assert Tokenizer(config["target_vocab"]) == data.target_tokenizer
