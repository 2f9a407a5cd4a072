"""Where tensors live, and how to make a run reproducible."""

from __future__ import annotations

import contextlib
import functools
import os
import random

import numpy as np
import torch

DEVICE_ENV_VAR = "COURSE_DEVICE"
_KNOWN_KINDS = ("cpu", "cuda", "mps")


def _mps_available() -> bool:
    return hasattr(torch.backends, "mps") and torch.backends.mps.is_available()


def get_device(preferred: str | torch.device | None = None) -> torch.device:
    """Return `preferred`, else $COURSE_DEVICE, else CUDA, then MPS, then CPU."""
    choice = preferred if preferred is not None else os.environ.get(DEVICE_ENV_VAR) or None
    if choice is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if str(choice).split(":")[0] not in _KNOWN_KINDS:
        raise ValueError(f"Unknown device {str(choice)!r}: use one of {', '.join(_KNOWN_KINDS)}.")
    device = torch.device(choice)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"Device {str(choice)!r} was asked for, but PyTorch sees no CUDA GPU here.")
    if device.type == "mps" and not _mps_available():
        raise RuntimeError(f"Device {str(choice)!r} was asked for, but Apple's MPS is not available here.")
    return device


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and PyTorch (all devices) so a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


@contextlib.contextmanager
def preserved_random_state():
    """Whatever the block seeds or draws, the caller's Python, NumPy and PyTorch (CPU, CUDA) generators are
    given back as they were: the library seeds for its own recipes without resetting the caller's."""
    py_state, np_state = random.getstate(), np.random.get_state()
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=cuda):
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


@contextlib.contextmanager
def seeded(seed: int):
    """A block whose Python, NumPy and PyTorch draws all follow from `seed` (a recipe's), on generators forked
    from the caller's: the caller's own are given back untouched, whatever the block seeds or draws."""
    with preserved_random_state():  # everything below seeds the forked copies, given back on the way out
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        yield


def keeps_random_state(fn):
    """Decorator: whatever `fn` seeds or draws (e.g. a training closure), the caller's generators are left alone."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with preserved_random_state():
            return fn(*args, **kwargs)
    return wrapper


def autocast(device: str | torch.device, enabled: bool = True):
    """Mixed precision where it pays: bf16 (else fp16) autocast on CUDA; on CPU and MPS a no-op context.

    Matrix products and convolutions then run in 16 bits on the GPU's tensor cores; losses and normalisations stay
    in fp32. The course's models are small, so the gain is modest (benchmarks/README.md); results differ from fp32
    in the third digit.
    """
    device = torch.device(device)
    if not enabled or device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)
