"""One-line errors for bad arguments, shared by the modules that take tensors from students and notebooks."""

from __future__ import annotations

import torch


def require_tensor(**arguments) -> None:
    """Each keyword argument must be a torch.Tensor: a TypeError naming the first that is not."""
    for name, value in arguments.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__} "
                            "(convert with torch.as_tensor).")


def describe(x) -> str:
    """How a bad argument looks in an error message: its shape if it is a tensor, else its type."""
    return f"shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__


def require_positive_int(**arguments) -> None:
    """Each keyword argument must be an int of at least 1 (not a bool): a ValueError naming the first that is not."""
    for name, value in arguments.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def require_images(x: torch.Tensor, channels: int, name: str = "x") -> None:
    """x must be a batch of images (n, channels, h, w): a ValueError naming `name` otherwise."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != channels:
        raise ValueError(f"{name} must be images (n, {channels}, height, width), got {describe(x)}.")


def image_batch(x: torch.Tensor, image_shape: tuple[int, int], in_channels: int = 1) -> torch.Tensor:
    """Rows (B, H*W) -> images (B, 1, H, W) for one-channel models; images (B, C, H, W) pass through unchanged;
    anything else is a ValueError saying which shapes are expected."""
    height, width = image_shape
    if isinstance(x, torch.Tensor) and x.ndim == 2 and in_channels == 1 and x.shape[1] == height * width:
        return x.reshape(len(x), 1, height, width)
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != (in_channels, height, width):
        rows = f"(B, {height * width}) or " if in_channels == 1 else ""
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"images must be {rows}(B, {in_channels}, {height}, {width}), got {got}.")
    return x
