"""course_lib: the small PyTorch library the course's notebooks import.

One idea per file: `device` (where tensors live, seeding), `data` (bundled
datasets, synthetic scenes, toy text tasks, a tokenizer), `models` (PCA,
autoencoders, CNNs, attention, transformers, seq2seq), `train` (one training
loop), `checkpoints` (safetensors, 'load if shipped, else train'), `zoo*`
(the lectures' trained models by recipe), `metrics`, `contrastive` (CLIP's loss,
zero-shot), `viz`/`attention_viz`/`scene_viz` (pictures), `widgets` (ipywidgets
explorers), `hub` (optional real models from Hugging Face, offline) and
`checking` (the grader's probe and the exercises' classic-mistake hints).
"""

from course_lib.device import get_device, seed_everything

__all__ = ["get_device", "seed_everything"]
__version__ = "0.1.0"
