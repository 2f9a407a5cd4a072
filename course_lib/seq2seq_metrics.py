"""How well a Seq2Seq model translates (lecture 4): exact match, accuracy by sentence length, alignment of attention."""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import torch

from course_lib.data.text import Pairs, to_tensors
from course_lib.data.tokenizer import EOS, Tokenizer
from course_lib.models.seq2seq import Seq2Seq


@torch.no_grad()
def translate(model: Seq2Seq, sentences: Sequence[str], source_tokenizer: Tokenizer, target_tokenizer: Tokenizer, *,
              max_len: int | None = None, batch_size: int = 500) -> tuple[list[str], list[torch.Tensor]]:
    """Greedy translations and their attention maps, each (written words + <eos>, source words + <eos>) on the CPU."""
    if isinstance(sentences, str):
        raise ValueError("translate() needs a list of sentences (for one sentence, pass [sentence]).")
    model.eval()
    device = next(model.parameters()).device
    translations, maps = [], []
    for start in range(0, len(sentences), batch_size):
        src, src_lengths = source_tokenizer.batch(sentences[start:start + batch_size])
        tokens, weights = model.greedy_decode(src.to(device), src_lengths.to(device), max_len)  # (b, T), (b, T, S)
        for row, n_src in zip(range(len(tokens)), src_lengths.tolist()):
            ids = tokens[row].tolist()
            n_written = ids.index(EOS) + 1 if EOS in ids else len(ids)
            translations.append(target_tokenizer.decode(ids))
            maps.append(weights[row, :n_written, :n_src].cpu())
    return translations, maps


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> float:
    """The fraction of predictions equal to their reference, word for word."""
    if len(predictions) != len(references) or not references:
        raise ValueError(f"Need as many predictions as references (and some): {len(predictions)}, {len(references)}.")
    return sum(p.split() == r.split() for p, r in zip(predictions, references)) / len(references)


def accuracy_by_length(predictions: Sequence[str], references: Sequence[str],
                       lengths: Sequence[int]) -> dict[int, float]:
    """{length: exact-match accuracy of the sentences of that length}, lengths sorted (e.g. Pairs.length: phrases)."""
    if len(lengths) != len(references):
        raise ValueError(f"Need one length per reference, got {len(lengths)} lengths for {len(references)} references.")
    groups = defaultdict(list)
    for p, r, k in zip(predictions, references, lengths):
        groups[k].append(p.split() == r.split())
    return {k: sum(hits) / len(hits) for k, hits in sorted(groups.items())}


@torch.no_grad()
def attention_maps(model: Seq2Seq, pairs: Pairs, source_tokenizer: Tokenizer, target_tokenizer: Tokenizer,
                   batch_size: int = 500) -> list[torch.Tensor]:
    """Teacher-forced attention maps on the reference translations, each (target words + <eos>, source words + <eos>)."""
    model.eval()
    device = next(model.parameters()).device
    src, src_lengths, tgt_in, tgt_out = to_tensors(pairs, source_tokenizer, target_tokenizer)
    maps = []
    for start in range(0, len(pairs), batch_size):
        batch = slice(start, start + batch_size)
        _, weights = model(src[batch].to(device), src_lengths[batch].to(device), tgt_in[batch].to(device),
                           return_weights=True)  # (b, T, S)
        n_tgt = (tgt_out[batch] != 0).sum(dim=1).tolist()
        maps += [w[:t, :s].cpu() for w, t, s in zip(weights, n_tgt, src_lengths[batch].tolist())]
    return maps


def alignment_accuracy(maps: Sequence[torch.Tensor], alignments: Sequence[Sequence[int]]) -> float:
    """How often a target word's attention peaks on the source word it translates (words with alignment -1 skipped)."""
    if len(maps) != len(alignments):
        raise ValueError(f"Need one attention map per alignment, got {len(maps)} and {len(alignments)}.")
    hits = total = 0
    for weights, alignment in zip(maps, alignments):  # weights (T, S); rows past the alignment (<eos>) are not scored
        if weights.shape[0] < len(alignment):
            raise ValueError(f"An attention map has {weights.shape[0]} rows for {len(alignment)} aligned target words.")
        peaks = weights[:len(alignment)].argmax(dim=-1).tolist()
        scored = [(p, a) for p, a in zip(peaks, alignment) if a >= 0]
        hits += sum(p == a for p, a in scored)
        total += len(scored)
    if total == 0:
        raise ValueError("No target word has an aligned source word: nothing to score.")
    return hits / total
