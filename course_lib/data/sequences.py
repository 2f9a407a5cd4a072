"""Two tiny sequence tasks whose solutions are attention patterns you can see (lecture 4).

- reversal: read n digits, output them backwards: position i must look at position n-1-i (an anti-diagonal).
- repeat: n random digits, a separator, the same digits again; a causal model predicting the next token
  can only get the second half right by looking back at the first (a shifted diagonal).
Tokens 0-9 are digits; SEPARATOR = 10. Targets of -100 are ignored by the loss.
"""

from __future__ import annotations

import torch

N_DIGITS = 10
SEPARATOR = 10
VOCAB_SIZE = 11  # digits + separator
IGNORE = -100


def _digits(n_sequences: int, length: int, seed: int) -> torch.Tensor:
    if n_sequences < 1 or length < 1:
        raise ValueError(f"Need at least one sequence of at least one digit, got {n_sequences} x {length}.")
    return torch.randint(0, N_DIGITS, (n_sequences, length), generator=torch.Generator().manual_seed(seed))


def reversal_task(n_sequences: int, length: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets), both (n, length): targets are the inputs read backwards."""
    inputs = _digits(n_sequences, length, seed)
    return inputs, inputs.flip(1)


def repeat_task(n_sequences: int, length: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens, next-token targets), both (n, 2*length + 1): digits, SEPARATOR, the same digits.

    Only the second copy can be predicted, so the first copy's targets are IGNORE.
    """
    digits = _digits(n_sequences, length, seed)
    separator = torch.full((n_sequences, 1), SEPARATOR)
    tokens = torch.cat([digits, separator, digits], dim=1)  # (n, 2L+1)
    targets = torch.full_like(tokens, IGNORE)
    targets[:, length:-1] = digits  # at the separator predict digit 0, ..., at copy[i] predict digit i+1
    return tokens, targets
