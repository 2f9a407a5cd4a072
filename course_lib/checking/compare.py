"""The exercises' visible checks: compare a student's tensor with a reference, and say what is wrong in one line."""

from __future__ import annotations

import torch


def compare(what: str, mine: torch.Tensor, expected: torch.Tensor, atol: float = 1e-5) -> None:
    """Assert that `mine` is a tensor of `expected`'s shape and values (within atol), then print '<what>: OK'."""
    assert isinstance(mine, torch.Tensor), f"{what}: expected a tensor, got {type(mine).__name__}"
    assert tuple(mine.shape) == tuple(expected.shape), \
        f"{what}: shape {tuple(mine.shape)}, expected {tuple(expected.shape)}"
    error = (mine.detach().double() - expected.detach().double()).abs().max().item() if mine.numel() else 0.0
    assert error <= atol, f"{what}: differs from the expected values by up to {error:.2e}"
    print(f"{what}: OK")
