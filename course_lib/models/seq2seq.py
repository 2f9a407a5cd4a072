"""A GRU encoder-decoder with pluggable attention (lecture 4): Bahdanau et al. (2015), or Cho et al. (2014) without it.

Encoder: a bidirectional GRU reads the source; its outputs (B, S, H), one per source word, are what attention looks at.
Decoder: a GRUCell writes one target word per step t:
  1. it queries the encoder outputs with its previous state s_{t-1}: a context c_t (B, H) and weights (B, S);
  2. it updates its state from [embedding of the previous word; c_t];
  3. it predicts the next word from [s_t; c_t].
With attention=None, c_t is the same vector at every step: the encoder's final states, the whole source
squeezed into H numbers. That fixed context is the bottleneck that attention removes.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from course_lib.data.tokenizer import BOS, EOS, PAD
from course_lib.models.attention import AdditiveAttention, MultiplicativeAttention, padding_mask

ATTENTIONS = ("additive", "dot", "general", "concat", None)


def make_attention(kind: str | None, dim: int) -> nn.Module | None:
    """Bahdanau's 'additive' or one of Luong's 'dot', 'general', 'concat' scores, for queries and keys of size dim."""
    if kind not in ATTENTIONS:
        raise ValueError(f"Unknown attention {kind!r}: choose one of {ATTENTIONS}.")
    if kind is None:
        return None
    return AdditiveAttention(dim, dim, dim) if kind == "additive" else MultiplicativeAttention(dim, dim, score=kind)


class Seq2Seq(nn.Module):
    """Bidirectional GRU encoder, GRUCell decoder; attention 'additive', 'dot', 'general', 'concat', or None."""

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, *, attention: str | None = "additive",
                 emb_dim: int = 32, hidden_dim: int = 64):
        super().__init__()
        if hidden_dim < 2 or hidden_dim % 2:
            raise ValueError(f"hidden_dim must be even (half for each direction of the encoder), got {hidden_dim}.")
        self.attention_kind = attention
        self.attention = make_attention(attention, hidden_dim)
        self.src_embed = nn.Embedding(src_vocab_size, emb_dim, padding_idx=PAD)
        self.encoder = nn.GRU(emb_dim, hidden_dim // 2, batch_first=True, bidirectional=True)
        self.init_state = nn.Linear(hidden_dim, hidden_dim)  # the encoder's final states -> the decoder's first state
        self.tgt_embed = nn.Embedding(tgt_vocab_size, emb_dim, padding_idx=PAD)
        self.cell = nn.GRUCell(emb_dim + hidden_dim, hidden_dim)
        self.out = nn.Linear(2 * hidden_dim, tgt_vocab_size)

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """src (B, S) -> outputs (B, S, H), zero on padding, and the summary (B, H): both directions' last states."""
        packed = pack_padded_sequence(self.src_embed(src), src_lengths.cpu(), batch_first=True, enforce_sorted=False)
        outputs, last = self.encoder(packed)  # last (2, B, H/2): forward after the last word, backward after the first
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=src.shape[1])  # (B, S, H)
        return outputs, torch.cat([last[0], last[1]], dim=-1)

    def step(self, prev: torch.Tensor, state: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor,
             summary: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One decoder step: previous words (B,), state (B, H) -> logits (B, V), new state (B, H), weights (B, S)."""
        if self.attention is None:
            context, weights = summary, memory.new_zeros(memory.shape[:2])  # the same context at every step
        else:
            context, weights = self.attention(state, memory, mask=mask)  # (B, H), (B, S): Bahdanau queries with s_{t-1}
        state = self.cell(torch.cat([self.tgt_embed(prev), context], dim=-1), state)
        return self.out(torch.cat([state, context], dim=-1)), state, weights

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor,
                return_weights: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Teacher forcing: src (B, S), src_lengths (B,), tgt_in (B, T) = <bos> y -> logits (B, T, V) [, weights (B, T, S)]."""
        self._check(src, src_lengths, tgt_in)
        memory, summary = self.encode(src, src_lengths)
        mask = padding_mask(src_lengths.to(src.device), src.shape[1])  # (B, S), True on real source words
        state = torch.tanh(self.init_state(summary))  # (B, H)
        logits, weights = [], []
        for t in range(tgt_in.shape[1]):
            step_logits, state, step_weights = self.step(tgt_in[:, t], state, memory, mask, summary)
            logits.append(step_logits)
            weights.append(step_weights)
        logits = torch.stack(logits, dim=1)  # (B, T, V)
        return (logits, torch.stack(weights, dim=1)) if return_weights else logits

    @torch.no_grad()
    def greedy_decode(self, src: torch.Tensor, src_lengths: torch.Tensor,
                      max_len: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Feed back the likeliest word until <eos>: tokens (B, T), <pad> after <eos>, weights (B, T, S); T <= max_len."""
        self._check(src, src_lengths)
        max_len = 2 * src.shape[1] if max_len is None else max_len
        if max_len < 1:
            raise ValueError(f"max_len must be positive, got {max_len}.")
        memory, summary = self.encode(src, src_lengths)
        mask = padding_mask(src_lengths.to(src.device), src.shape[1])
        state = torch.tanh(self.init_state(summary))
        prev = torch.full((len(src),), BOS, dtype=torch.long, device=src.device)
        done = torch.zeros(len(src), dtype=torch.bool, device=src.device)
        tokens, weights = [], []
        for _ in range(max_len):
            logits, state, step_weights = self.step(prev, state, memory, mask, summary)
            prev = logits.argmax(dim=-1).masked_fill(done, PAD)  # a finished sentence writes only padding
            tokens.append(prev)
            weights.append(step_weights.masked_fill(done[:, None], 0.0))
            done |= prev == EOS
            if done.all():
                break
        return torch.stack(tokens, dim=1), torch.stack(weights, dim=1)

    def _check(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor | None = None) -> None:
        """Clear errors for what would otherwise fail deep inside the GRU or the embedding."""
        if src.dim() != 2 or src.dtype != torch.long:
            raise ValueError(f"src must be token ids (batch, src_len) int64, got {tuple(src.shape)} {src.dtype}.")
        if src_lengths.shape != (len(src),):
            raise ValueError(f"src_lengths must have shape ({len(src)},), one per sentence, not {tuple(src_lengths.shape)}.")
        if src_lengths.min() < 1 or src_lengths.max() > src.shape[1]:
            raise ValueError(f"src_lengths must lie in 1..{src.shape[1]} (the padded length), got {src_lengths.tolist()}.")
        for name, ids, vocab in (("src", src, self.src_embed), ("tgt_in", tgt_in, self.tgt_embed)):
            if ids is None:
                continue
            if ids.dim() != 2 or ids.dtype != torch.long or len(ids) != len(src):
                raise ValueError(f"{name} must be token ids ({len(src)}, length) int64, got {tuple(ids.shape)} {ids.dtype}.")
            if ids.numel() and (ids.min() < 0 or ids.max() >= vocab.num_embeddings):
                raise ValueError(f"{name} holds ids outside the vocabulary 0..{vocab.num_embeddings - 1}.")


def seq2seq_loss(model: Seq2Seq, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor,
                 tgt_out: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the teacher-forced predictions, padding ignored: a loss_fn for course_lib.train.train."""
    src_len, tgt_len = int(src_lengths.max()), int((tgt_out != PAD).sum(dim=1).max())  # drop this batch's pad columns
    logits = model(src[:, :src_len], src_lengths, tgt_in[:, :tgt_len])  # (B, T, V)
    return F.cross_entropy(logits.flatten(0, 1), tgt_out[:, :tgt_len].flatten(), ignore_index=PAD)
