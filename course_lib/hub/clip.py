"""A real CLIP (transformers' CLIPModel) behind lecture 5's CLIP interface."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from course_lib.hub._common import _as_pictures, _model_source, _transformers


class HFCLIP:
    """A Hugging Face CLIPModel with its processor, behind lecture 5's common CLIP interface (as MiniCLIPEncoders):

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

        pictures = _as_pictures(images)  # uint8, as if read from files
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


def load_hf_clip(name_or_path: str | Path, device: str | None = None) -> HFCLIP:
    """A real CLIP (CLIPModel + CLIPProcessor): from a local folder, offline; else by Hub id (needs network or a cache).

    'openai/clip-vit-base-patch32' is OpenAI's ViT-B/32 (600 MB): download it once with network, or save it
    with `save_pretrained` into a folder and pass the folder.
    """
    source, kwargs = _model_source(name_or_path, "config.json", "a Hugging Face model folder",
                                   "openai/clip-vit-base-patch32")
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
