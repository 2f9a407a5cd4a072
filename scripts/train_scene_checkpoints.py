"""Reproduce the scene checkpoints shipped in checkpoints/: lecture 4's visual attention model.

    python scripts/train_scene_checkpoints.py      # about 15 seconds on one CPU thread

The model is trained from scratch with the recipe the lecture uses (course_lib.zoo_scenes), so the
lecture loads exactly what it would otherwise train; the recipe is stored in the file's metadata.
"""

from __future__ import annotations

import time

import torch

from course_lib.checkpoints import SHIPPED_DIR
from course_lib.models.visual_attention import colour_queries, evaluate_attention
from course_lib.zoo_scenes import VisualAttentionRecipe, attention_scenes, visual_attention


def main() -> None:
    torch.set_num_threads(1)  # as the lecture does; also the fastest setting for such small models
    for old in SHIPPED_DIR.glob("scenes_visual_attention-*.safetensors"):
        old.unlink()  # a recipe that changed leaves no stale file behind
    recipe = VisualAttentionRecipe()
    start = time.perf_counter()
    trained = visual_attention(recipe, device="cpu", progress=False, directories=(), save_to=SHIPPED_DIR)
    seconds = time.perf_counter() - start
    scores = evaluate_attention(trained.model, colour_queries(attention_scenes(recipe, "test")))
    path = next(SHIPPED_DIR.glob("scenes_visual_attention-*.safetensors"))
    print(f"visual attention: trained in {seconds:.1f} s, final loss {trained.history[-1]:.4f}; on 1000 test scenes "
          f"shape accuracy {scores['accuracy']:.3f}, attention argmax in the box {scores['hit_rate']:.3f}, "
          f"attention mass in the box {scores['mass_in_box']:.3f}; "
          f"saved {path.name} ({path.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
