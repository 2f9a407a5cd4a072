"""Reproduce lecture 5's shipped MiniCLIP checkpoint in checkpoints/ (contrastive image-text training on scenes).

    python scripts/train_clip_checkpoint.py              # about 3 minutes on one CPU thread
    python scripts/train_clip_checkpoint.py --threads 2  # the thread count changes the time, not the recipe

The model is trained from scratch with the recipe the lecture uses (course_lib.zoo_clip.CLIPRecipe), so the
lecture loads exactly what it would otherwise train; the recipe is stored in the file's metadata.
"""

from __future__ import annotations

import argparse
import time

import torch

from course_lib.checkpoints import SHIPPED_DIR
from course_lib.zoo_clip import (
    CLIPRecipe, MiniCLIPEncoders, clip_scenes, mini_clip, retrieval_recall, zero_shot_accuracy, zero_shot_scenes,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as the lecture uses)")
    torch.set_num_threads(parser.parse_args().threads)
    for old in SHIPPED_DIR.glob("scenes_mini_clip-*.safetensors"):
        old.unlink()  # a recipe that changed leaves no stale file behind
    recipe = CLIPRecipe()
    start = time.perf_counter()
    trained = mini_clip(recipe, device="cpu", progress=False, directories=(), save_to=SHIPPED_DIR)
    seconds = time.perf_counter() - start
    clip = MiniCLIPEncoders(trained.model)
    seen = zero_shot_accuracy(clip, zero_shot_scenes(recipe, "seen"))
    held_out = zero_shot_accuracy(clip, zero_shot_scenes(recipe, "held_out"))
    pairs = clip_scenes(recipe, "test", 500, n_objects=2)
    recalls = retrieval_recall(clip, pairs.images, pairs.captions)
    path = next(SHIPPED_DIR.glob("scenes_mini_clip-*.safetensors"))
    print(f"MiniCLIP: trained in {seconds:.1f} s on {torch.get_num_threads()} thread(s), final loss "
          f"{trained.history[-1]:.4f}, exp(t) = {trained.model.scale().item():.1f}; zero-shot accuracy on 1000 "
          f"one-object scenes: seen combinations {seen:.3f}, held-out {held_out:.3f}; on 500 two-object scenes "
          + ", ".join(f"{k} {v:.3f}" for k, v in recalls.items())
          + f"; saved {path.name} ({path.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
