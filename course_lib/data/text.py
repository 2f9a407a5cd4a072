"""Toy translation tasks for lecture 4, generated from a seed in milliseconds, with the true word alignment.

- 'phrases': English adjective-noun phrases become noun-adjective in a French-like target, with articles and
  adjectives agreeing in gender: 'the red dress and a black dog' -> 'la robe rouge et un chien noir'.
  Sentences have 1..max_phrases phrases, so a fixed-size summary of the source must hold more and more.
- 'dates': 'march 5 , 1992' or '5 march 1992' -> '1992 - 03 - 05'.

alignment[t] is the index (in source.split()) of the source word that target word t translates, -1 for none.
"""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass

import torch

from course_lib.data.tokenizer import Tokenizer, split_words

ARTICLES = {"the": ("le", "la"), "a": ("un", "une")}  # English -> (masculine, feminine)
ADJECTIVES = {"red": ("rouge", "rouge"), "blue": ("bleu", "bleue"), "green": ("vert", "verte"),
              "black": ("noir", "noire"), "white": ("blanc", "blanche"), "yellow": ("jaune", "jaune"),
              "grey": ("gris", "grise"), "round": ("rond", "ronde"), "heavy": ("lourd", "lourde"),
              "cold": ("froid", "froide")}
NOUNS = {"dress": ("robe", 1), "car": ("voiture", 1), "house": ("maison", 1), "table": ("table", 1),
         "chair": ("chaise", 1), "hat": ("chapeau", 0), "book": ("livre", 0), "dog": ("chien", 0),
         "cat": ("chat", 0), "bed": ("lit", 0)}  # English -> (French, gender: 0 masculine, 1 feminine)
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
FIRST_DATE, LAST_DATE = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)
TASKS = ("phrases", "dates")
_ARTICLES, _ADJECTIVES, _NOUNS = tuple(ARTICLES), tuple(ADJECTIVES), tuple(NOUNS)  # what random.choice samples from


@dataclass(frozen=True)
class Pairs:
    """Source and target sentences, the word alignment between them, and each pair's length."""

    source: list[str]
    target: list[str]
    alignment: list[list[int]]  # alignment[i][t]: source word index that target word t of pair i translates (-1: none)
    length: list[int]  # number of phrases ('phrases') or of source words ('dates'): what accuracy is grouped by

    def __len__(self) -> int:
        return len(self.source)


def random_phrases(rng: random.Random, n_phrases: int) -> str:
    """n_phrases 'article adjective noun' phrases joined by 'and', e.g. 'the red dress and a cold dog'."""
    return " and ".join(f"{rng.choice(_ARTICLES)} {rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
                        for _ in range(n_phrases))


def translate_phrases(source: str) -> tuple[str, list[int]]:
    """The rule the models must learn: swap adjective and noun, agree in gender. Returns (target, alignment)."""
    words = split_words(source)
    if len(words) % 4 != 3:  # 3 words a phrase, 'and' between phrases
        raise ValueError(f"Not a 'phrases' sentence: {source!r} has {len(words)} words; n phrases joined by 'and' "
                         "have 4 n - 1 words, e.g. 'the red dress and a black car'.")
    target, alignment = [], []
    for start in range(0, len(words), 4):  # a phrase every 4 words: 'the red dress and ...'
        phrase = words[start:start + 3]
        if len(phrase) != 3 or phrase[0] not in ARTICLES or phrase[1] not in ADJECTIVES or phrase[2] not in NOUNS:
            raise ValueError(f"Not a 'phrases' sentence: {source!r} (expected 'article adjective noun' phrases joined "
                             f"by 'and', with articles {list(ARTICLES)}, adjectives {list(ADJECTIVES)}, nouns {list(NOUNS)}).")
        if start > 0:
            if words[start - 1] != "and":
                raise ValueError(f"Not a 'phrases' sentence: {source!r} (phrases are joined by 'and').")
            target.append("et")
            alignment.append(start - 1)
        noun, gender = NOUNS[phrase[2]]
        target += [ARTICLES[phrase[0]][gender], noun, ADJECTIVES[phrase[1]][gender]]
        alignment += [start, start + 2, start + 1]  # article, noun, adjective: the reordering
    return " ".join(target), alignment


