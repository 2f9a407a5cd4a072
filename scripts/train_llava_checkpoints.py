"""Reproduce lecture 7's shipped checkpoints in checkpoints/: the stage-0 TinyLM, and for both connectors the
stage-1 connector and the stage-2 MiniLLaVA.

    python scripts/train_llava_checkpoints.py              # what is missing or stale: about 6 minutes in all
    python scripts/train_llava_checkpoints.py --fresh      # retrain even what is already shipped
    python scripts/train_llava_checkpoints.py --threads 2  # the thread count changes the time, not the recipe

Measured on a 2-core CPU shared with other jobs, one thread: stage 0 (TinyLM) 18 s, stage 1 13 s per connector,
stage 2 136 s (linear) and 144 s (mlp), so about 170 s per model and 6 minutes for the script, evaluations
included; while another job kept both cores busy, 31 s, 13-14 s and 199-210 s (8.5 minutes). Stage 2 runs the
frozen image encoder once per scene, not once per step: that saves a third or more of its time.

Each stage is trained with the recipe the lecture uses (course_lib.zoo_llava), so the lecture loads exactly what
it would otherwise train; the recipe is stored in each file's metadata. The image encoder is lecture 5's shipped
MiniCLIP (scripts/train_clip_checkpoint.py), used frozen. Afterwards the script measures what lecture 7 claims:
accuracy per question kind on 500 held-out scenes after stage 1 and after stage 2, for each connector, and two
blind baselines: the stage-2 model with its image tokens zeroed, and the stage-0 LM that never saw an image.
"""

from __future__ import annotations

import argparse
import time

import torch

from course_lib.checkpoints import SHIPPED_DIR
from course_lib.zoo_llava import (LLaVARecipe, aligned_llava, answer_accuracy, checkpoint_files, llava_qa,
                                  mini_llava, text_only_llava, tiny_lm)

RECIPES = (LLaVARecipe(connector="linear"), LLaVARecipe(connector="mlp"))
SHIPPED = dict(device="cpu", progress=False, directories=(SHIPPED_DIR,), save_to=SHIPPED_DIR)


def _timed(name: str, make):
    """Load or train one stage, and say which and how long it took."""
    start = time.perf_counter()
    trained = make()
    seconds = time.perf_counter() - start
    print(f"{name}: {trained.source} in {seconds:.0f} s on {torch.get_num_threads()} thread(s), "
          f"loss {trained.history[0]:.4f} -> {trained.history[-1]:.4f}", flush=True)
    return trained, seconds


def _accuracy(name: str, accuracy: dict[str, float]) -> None:
    print(f"  {name:<30}" + "  ".join(f"{kind} {value:.3f}" for kind, value in accuracy.items()), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as the lecture uses)")
    parser.add_argument("--fresh", action="store_true", help="delete the current checkpoints too, and retrain")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    current = {name for recipe in RECIPES for name in checkpoint_files(recipe)}
    for old in SHIPPED_DIR.glob("scenes_llava_*.safetensors"):  # a recipe that changed leaves no stale file behind
        if args.fresh or old.name not in current:
            old.unlink()

    _, lm_seconds = _timed("stage 0, TinyLM on text", lambda: tiny_lm(RECIPES[0].lm, **SHIPPED))
    qa = llava_qa("test")
    print(f"held-out: {len(qa.scenes)} scenes, {len(qa.instructions)} questions", flush=True)
    _accuracy("text-only LM (stage 0)", answer_accuracy(text_only_llava(RECIPES[0], **SHIPPED), qa, blind=True))
    for recipe in RECIPES:
        kind = recipe.connector
        aligned, align_seconds = _timed(f"stage 1, {kind} connector", lambda: aligned_llava(recipe, **SHIPPED))
        tuned, tune_seconds = _timed(f"stage 2, {kind} MiniLLaVA", lambda: mini_llava(recipe, **SHIPPED))
        print(f"  {kind}: all three stages {lm_seconds + align_seconds + tune_seconds:.0f} s", flush=True)
        _accuracy(f"{kind}, after stage 1", answer_accuracy(aligned.model, qa))
        _accuracy(f"{kind}, after stage 2", answer_accuracy(tuned.model, qa))
        _accuracy(f"{kind}, stage 2, image zeroed", answer_accuracy(tuned.model, qa, blind=True))
    for name in sorted(current):
        print(f"saved {name} ({(SHIPPED_DIR / name).stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
