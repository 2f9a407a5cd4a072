"""Model weights in safetensors files, with the recipe that made them and its loss history in the metadata."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn


def _canonical(config: dict) -> str:
    return json.dumps(config, sort_keys=True)


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
