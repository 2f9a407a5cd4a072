"""Lecture 4's sequence models: tiny transformers on digit tasks, and GRU translators with and without attention."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, NamedTuple

from torch import nn

from course_lib.data.sequences import VOCAB_SIZE, repeat_task, reversal_task
from course_lib.data.text import Pairs, to_tensors, train_test_split
from course_lib.data.tokenizer import Tokenizer
from course_lib.models.seq2seq import Seq2Seq, seq2seq_loss
from course_lib.models.transformer import TinyTransformer, per_position_loss
from course_lib.recipes.base import Recipe
from course_lib.train import train

SEQUENCE_TASKS = {"reversal": (reversal_task, False), "repeat": (repeat_task, True)}  # task -> (generator, causal)
LECTURE4_ATTENTIONS = ("additive", "general", None)  # the translators lecture 4 compares (and ships)


@dataclass(frozen=True)
class TransformerRecipe(Recipe):
    """Lecture 4's tiny transformers: an encoder that reverses digits, a causal decoder that repeats them."""

    family = "transformer"
    model_class = TinyTransformer

    task: str  # 'reversal' (bidirectional encoder) or 'repeat' (causal, next-token prediction)
    length: int = 8
    n_train: int = 4000
    d_model: int = 32
    n_heads: int = 2
    n_layers: int = 2
    epochs: int = 20
    lr: float = 3e-3
    batch_size: int = 64
    seed: int = 0

    def __post_init__(self):
        if self.task not in SEQUENCE_TASKS:
            raise ValueError(f"Unknown task {self.task!r}: choose one of {sorted(SEQUENCE_TASKS)}.")

    @property
    def stem(self) -> str:
        return f"{self.task}_transformer"

    def build(self, store) -> nn.Module:
        causal = SEQUENCE_TASKS[self.task][1]
        return TinyTransformer(VOCAB_SIZE, d_model=self.d_model, n_heads=self.n_heads, n_layers=self.n_layers,
                               max_len=2 * self.length + 1, causal=causal)

    def fit(self, model: nn.Module, store) -> list[float]:
        data = SEQUENCE_TASKS[self.task][0](self.n_train, self.length, seed=self.seed)
        return train(model, data, per_position_loss, epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                     device=store.device, seed=self.seed, progress=store.progress)


@dataclass(frozen=True)
class Seq2SeqRecipe(Recipe):
    """Everything that decides what a Seq2Seq translator learns: data, sizes, training (lecture 4's defaults).

    The data are rebuilt from the recipe (the generator is seeded); both vocabularies are part of the key, so a
    vocabulary that changed never loads stale weights.
    """

    family = "seq2seq"
    model_class = Seq2Seq

    attention: str | None = "additive"  # 'additive', 'dot', 'general', 'concat', or None (the fixed-context baseline)
    task: str = "phrases"  # or 'dates'
    max_phrases: int = 6
    n_train: int = 6000
    n_test: int = 600  # held out, 100 sentences of each length; never seen in training
    data_seed: int = 0
    emb_dim: int = 32
    hidden_dim: int = 64
    epochs: int = 15
    lr: float = 3e-3
    batch_size: int = 64
    seed: int = 0  # initial weights and batch order

    @property
    def stem(self) -> str:
        return f"{self.task}_seq2seq_{self.attention or 'none'}"

    def derived(self) -> dict[str, Any]:
        data = translation_data(self)
        return {"source_vocab": data.source_tokenizer.to_dict()["words"],
                "target_vocab": data.target_tokenizer.to_dict()["words"]}

    def build(self, store) -> nn.Module:
        data = translation_data(self)
        return Seq2Seq(len(data.source_tokenizer), len(data.target_tokenizer), attention=self.attention,
                       emb_dim=self.emb_dim, hidden_dim=self.hidden_dim)

    def fit(self, model: nn.Module, store) -> list[float]:
        data = translation_data(self)
        tensors = to_tensors(data.train, data.source_tokenizer, data.target_tokenizer)
        return train(model, tensors, seq2seq_loss, epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                     device=store.device, seed=self.seed, progress=store.progress)


class TranslationData(NamedTuple):
    """A recipe's train and test pairs, and the tokenizers built from the training sentences."""

    train: Pairs
    test: Pairs
    source_tokenizer: Tokenizer
    target_tokenizer: Tokenizer


@functools.lru_cache(maxsize=8)  # the key, build and fit all read it
def translation_data(recipe: Seq2SeqRecipe) -> TranslationData:
    """The recipe's seeded train/test split and its tokenizers (the same every time: well under a second)."""
    train_pairs, test_pairs = train_test_split(recipe.task, recipe.n_train, recipe.n_test,
                                               max_phrases=recipe.max_phrases, seed=recipe.data_seed)
    return TranslationData(train_pairs, test_pairs, Tokenizer.from_sentences(train_pairs.source),
                           Tokenizer.from_sentences(train_pairs.target))
