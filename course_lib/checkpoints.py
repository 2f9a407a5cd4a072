"""Model weights in safetensors files, and the 'load it if shipped, otherwise train it' pattern."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file
from torch import nn

REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_DIR = REPO_ROOT / "checkpoints"  # committed, made by scripts/train_checkpoints.py
CACHE_DIR = REPO_ROOT / "build" / "checkpoints"  # what a run trained itself; not in git


def save_checkpoint(model: nn.Module, path: str | Path, config: dict | None = None) -> Path:
    """Write the model's weights, and the config that produced them, to a .safetensors file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {name: t.detach().cpu().contiguous() for name, t in model.state_dict().items()}
    save_file(state, str(path), metadata={"config": json.dumps(config or {}, sort_keys=True)})
    return path


def read_config(path: str | Path) -> dict:
    """The config stored in a checkpoint's metadata."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return json.loads((f.metadata() or {}).get("config", "{}"))


def load_checkpoint(model: nn.Module, path: str | Path) -> nn.Module:
    """Load weights from a .safetensors file into `model` (on the model's device)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}.")
    device = next(model.parameters()).device
    try:
        model.load_state_dict(load_file(str(path), device=str(device)))
    except RuntimeError as err:
        raise ValueError(f"Checkpoint {path.name} does not fit {type(model).__name__}: {err}") from None
    return model


def load_or_train(
    model: nn.Module,
    name: str,
    config: dict,
    train_fn: Callable[[nn.Module], object],
    *,
    directories: tuple[Path, ...] = (SHIPPED_DIR, CACHE_DIR),
    save_to: Path | None = CACHE_DIR,
) -> tuple[nn.Module, str]:
    """Load `name` from the first directory whose checkpoint was made with exactly `config`; else train and save.

    Returns the model and where it came from: 'loaded <path>' or 'trained'.
    """
    for directory in directories:
        path = Path(directory) / f"{name}.safetensors"
        if path.is_file() and read_config(path) == json.loads(json.dumps(config, sort_keys=True)):
            return load_checkpoint(model, path), f"loaded {path.name}"
    train_fn(model)
    if save_to is not None:
        save_checkpoint(model, Path(save_to) / f"{name}.safetensors", config)
    return model, "trained"
