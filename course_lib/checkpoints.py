"""Model weights in safetensors files, and the 'load it if shipped, otherwise train it' pattern."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_DIR = REPO_ROOT / "checkpoints"  # committed, made by scripts/train_checkpoints.py
# what a run trained itself; not in git. $COURSE_CACHE_DIR moves it (the benchmarks time a clean clone that way)
CACHE_DIR = Path(os.environ.get("COURSE_CACHE_DIR") or REPO_ROOT / "build" / "checkpoints")


class Trained(NamedTuple):
    """A model, where it came from ('loaded <file>' or 'trained'), and its loss per epoch when it was trained."""

    model: nn.Module
    source: str
    history: list[float]


def _canonical(config: dict) -> str:
    return json.dumps(config, sort_keys=True)


def checkpoint_filename(name: str, config: dict) -> str:
    """'<name>-<hash of config>.safetensors': every recipe gets its own file, so none overwrites another."""
    return f"{name}-{hashlib.sha1(_canonical(config).encode()).hexdigest()[:8]}.safetensors"


def save_checkpoint(model: nn.Module, path: str | Path, config: dict | None = None,
                    history: Sequence[float] = ()) -> Path:
    """Write the model's weights, its config and loss history to a .safetensors file (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {name: t.detach().cpu().contiguous() for name, t in model.state_dict().items()}
    metadata = {"config": _canonical(config or {}), "history": json.dumps(list(history))}
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    save_file(state, str(partial), metadata=metadata)
    os.replace(partial, path)  # readers never see a half-written file
    return path


def read_metadata(path: str | Path) -> dict:
    """{'config': dict, 'history': list} stored in a checkpoint."""
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
    return {"config": json.loads(metadata.get("config", "{}")), "history": json.loads(metadata.get("history", "[]"))}


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
    train_fn: Callable[[nn.Module], Sequence[float]],
    *,
    directories: Sequence[Path] = (SHIPPED_DIR, CACHE_DIR),
    save_to: Path | None = CACHE_DIR,
) -> Trained:
    """Load the checkpoint made with exactly `config` from the first directory that has it; else train and save.

    `train_fn(model)` trains in place and returns the loss history.
    """
    filename = checkpoint_filename(name, config)
    for directory in directories:
        path = Path(directory) / filename
        if path.is_file():
            metadata = read_metadata(path)
            if _canonical(metadata["config"]) == _canonical(config):
                return Trained(load_checkpoint(model, path), f"loaded {filename}", metadata["history"])
    history = list(train_fn(model))
    if save_to is not None:
        save_checkpoint(model, Path(save_to) / filename, config, history)
    return Trained(model, "trained", history)
