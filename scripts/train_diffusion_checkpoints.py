"""Reproduce lecture 6's shipped checkpoints in checkpoints/: the VAE, the judge, the latent and the pixel U-Nets.

    python scripts/train_diffusion_checkpoints.py                  # everything missing: about 14 minutes + 2 to measure
    python scripts/train_diffusion_checkpoints.py --only pixel     # some of them (the others are loaded)
    python scripts/train_diffusion_checkpoints.py --threads 2      # threads change the time (and last digits), not the recipe

Measured on a 2-core CPU shared with other jobs, one thread: VAE 109 s, judge 40 s, latent U-Net 303 s (1884
steps of 128 latents), pixel U-Net 386 s (626 steps of 64 images; the machine was busier then: side by side a
pixel step costs 2.9x a latent step, 0.48 s against 0.167 s, so the two U-Nets had the same compute). The VAE
took 86 s with two threads on a quiet machine, 391 s with two threads while another job's test suite ran.

Each model is trained from scratch with the recipe the lecture uses (course_lib.zoo_diffusion), so the lecture
loads exactly what it would otherwise train; the recipe is stored in each file's metadata. The text encoder is
lecture 5's shipped MiniCLIP (scripts/train_clip_checkpoint.py), used frozen. After training, the script
measures what lecture 6 claims: the judge's accuracy on clean, blurred, noised and VAE-reconstructed scenes, and
each U-Net's prompt faithfulness (DDIM-25 at guidance 0, 1 and 3) on the 36 one-object prompts, 3 images each.
"""

from __future__ import annotations

import argparse
import time

import torch

from course_lib.checkpoints import SHIPPED_DIR, checkpoint_filename
from course_lib.judge import add_gaussian_noise, gaussian_blur
from course_lib.zoo_diffusion import (
    JudgeRecipe, UNetRecipe, VAERecipe, judge_scenes, mini_stable_diffusion, shape_judge, single_object_prompts, unet,
    vae, vae_scenes,
)

LATENT, PIXEL = UNetRecipe(), UNetRecipe.pixel()
MODELS = ("vae", "judge", "latent", "pixel")
SHIPPED = dict(device="cpu", progress=False, directories=(SHIPPED_DIR,), save_to=SHIPPED_DIR)


def _timed(name: str, make):
    """Load or train one model, and say which and how long it took."""
    start = time.perf_counter()
    trained = make()
    print(f"{name}: {trained.source} in {time.perf_counter() - start:.0f} s on {torch.get_num_threads()} thread(s), "
          f"loss {trained.history[0]:.4f} -> {trained.history[-1]:.4f}", flush=True)
    return trained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as the lecture uses)")
    parser.add_argument("--only", nargs="+", choices=MODELS, default=MODELS, help="which models to make")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    stale = {"vae": ("scenes_vae", VAERecipe()), "judge": ("scenes_judge", JudgeRecipe()),
             "latent": ("scenes_unet_latent", LATENT), "pixel": ("scenes_unet_pixel", PIXEL)}
    for key in args.only:  # a recipe that changed leaves no stale file behind
        name, _ = stale[key]
        for old in SHIPPED_DIR.glob(f"{name}-*.safetensors"):
            if old.name != _filename(*stale[key]):
                old.unlink()

    autoencoder = _timed("VAE", lambda: vae(VAERecipe(), **SHIPPED)).model
    print(f"  latent_scale {autoencoder.latent_scale.item():.4f}", flush=True)
    test = vae_scenes(VAERecipe(), "test", 1000).images
    with torch.no_grad():
        error = (autoencoder.reconstruct(test) - test).pow(2).mean().item()
    print(f"  test reconstruction MSE {error:.5f} (PSNR {10 * torch.log10(torch.tensor(1 / error)):.1f} dB)")
    judge = _timed("judge", lambda: shape_judge(JudgeRecipe(), **SHIPPED)).model
    scenes = judge_scenes(JudgeRecipe(), "test", 1000)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        views = {"clean": scenes.images, "blur 1.0": gaussian_blur(scenes.images, 1.0),
                 "noise 0.1": add_gaussian_noise(scenes.images, 0.1, generator),
                 "VAE reconstruction": autoencoder.reconstruct(scenes.images)}
    for view, images in views.items():
        print(f"  judge on {view}: {_percent(judge.accuracy(images, scenes))}")

    prompts = single_object_prompts(3)
    for key, recipe in (("latent", LATENT), ("pixel", PIXEL)):
        if key not in args.only:
            continue
        _timed(f"{key} U-Net", lambda: unet(recipe, **SHIPPED))
        sd = mini_stable_diffusion(recipe, **SHIPPED)
        for guidance in (0.0, 1.0, 3.0):
            start = time.perf_counter()
            images = sd.generate(prompts, steps=25, guidance_scale=guidance)
            seconds = time.perf_counter() - start
            print(f"  DDIM-25, guidance {guidance}: {_percent(judge.faithfulness(images, prompts))} "
                  f"({len(prompts)} images in {seconds:.1f} s)", flush=True)
    for name, recipe in stale.values():
        path = SHIPPED_DIR / _filename(name, recipe)
        if path.is_file():
            print(f"{path.name}: {path.stat().st_size / 1e3:.0f} kB")


def _filename(name: str, recipe) -> str:
    """The file load_or_train writes for this recipe."""
    from dataclasses import asdict
    return checkpoint_filename(name, {"dataset": "shapes", **asdict(recipe)})


def _percent(shares: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in shares.items())


if __name__ == "__main__":
    main()
