"""course_lib: the small PyTorch library the course's notebooks import.

One idea per file:
- `device` (where tensors live, seeding without touching the caller's generators), `train` (one training loop),
  `checkpoints` (safetensors files with their recipe and loss history), `validation` (one-line argument errors);
- `data` (bundled datasets, synthetic scenes, toy text tasks, tokenizers, seeded train/test splits);
- `models` (PCA, autoencoders, CNNs, attention, transformers, seq2seq, CLIP, VAE, U-Net, LLaVA, LoRA): the
  networks, nothing about where their weights come from;
- `recipes` (every model the course trains: a recipe says what decides its weights and how to train it; a
  `Store` loads it from the checkpoints shipped in `weights/`, or a cache, or trains it; a registry names them
  all, and `python -m course_lib.recipes` lists and rebuilds them);
- `diffusion` (schedules and samplers, apart from the networks), `stable_diffusion` (the pipeline), `judge`;
- what the lectures measure: `metrics`, `contrastive`, `clip_metrics`, `seq2seq_metrics`, `concept_metrics`,
  `llava_metrics`;
- pictures and widgets: `viz`, `attention_viz`, `conv_viz`, `scene_viz`, `llava_viz`, `diagrams`, `widgets`;
- `hub` (optional real models from Hugging Face, offline) and `checking` (the grader's probe and the exercises'
  classic-mistake hints).
"""

__all__ = ["get_device", "seed_everything"]
__version__ = "0.1.0"


def __getattr__(name: str):
    """`from course_lib import seed_everything` imports torch then, not when a torch-free part (the grader's
    probe, course_lib.checking) is imported: that keeps every grading run 1.4 s of CPU shorter."""
    if name in __all__:
        from course_lib import device

        return getattr(device, name)
    raise AttributeError(f"module 'course_lib' has no attribute {name!r}")
