"""A word-level tokenizer: words <-> integer ids, padding, special tokens (lecture 4; reused by CLIP's text encoder).

    tok = Tokenizer.from_sentences(["the red dress", "a black car"])
    tok.encode("the red car")          # [9, 8, 6, 2]: the, red, car, <eos>
    ids, lengths = tok.batch(["the red car", "a dress"])   # (2, 4) padded with <pad> = 0, lengths (2,)
"""

from __future__ import annotations

from typing import Iterable, Sequence

import torch

SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")  # ids 0, 1, 2, 3 in every vocabulary
PAD, BOS, EOS, UNK = range(4)


def split_words(sentence: str) -> list[str]:
    """Lower-case and split on whitespace: the only normalisation this tokenizer does."""
    if not isinstance(sentence, str):
        raise TypeError(f"A sentence must be a str, got {type(sentence).__name__}.")
    return sentence.lower().split()


class Tokenizer:
    """A fixed vocabulary of words: the four specials first (<pad> = 0), then the words in the given order."""

    def __init__(self, words: Sequence[str]):
        words = list(words)
        bad = [w for w in words if not isinstance(w, str) or w != w.lower() or len(w.split()) != 1 or w in SPECIALS]
        if bad:
            raise ValueError(f"Vocabulary words must be lower-case, without spaces, and not special tokens: {bad[:5]}.")
        if len(set(words)) != len(words):
            raise ValueError("The vocabulary lists a word twice.")
        self.itos = list(SPECIALS) + words  # id -> word
        self.stoi = {w: i for i, w in enumerate(self.itos)}  # word -> id

    @classmethod
    def from_sentences(cls, sentences: Iterable[str]) -> "Tokenizer":
        """A vocabulary of every word in `sentences`, sorted, so the same words always get the same ids."""
        words = {w for s in sentences for w in split_words(s)}
        if not words:
            raise ValueError("Cannot build a vocabulary: the sentences contain no words.")
        return cls(sorted(words))

    def __len__(self) -> int:
        return len(self.itos)

    def __repr__(self) -> str:
        return f"Tokenizer({len(self)} tokens: {' '.join(self.itos[:8])}{' ...' if len(self) > 8 else ''})"

    def encode(self, sentence: str, bos: bool = False, eos: bool = True) -> list[int]:
        """Word ids of `sentence`; unknown words become <unk>; optionally framed by <bos> ... <eos>."""
        ids = [self.stoi.get(w, UNK) for w in split_words(sentence)]
        return [BOS] * bos + ids + [EOS] * eos

    def decode(self, ids: Sequence[int] | torch.Tensor, strip_specials: bool = True) -> str:
        """The words of `ids`; strip_specials: stop at the first <eos>, drop <pad> and <bos> (<unk> stays visible)."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        if any(not isinstance(i, int) or not 0 <= i < len(self) for i in ids):
            raise ValueError(f"Token ids must be integers in 0..{len(self) - 1}, got {ids}.")
        if strip_specials:
            ids = ids[:ids.index(EOS)] if EOS in ids else ids
            ids = [i for i in ids if i not in (PAD, BOS)]
        return " ".join(self.itos[i] for i in ids)

    def batch(self, sentences: Sequence[str], bos: bool = False, eos: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode and pad with <pad> = 0: ids (B, L) int64 with L the longest, and lengths (B,) int64."""
        if isinstance(sentences, str) or len(sentences) == 0:
            raise ValueError("batch() needs a non-empty list of sentences (for one sentence, pass [sentence]).")
        encoded = [self.encode(s, bos, eos) for s in sentences]
        lengths = torch.tensor([len(e) for e in encoded])
        if lengths.min() == 0:
            raise ValueError("A sentence in the batch has no tokens: an empty sentence needs eos=True or bos=True.")
        ids = torch.full((len(encoded), int(lengths.max())), PAD, dtype=torch.long)  # (B, L)
        for row, e in enumerate(encoded):
            ids[row, :len(e)] = torch.tensor(e)
        return ids, lengths

    def to_dict(self) -> dict:
        """A JSON-ready description; Tokenizer.from_dict(tok.to_dict()) gives the same tokenizer back."""
        return {"specials": list(SPECIALS), "words": self.itos[len(SPECIALS):]}

    @classmethod
    def from_dict(cls, d: dict) -> "Tokenizer":
        """The tokenizer described by to_dict()."""
        if not isinstance(d, dict) or "words" not in d:
            raise ValueError("Not a tokenizer description: expected a dict with a 'words' list (see to_dict).")
        if list(d.get("specials", SPECIALS)) != list(SPECIALS):
            raise ValueError(f"This tokenizer needs the specials {SPECIALS}, got {d['specials']}.")
        return cls(d["words"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tokenizer) and self.itos == other.itos


def scene_tokenizer() -> Tokenizer:
    """Every word a scene caption can hold, sorted: the same ids every time, and held-out combinations stay known."""
    from course_lib.data.shapes import COLOURS, RELATIONS, SHAPES, SIZES

    words = ["a", *SIZES, *COLOURS, *SHAPES, *(w for r in RELATIONS for w in r.split())]
    return Tokenizer(sorted(set(words)))


def llava_tokenizer() -> Tokenizer:
    """Every word a question or an answer can hold: the LM's vocabulary (40 tokens with the 4 specials)."""
    from course_lib.data.instructions import instruction_vocabulary

    return Tokenizer(instruction_vocabulary())
