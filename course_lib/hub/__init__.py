"""Optional adapters to real pretrained models through Hugging Face `transformers`, offline.

The core of course_lib never needs transformers: it is imported here, lazily, when an adapter is
called. Install the extras with `pip install -e '.[hf,real]'` (the course's `make test` does).

- `load_minilm`, `load_local`, `hf_attention_maps`: a real text encoder and its attention maps (lecture 4);
  `mean_pool`, `sentence_embeddings`: its sentence vectors (lecture 7)
- `save_tiny_models`, `auto_class_tour`, `tour_table`, `load_offline`: every AutoClass lecture 7's source names,
  loaded offline: the class each builds, its head, its output (course_lib.hub.auto_classes)
- `load_hf_clip` -> `HFCLIP`: a real CLIP behind the same two methods as lecture 5's MiniCLIP (course_lib.clip_metrics)
- `load_hf_stable_diffusion` -> `HFStableDiffusion`: a real Stable Diffusion (diffusers) with the course's DDIM
  sampler: `generate` images, and `cross_attention_maps` of a prompt's tokens (lecture 6)
- `load_hf_vit`, `load_hf_clip_vision` -> `HFViT`: a real ViT (or CLIP's vision tower) whose `attention_maps` and
  `grid` feed lecture 8's rollout and [CLS] pictures (course_lib.vision_attention) unchanged
"""

from course_lib.hub._common import INSTALL_HINT, MINILM_PACKAGE
from course_lib.hub.auto_classes import TourRow, auto_class_tour, load_offline, save_tiny_models, tour_table
from course_lib.hub.clip import HFCLIP, load_hf_clip
from course_lib.hub.stable_diffusion import CrossAttentionMaps, HFStableDiffusion, load_hf_stable_diffusion
from course_lib.hub.text import (hf_attention_maps, load_local, load_minilm, mean_pool, minilm_path,
                                  sentence_embeddings)
from course_lib.hub.vit import HFViT, load_hf_clip_vision, load_hf_vit

__all__ = ["INSTALL_HINT", "MINILM_PACKAGE", "HFCLIP", "load_hf_clip", "CrossAttentionMaps", "HFStableDiffusion",
           "load_hf_stable_diffusion", "hf_attention_maps", "load_local", "load_minilm", "mean_pool", "minilm_path",
           "sentence_embeddings", "HFViT", "load_hf_vit", "load_hf_clip_vision", "TourRow", "auto_class_tour",
           "load_offline", "save_tiny_models", "tour_table"]
