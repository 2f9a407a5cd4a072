"""A minimal CLIP byte-pair vocabulary written to disk, so tiny Hugging Face models load offline in tests."""

from __future__ import annotations

import json
import string
from pathlib import Path

SPECIALS = ("<|startoftext|>", "<|endoftext|>")


def write_bpe_files(folder: Path, words: list[str]) -> dict[str, int]:
    """vocab.json and merges.txt of a minimal CLIP BPE: letters, then merges that spell out each of `words`."""
    vocab, merges = {s: i for i, s in enumerate(SPECIALS)}, []
    for symbol in [*string.ascii_lowercase, "."]:
        vocab.setdefault(symbol, len(vocab))
        vocab.setdefault(symbol + "</w>", len(vocab))  # CLIP marks a word's last symbol with </w>
    for word in words:
        pieces = [*word[:-1], word[-1] + "</w>"]
        merged = pieces[0]
        for piece in pieces[1:]:  # merge left to right: 'r e' -> 're', 're d</w>' -> 'red</w>'
            if f"{merged} {piece}" not in merges:
                merges.append(f"{merged} {piece}")
            merged += piece
            vocab.setdefault(merged, len(vocab))
    folder.mkdir()
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return vocab
