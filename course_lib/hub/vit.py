"""A real Vision Transformer (transformers' ViTModel, or CLIP's vision tower) behind lecture 8's ViT interface.

`HFViT.attention_maps(images)` returns (layers, B, heads, N+1, N+1) like course_lib.models.ViT.attention_maps, and
`HFViT.grid` the patch grid, so `attention_rollout`, `plot_cls_attention` and `plot_rollout` work unchanged.
Attention weights come only from transformers' 'eager' attention (the fused kernels never form them), so the
loaders here ask for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from course_lib.hub._common import _as_pictures, _model_source, _transformers


class HFViT:
    """A Hugging Face ViT-like vision encoder ([CLS] + patches) with its image processor.

        attention_maps(images)   images (B, 3, H, W) float in [0, 1] -> (layers, B, heads, N+1, N+1) on the CPU
        grid                     (rows, columns) of patches the model sees after preprocessing
        position_embeddings()    (N, d) its learned position embeddings, [CLS]'s left out

    Images go through the model's own preprocessing (resize, crop, normalise), as 8-bit pictures like its photos.
    The model is used as given: the loaders hand over one in eval mode, with eager attention.
    """

    def __init__(self, model: Any, processor: Any):
        self.model, self.processor = model, processor

    @property
    def grid(self) -> tuple[int, int]:
        """(image_size / patch_size, image_size / patch_size), from the model's config."""
        side = self.model.config.image_size // self.model.config.patch_size
        return side, side

    def pixel_values(self, images: Any) -> Any:
        """(B, 3, H, W) in [0, 1] -> the model's input (B, 3, S, S): 8-bit pictures through its processor."""
        return self.processor(images=_as_pictures(images), return_tensors="pt")["pixel_values"]

    def attention_maps(self, images: Any, batch_size: int = 32) -> Any:
        """(B, 3, H, W) in [0, 1] -> every layer's attention, (layers, B, heads, N+1, N+1), token 0 is [CLS]."""
        import torch

        pixels, device, maps = self.pixel_values(images), next(self.model.parameters()).device, []
        for i in range(0, len(pixels), batch_size):
            with torch.no_grad():
                output = self.model(pixel_values=pixels[i:i + batch_size].to(device), output_attentions=True)
            if not output.attentions:
                raise RuntimeError("This model returned no attention weights: its attention implementation is "
                                   f"{self.model.config._attn_implementation!r}; load it with "
                                   "attn_implementation='eager' (load_hf_vit and load_hf_clip_vision do).")
            maps.append(torch.stack([layer.float().cpu() for layer in output.attentions]))  # (layers, b, heads, L, L)
        return torch.cat(maps, dim=1)

    def position_embeddings(self) -> Any:
        """(N, d): the learned position embedding of each patch position (a ViT's or CLIP's), [CLS]'s dropped."""
        embeddings = self.model.embeddings
        if hasattr(embeddings, "position_embeddings"):  # ViTModel: a parameter (1, N+1, d)
            table = embeddings.position_embeddings[0]
        else:  # CLIP's vision tower: an nn.Embedding of N+1 positions
            table = embeddings.position_embedding.weight
        return table[1:].detach().cpu().clone()


def load_hf_vit(name_or_path: str | Path, device: str | None = None) -> HFViT:
    """A real ViT (AutoModel + AutoImageProcessor, eager attention): from a local folder, offline; else by Hub id.

    'google/vit-base-patch16-224' is Google's ViT-B/16 (350 MB): download it once with network, or save it with
    `save_pretrained` into a folder and pass the folder. A classifier checkpoint loads without its head.
    """
    model, processor = _eager_model_and_processor(name_or_path, "AutoModel", "google/vit-base-patch16-224", "a ViT")
    if not hasattr(model.config, "patch_size") or not hasattr(model, "embeddings"):
        hint = " For a CLIP, use load_hf_clip_vision." if "clip" in model.config.model_type else ""
        raise ValueError(f"{str(name_or_path)!r} holds a {model.config.model_type!r} model, not a ViT.{hint}")
    model = model.eval()
    return HFViT(model if device is None else model.to(device), processor)


def load_hf_clip_vision(name_or_path: str | Path, device: str | None = None) -> HFViT:
    """CLIP's vision tower (a ViT) as an HFViT: the same folder or Hub id as load_hf_clip, eager attention."""
    model, processor = _eager_model_and_processor(name_or_path, "CLIPModel", "openai/clip-vit-base-patch32",
                                                  "a CLIP")
    tower = model.vision_model.eval()  # the text tower is dropped with `model`
    return HFViT(tower if device is None else tower.to(device), processor)


def _eager_model_and_processor(name_or_path: str | Path, auto_class: str, example_id: str, what: str):
    """(model with eager attention, so that it returns its weights; image processor) from a folder or a Hub id."""
    source, kwargs = _model_source(name_or_path, "config.json", "a Hugging Face model folder", example_id)
    transformers = _transformers()
    try:
        model = getattr(transformers, auto_class).from_pretrained(source, attn_implementation="eager", **kwargs)
        processor = transformers.AutoImageProcessor.from_pretrained(source, **kwargs)
    except OSError as err:
        raise OSError(f"Could not load {what} from {str(name_or_path)!r}: {err}\nWithout network, pass a local "
                      "folder made with save_pretrained (model and image processor).") from None
    return model, processor
