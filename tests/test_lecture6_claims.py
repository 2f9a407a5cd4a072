"""Lecture 6's claims about the shipped mini Stable Diffusion: it draws what the prompt asks, thanks to guidance
and to the latent space, in well under a second per image, and the judge that says so can be trusted.

Measured on the shipped checkpoints (`python -m course_lib.recipes train vae judge unet-latent unet-pixel`, one
CPU thread), judged on the 36
one-object prompts x 3 images (DDIM-25 unless said), share with colour and shape both right:
- latent U-Net (1.38M parameters, 1884 steps, 303 s): guidance 0 0.074, 1 0.685, 3 0.926, 5 0.861;
  at guidance 3: DDIM-10 0.917, DDIM-50 0.917, DDPM-1000 0.935 (colour alone 0.963 at DDIM-25);
- pixel U-Net at the same compute (0.83M parameters, 626 steps of 64 images, each step 2.9x a latent step): 0.111
  at guidance 3 (colour 0.370, shape 0.380); on 36 images 0.194 against the latent model's 0.889;
- speed, one thread, 108 images at once: DDIM-10 9 ms, DDIM-25 22 ms, DDIM-50 44 ms, DDPM-1000 836 ms per image;
  DDIM-25 for 8 images 26 ms per image, for one alone 71 ms;
- judge on 1000 fresh one-object scenes: clean 0.998, VAE reconstructions 0.997, blur sigma 1 0.994, noise 0.1 0.995.
"""

import pytest
import torch

from course_lib.checkpoints import read_metadata
from course_lib.recipes import JudgeRecipe, Store, UNetRecipe, VAERecipe, mini_stable_diffusion
from course_lib.recipes.diffusion import judge_scenes, single_object_prompts
from course_lib.recipes.store import shipped_dir


LATENT_FLOOR = 0.85  # the issue asks for 0.80
PIXEL_MARGIN = 0.30  # latent minus pixel at the same training time
GUIDANCE_MARGIN = 0.50  # guidance 3 minus guidance 0
JUDGE_CLEAN_FLOOR, JUDGE_RECONSTRUCTION_FLOOR = 0.98, 0.97
SHIPPED = Store.shipped_only()  # never trains
CHECKPOINTS = {"scenes_vae": VAERecipe(), "scenes_judge": JudgeRecipe(), "scenes_unet_latent": UNetRecipe(),
               "scenes_unet_pixel": UNetRecipe.pixel()}


def _path(name, recipe):
    return shipped_dir() / recipe.filename


@pytest.fixture(scope="module", autouse=True)
def shipped_checkpoints():
    """Never train here: a missing or stale checkpoint fails at once instead of training for minutes."""
    missing = [name for name, recipe in CHECKPOINTS.items() if not _path(name, recipe).is_file()]
    if missing:
        pytest.fail(f"No shipped checkpoint for {missing}: run python -m course_lib.recipes train vae judge "
                    "unet-latent unet-pixel")


@pytest.fixture(scope="module")
def judge():
    return SHIPPED.load(JudgeRecipe()).model


@pytest.fixture(scope="module")
def latent():
    return mini_stable_diffusion(UNetRecipe(), SHIPPED)


def test_the_checkpoints_are_small_and_record_their_recipes_and_falling_losses():
    total = 0
    for name, recipe in CHECKPOINTS.items():
        path = _path(name, recipe)
        total += path.stat().st_size
        metadata = read_metadata(path)
        assert metadata["config"] == recipe.identity()
        assert metadata["history"][-1] < metadata["history"][0] / 2, name
    assert total < 12e6  # measured 9.9 MB, most of it the two U-Nets in float32


def test_the_vae_keeps_12x_fewer_numbers_and_scales_its_latents_to_unit_variance():
    autoencoder = SHIPPED.load(VAERecipe()).model
    images = judge_scenes(JudgeRecipe(), "test", 300).images
    with torch.no_grad():
        latents = autoencoder.to_latent(images)
        error = (autoencoder.reconstruct(images) - images).pow(2).mean().item()
    assert latents.shape == (300, 4, 8, 8)
    assert 0.8 < latents.std().item() < 1.2  # latent_scale was measured on the training scenes
    assert error < 2e-3


def test_the_judge_reads_real_scenes_and_their_vae_reconstructions(judge):
    autoencoder = SHIPPED.load(VAERecipe()).model
    scenes = judge_scenes(JudgeRecipe(), "test", 1000)
    with torch.no_grad():
        reconstructions = autoencoder.reconstruct(scenes.images)
    clean, reconstructed = judge.accuracy(scenes.images, scenes), judge.accuracy(reconstructions, scenes)
    assert clean["both"] >= JUDGE_CLEAN_FLOOR, clean
    assert reconstructed["both"] >= JUDGE_RECONSTRUCTION_FLOOR, reconstructed


def test_the_latent_model_draws_what_the_prompt_asks_and_guidance_is_what_makes_it(judge, latent):
    prompts = single_object_prompts(3)  # 36 prompts, 3 images each
    guided = judge.faithfulness(latent.generate(prompts, steps=25, guidance_scale=3.0), prompts)
    unguided = judge.faithfulness(latent.generate(prompts, steps=25, guidance_scale=0.0), prompts)
    assert guided["both"] >= LATENT_FLOOR, guided
    assert guided["both"] - unguided["both"] >= GUIDANCE_MARGIN, (guided, unguided)


def test_at_the_same_training_time_latents_beat_pixels(judge, latent):
    prompts = single_object_prompts(1)  # pixel-space sampling is slow: 36 images
    pixel = mini_stable_diffusion(UNetRecipe.pixel(), SHIPPED)
    in_latents = judge.faithfulness(latent.generate(prompts, guidance_scale=3.0), prompts)
    in_pixels = judge.faithfulness(pixel.generate(prompts, guidance_scale=3.0), prompts)
    assert in_latents["both"] - in_pixels["both"] >= PIXEL_MARGIN, (in_latents, in_pixels)


def test_ddim_25_draws_a_batch_of_images(latent):
    """Its speed (well under two seconds an image on a CPU) is a budget of `make bench` (speed section)."""
    images = latent.generate(single_object_prompts(1)[:8], steps=25, guidance_scale=3.0)
    assert images.shape == (8, 3, 32, 32)
