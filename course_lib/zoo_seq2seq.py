"""The translation models lecture 4 uses, by recipe: loaded from a shipped checkpoint, else trained.

`scripts/train_seq2seq_checkpoints.py` makes the shipped checkpoints with these same functions, so loading
and training from scratch give the same model. The data are rebuilt from the recipe (the generator is seeded);
each checkpoint also stores both vocabularies in its config, so a vocabulary that changed never loads stale weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import torch

from course_lib.checkpoints import CACHE_DIR, SHIPPED_DIR, Trained, load_or_train
from course_lib.data.text import Pairs, to_tensors, train_test_split
from course_lib.data.tokenizer import Tokenizer
from course_lib.device import get_device, seeded
from course_lib.models.seq2seq import Seq2Seq, seq2seq_loss
from course_lib.train import train

LECTURE4_ATTENTIONS = ("additive", "general", None)  # the models lecture 4 compares (and ships)


@dataclass(frozen=True)
class Seq2SeqRecipe:
    """Everything that decides what a Seq2Seq model learns: data, sizes, training (lecture 4's defaults)."""

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


class TranslationData(NamedTuple):
    """A recipe's train and test pairs, and the tokenizers built from the training sentences."""

    train: Pairs
    test: Pairs
    source_tokenizer: Tokenizer
    target_tokenizer: Tokenizer


def translation_data(recipe: Seq2SeqRecipe) -> TranslationData:
    """The recipe's seeded train/test split and its tokenizers (the same every time: well under a second)."""
    train_pairs, test_pairs = train_test_split(recipe.task, recipe.n_train, recipe.n_test,
                                               max_phrases=recipe.max_phrases, seed=recipe.data_seed)
    return TranslationData(train_pairs, test_pairs, Tokenizer.from_sentences(train_pairs.source),
                           Tokenizer.from_sentences(train_pairs.target))


def seq2seq(
    recipe: Seq2SeqRecipe,
    *,
    device: str | torch.device | None = None,
    progress: bool = True,
    directories: tuple[Path, ...] = (SHIPPED_DIR, CACHE_DIR),
    save_to: Path | None = CACHE_DIR,
) -> Trained:
    """A Seq2Seq model trained by `recipe` on its train pairs: (model, 'loaded <file>' or 'trained', loss history)."""
    data = translation_data(recipe)
    with seeded(recipe.seed):  # the initial weights are part of the recipe
        model = Seq2Seq(len(data.source_tokenizer), len(data.target_tokenizer), attention=recipe.attention,
                        emb_dim=recipe.emb_dim, hidden_dim=recipe.hidden_dim).to(get_device(device))
        config = {**asdict(recipe), "source_vocab": data.source_tokenizer.to_dict()["words"],
                  "target_vocab": data.target_tokenizer.to_dict()["words"]}

        def fit(m: torch.nn.Module) -> list[float]:
            tensors = to_tensors(data.train, data.source_tokenizer, data.target_tokenizer)
            return train(m, tensors, seq2seq_loss, epochs=recipe.epochs, batch_size=recipe.batch_size, lr=recipe.lr,
                         device=device, seed=recipe.seed, progress=progress)

        name = f"{recipe.task}_seq2seq_{recipe.attention or 'none'}"
        trained = load_or_train(model, name, config, fit, directories=directories, save_to=save_to)
        trained.model.eval()
        return trained
