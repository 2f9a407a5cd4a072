"""One-line errors for bad arguments, shared by the modules that take tensors from students and notebooks."""

from __future__ import annotations

import torch


def require_tensor(**arguments) -> None:
    """Each keyword argument must be a torch.Tensor: a TypeError naming the first that is not."""
    for name, value in arguments.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__} "
                            "(convert with torch.as_tensor).")
