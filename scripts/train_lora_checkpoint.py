"""Reproduce lecture 6's shipped LoRA adapters in checkpoints/: 'pink' with and without prior preservation.

    python scripts/train_lora_checkpoint.py               # both adapters (about 1.5 minutes) + 30 s to measure
    python scripts/train_lora_checkpoint.py --threads 2   # threads change the time (and last digits), not the recipe

Each adapter is fine-tuned from the shipped latent U-Net (scripts/train_diffusion_checkpoints.py) with the recipe
the lecture uses (course_lib.lora_diffusion.LoRARecipe), so the lecture loads exactly what it would otherwise
train; a file holds only the LoRA matrices A and B, and the recipe in its metadata. Afterwards the script
measures what the lecture claims, before and after fine-tuning (DDIM-25, guidance 3, seed 0): the new colour's
share of object pixels and the judge's shape accuracy on the six pink prompts (8 images each), and the judge's
faithfulness on the 36 old one-object prompts (4 images each). It also tries the DreamBooth-style prior
(the frozen model's own samples), trained but not shipped, for the comparison in LoRARecipe's docstring.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict

import torch

from course_lib.checkpoints import SHIPPED_DIR, checkpoint_filename
from course_lib.lora_diffusion import LoRARecipe, lora_report, lora_unet
from course_lib.models.lora import count_parameters
from course_lib.stable_diffusion import MiniStableDiffusion
from course_lib.zoo_diffusion import mini_stable_diffusion, shape_judge

RECIPES = {"with prior (shipped)": LoRARecipe(), "without prior (shipped)": LoRARecipe.without_prior()}
TRIED = {"generated prior (not shipped)": LoRARecipe(prior="generated")}
SHIPPED = dict(device="cpu", progress=False, directories=(SHIPPED_DIR,), save_to=SHIPPED_DIR)


def _filename(recipe: LoRARecipe) -> str:
    """The file load_or_train writes for this recipe."""
    return checkpoint_filename("scenes_lora", {"dataset": "shapes", **asdict(recipe)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as the lecture uses)")
    parser.add_argument("--skip-tried", action="store_true", help="do not train the unshipped comparison")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keep = {_filename(recipe) for recipe in RECIPES.values()}
    for old in SHIPPED_DIR.glob("scenes_lora-*.safetensors"):  # a recipe that changed leaves no stale file behind
        if old.name not in keep:
            old.unlink()

    base = mini_stable_diffusion(device="cpu", progress=False, directories=(SHIPPED_DIR,), save_to=None)
    judge = shape_judge(device="cpu", progress=False, directories=(SHIPPED_DIR,), save_to=None).model
    recipes = {**RECIPES, **({} if args.skip_tried else TRIED)}
    for name, recipe in recipes.items():
        start = time.perf_counter()
        where = SHIPPED if name in RECIPES else {**SHIPPED, "save_to": None}
        trained = lora_unet(recipe, **where)
        seconds = time.perf_counter() - start
        trainable, frozen = count_parameters(trained.model)
        print(f"{name}: {trained.source} in {seconds:.0f} s on {torch.get_num_threads()} thread(s), "
              f"loss {trained.history[0]:.4f} -> {trained.history[-1]:.4f}; {trainable} trainable numbers, "
              f"{frozen} frozen ({100 * trainable / (trainable + frozen):.2f}%)", flush=True)
        if name in RECIPES:
            size = (SHIPPED_DIR / _filename(recipe)).stat().st_size
            print(f"  {_filename(recipe)}: {size / 1024:.1f} KiB", flush=True)
        tuned = MiniStableDiffusion(trained.model, base.text, base.vae, base.schedule)
        start = time.perf_counter()
        for measure, values in lora_report(base, tuned, judge, recipe).items():
            print(f"  {measure}: {values['before']:.3f} -> {values['after']:.3f}", flush=True)
        print(f"  measured in {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