def random_date(rng: random.Random, n_words: int) -> str:
    """A date between 1950 and 2049 written 'march 5 , 1992' (n_words 4) or '5 march 1992' (n_words 3)."""
    date = datetime.date.fromordinal(rng.randint(FIRST_DATE.toordinal(), LAST_DATE.toordinal()))
    month = MONTHS[date.month - 1]
    return f"{month} {date.day} , {date.year}" if n_words == 4 else f"{date.day} {month} {date.year}"


def normalise_date(source: str) -> tuple[str, list[int]]:
    """'march 5 , 1992' or '5 march 1992' -> ('1992 - 03 - 05', alignment); the dashes align to nothing (-1)."""
    words = split_words(source)
    if len(words) == 4 and words[2] == ",":
        i_month, i_day, i_year = 0, 1, 3
    elif len(words) == 3:
        i_day, i_month, i_year = 0, 1, 2
    else:
        raise ValueError(f"Not a 'dates' sentence: {source!r} (write 'march 5 , 1992' or '5 march 1992').")
    try:
        date = datetime.date(int(words[i_year]), MONTHS.index(words[i_month]) + 1, int(words[i_day]))
    except ValueError:
        raise ValueError(f"Not a valid date: {source!r}.") from None
    return f"{date.year} - {date.month:02d} - {date.day:02d}", [i_year, -1, i_month, -1, i_day]


def make_pairs(sources: list[str], task: str = "phrases") -> Pairs:
    """Translate source sentences by the task's rule: the ground truth for any sentence you write yourself."""
    translate = {"phrases": translate_phrases, "dates": normalise_date}.get(task)
    if translate is None:
        raise ValueError(f"Unknown task {task!r}: choose one of {TASKS}.")
    targets, alignments = zip(*(translate(s) for s in sources)) if sources else ((), ())
    lengths = [(len(split_words(s)) + 1) // 4 if task == "phrases" else len(split_words(s)) for s in sources]
    return Pairs(list(sources), list(targets), list(alignments), lengths)


def train_test_split(task: str = "phrases", n_train: int = 6000, n_test: int = 600, *, max_phrases: int = 6,
                     seed: int = 0) -> tuple[Pairs, Pairs]:
    """Seeded (train, test) pairs. Test: as many sentences of every length, all distinct and never in train.

    Training sentences have a uniformly random length (1..max_phrases phrases, or either date format).
    """
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}: choose one of {TASKS}.")
    if n_train < 1 or n_test < 1 or (task == "phrases" and max_phrases < 1):
        raise ValueError(f"n_train, n_test and max_phrases must be positive, got {n_train}, {n_test}, {max_phrases}.")
    rng = random.Random(seed)
    if task == "phrases":
        lengths, sample = list(range(1, max_phrases + 1)), random_phrases
        n_sentences = {k: (len(ARTICLES) * len(ADJECTIVES) * len(NOUNS)) ** k for k in lengths}
    else:
        lengths, sample = [3, 4], random_date
        n_sentences = {k: LAST_DATE.toordinal() - FIRST_DATE.toordinal() + 1 for k in lengths}
    test_lengths = [lengths[i % len(lengths)] for i in range(n_test)]  # balanced, so every length is measured
    for k in lengths:
        if 2 * test_lengths.count(k) > n_sentences[k]:
            raise ValueError(f"n_test={n_test} would hold out over half of the {n_sentences[k]} possible sentences "
                             f"of length {k}; ask for fewer test sentences.")
    test: dict[str, None] = {}  # an ordered set
    for k in test_lengths:
        while (s := sample(rng, k)) in test:
            pass
        test[s] = None
    train = []
    while len(train) < n_train:
        s = sample(rng, rng.choice(lengths))
        if s not in test:
            train.append(s)
    return make_pairs(train, task), make_pairs(list(test), task)


def to_tensors(pairs: Pairs, source_tokenizer: Tokenizer,
               target_tokenizer: Tokenizer) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(src (N, S), src_lengths (N,), tgt_in (N, T), tgt_out (N, T)): tgt_in = <bos> y, tgt_out = y <eos>, 0-padded."""
    src, src_lengths = source_tokenizer.batch(pairs.source, eos=True)
    tgt_in, _ = target_tokenizer.batch(pairs.target, bos=True, eos=False)  # what the decoder reads ...
    tgt_out, _ = target_tokenizer.batch(pairs.target, bos=False, eos=True)  # ... and what it must write, one step on
    return src, src_lengths, tgt_in, tgt_out
