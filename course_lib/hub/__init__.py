"""Optional adapters to real pretrained models through Hugging Face `transformers`, offline.

The core of course_lib never needs transformers: it is imported here, lazily, when an adapter is
called. Install the extras with `pip install -e '.[hf,real]'` (the course's `make test` does).

- `load_minilm`, `load_local`, `hf_attention_maps`: a real text encoder and its attention maps (lecture 4);
  `mean_pool`, `sentence_embeddings`: its sentence vectors (lecture 7)
- `load_hf_clip` -> `HFCLIP`: a real CLIP behind the same two methods as lecture 5's MiniCLIP (course_lib.clip_metrics)
- `load_hf_stable_diffusion` -> `HFStableDiffusion`: a real Stable Diffusion (diffusers) with the course's DDIM
  sampler: `generate` images, and `cross_attention_maps` of a prompt's tokens (lecture 6)
- `load_hf_vit`, `load_hf_clip_vision` -> `HFViT`: a real ViT (or CLIP's vision tower) whose `attention_maps` and
  `grid` feed lecture 8's rollout and [CLS] pictures (course_lib.vision_attention) unchanged
"""

from course_lib.hub._common import INSTALL_HINT, MINILM_PACKAGE
from course_lib.hub.clip import HFCLIP, load_hf_clip
from course_lib.hub.stable_diffusion import CrossAttentionMaps, HFStableDiffusion, load_hf_stable_diffusion
from course_lib.hub.text import (hf_attention_maps, load_local, load_minilm, mean_pool, minilm_path,
                                  sentence_embeddings)
from course_lib.hub.vit import HFViT, load_hf_clip_vision, load_hf_vit

__all__ = ["INSTALL_HINT", "MINILM_PACKAGE", "HFCLIP", "load_hf_clip", "CrossAttentionMaps", "HFStableDiffusion",
           "load_hf_stable_diffusion", "hf_attention_maps", "load_local", "load_minilm", "mean_pool", "minilm_path",
           "sentence_embeddings", "HFViT", "load_hf_vit", "load_hf_clip_vision"]
