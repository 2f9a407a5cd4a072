"""Lecture 4's claims about encoder-decoders, asserted on the shipped checkpoints (the lecture's own recipes).

The claim: without attention, the decoder sees the source only through one fixed vector, and its accuracy
falls as sentences grow longer; with attention it stays high at every length, and its attention lands on the
source word each target word translates. Floors leave a margin below the measured numbers (in comments).
"""

import pytest

from course_lib.seq2seq_metrics import accuracy_by_length, alignment_accuracy, attention_maps, exact_match, translate
from course_lib.recipes.sequences import LECTURE4_ATTENTIONS, Seq2SeqRecipe, translation_data
from course_lib.recipes.store import shipped_dir


RECIPE = Seq2SeqRecipe()  # the lecture's data; only the attention differs between the models


@pytest.fixture(scope="module")
def data():
    return translation_data(RECIPE)


@pytest.fixture(scope="module")
def models(shipped_store):
    # load, never silently train for minutes: a missing checkpoint fails
    return {attention: shipped_store.load(Seq2SeqRecipe(attention=attention)).model
            for attention in LECTURE4_ATTENTIONS}


@pytest.fixture(scope="module")
def results(models, data):
    """{attention: (exact match, {phrases: accuracy})} on the held-out sentences."""
    out = {}
    for attention, model in models.items():
        predictions, _ = translate(model, data.test.source, data.source_tokenizer, data.target_tokenizer)
        out[attention] = (exact_match(predictions, data.test.target),
                          accuracy_by_length(predictions, data.test.target, data.test.length))
    return out


def test_shipped_checkpoints_are_small():
    files = [shipped_dir() / Seq2SeqRecipe(attention=attention).filename for attention in LECTURE4_ATTENTIONS]
    assert all(f.stat().st_size < 1_000_000 for f in files)  # about 250 KB each


@pytest.mark.parametrize("attention", ["additive", "general"])
def test_attention_models_translate_held_out_sentences_of_every_length(results, attention):
    accuracy, by_length = results[attention]
    assert accuracy > 0.97  # measured: additive 1.000, general 0.998
    assert min(by_length.values()) > 0.95  # measured: at least 0.99 at every length


def test_without_attention_accuracy_falls_with_length_and_attention_fixes_it(results, data):
    _, with_attention = results["additive"]
    accuracy, without = results[None]
    shortest, longest = min(without), max(without)
    assert (shortest, longest) == (1, RECIPE.max_phrases)
    assert without[shortest] > 0.95  # measured 1.00: the bottleneck model is fine on short sentences ...
    assert without[longest] < 0.2  # ... measured 0.00: and fails on long ones
    assert all(without[k + 1] <= without[k] + 0.02 for k in range(shortest, longest))  # falls steadily
    assert with_attention[longest] - without[longest] > 0.7  # measured 1.00 - 0.00
    assert accuracy < 0.75  # measured 0.490 overall


def test_attention_peaks_on_the_source_word_each_target_word_translates(models, data):
    maps = attention_maps(models["additive"], data.test, data.source_tokenizer, data.target_tokenizer)
    assert alignment_accuracy(maps, data.test.alignment) > 0.9  # measured 0.968 ('et' may look elsewhere)
    reordered = [[a if t % 4 in (1, 2) else -1 for t, a in enumerate(alignment)]  # nouns and adjectives only
                 for alignment in data.test.alignment]
    assert alignment_accuracy(maps, reordered) > 0.97  # measured 1.000: the reordering, read off the attention
