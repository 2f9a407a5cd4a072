"""One step of Bahdanau's and of Luong's attention decoder, side by side (lecture 4).

The two papers differ in more than the score; they put attention at a different place in the step.

Bahdanau et al. (2015): look with the PREVIOUS state, and feed the context INTO the RNN:
    c_t = attend(s_{t-1}, H);   s_t = RNN([y_{t-1}; c_t], s_{t-1});   predict y_t from [s_t; c_t]
Luong et al. (2015): update the RNN first, look with the CURRENT state, and combine AFTER the RNN:
    h_t = RNN([y_{t-1}; h~_{t-1}], h_{t-1});   c_t = attend(h_t, H);   h~_t = tanh(W_c [c_t; h_t]);
    predict y_t from h~_t, and feed h~_t into the next step's input ('input feeding')

`course_lib.models.seq2seq.Seq2Seq.step` is Bahdanau's order, whatever its score. Luong's papers use stacked
LSTMs; any cell called as cell(input, state) works here (the tests use a GRUCell).
"""

from __future__ import annotations

import torch
from torch import nn


def bahdanau_step(cell: nn.Module, attention: nn.Module, readout: nn.Module, prev_embedding: torch.Tensor,
                  state: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """y_{t-1} embedded (B, e), s_{t-1} (B, H), encoder states H (B, S, H) -> logits (B, V), s_t, weights (B, S)."""
    context, weights = attention(state, memory, mask=mask)  # 1. look with s_{t-1}
    state = cell(torch.cat([prev_embedding, context], dim=-1), state)  # 2. the context goes into the RNN
    return readout(torch.cat([state, context], dim=-1)), state, weights  # 3. predict from [s_t; c_t]


def luong_step(cell: nn.Module, attention: nn.Module, combine: nn.Module, readout: nn.Module,
               prev_embedding: torch.Tensor, state: torch.Tensor, prev_attentional: torch.Tensor,
               memory: torch.Tensor, mask: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """y_{t-1} embedded (B, e), h_{t-1} (B, H), h~_{t-1} (B, H), encoder states (B, S, H)
    -> logits (B, V), h_t (B, H), h~_t (B, H), weights (B, S). combine is W_c: Linear(2H, H)."""
    state = cell(torch.cat([prev_embedding, prev_attentional], dim=-1), state)  # 1. RNN first (input feeding)
    context, weights = attention(state, memory, mask=mask)  # 2. look with the current h_t
    attentional = torch.tanh(combine(torch.cat([context, state], dim=-1)))  # 3. h~_t = tanh(W_c [c_t; h_t])
    return readout(attentional), state, attentional, weights  # 4. predict from h~_t
