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
- judge on 1000 fresh one-object scenes: clean 0.998, VAE reconstructions 0.997, blur sigma 1 0.994, noise 0.1 0.995;
- the VAE (kl_weight 1e-3, sigma_x 0.022) on 500 test scenes: KL 1.76 nats per latent number, posterior sigma 0.34,
  variance of a latent number 0.27 to 6.0, 49% of the variance along the 10 largest of 256 directions;
- linear schedule: sqrt(alpha_bar) 0.440, SNR 0.240 at t = 400, SNR 0.026 at t = 600; cosine: SNR 1.82 and 0.51.
"""

import math

import pytest
import torch

from course_lib.checkpoints import read_metadata
from course_lib.data import load_image
from course_lib.data.shapes import COLOURS, SHAPES
from course_lib.diffusion import cosine_schedule, linear_schedule
from course_lib.inpainting import inpaint
from course_lib.models.vae import kl_divergence, reparameterise
from course_lib.recipes import JudgeRecipe, Store, UNetRecipe, VAERecipe, mini_stable_diffusion
from course_lib.recipes.diffusion import judge_scenes, single_object_prompts, vae_scenes
from course_lib.recipes.store import shipped_dir
from course_lib.vae_metrics import latent_statistics


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


def test_the_vae_keeps_12x_fewer_numbers_and_scales_its_latents_to_unit_variance(latent):
    assert (latent.text.length, latent.text.dim, latent.sample_shape) == (16, 64, (4, 8, 8))  # the pipeline diagram
    assert (512 * 512 * 3, 64 * 64 * 4, 512 * 512 * 3 // (64 * 64 * 4)) == (786432, 16384, 48)  # section 7, SD's
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
    chance = 1 / (len(COLOURS) * len(SHAPES))  # 'only by chance: 1 time in 18'
    assert chance == 1 / 18 and abs(unguided["both"] - chance) < 0.05, unguided  # 'close to that': measured 0.074
    assert UNetRecipe().p_uncond == 0.1  # 'the text dropped 10% of the time'


def test_at_the_same_training_time_latents_beat_pixels(judge, latent):
    """Also the recipes' steps: 'the pixel U-Net took 626 steps of 64 images, the latent one 1,884 steps of 128'."""
    steps = {r.space: (math.ceil(r.n_train / r.batch_size) * r.epochs, r.batch_size)  # train() keeps the last batch
             for r in (UNetRecipe(), UNetRecipe.pixel())}
    assert steps == {"pixel": (626, 64), "latent": (1884, 128)}
    prompts = single_object_prompts(1)  # pixel-space sampling is slow: 36 images
    pixel = mini_stable_diffusion(UNetRecipe.pixel(), SHIPPED)
    in_latents = judge.faithfulness(latent.generate(prompts, guidance_scale=3.0), prompts)
    in_pixels = judge.faithfulness(pixel.generate(prompts, guidance_scale=3.0), prompts)
    assert in_latents["both"] - in_pixels["both"] >= PIXEL_MARGIN, (in_latents, in_pixels)


def test_ddim_25_draws_a_batch_of_images(latent):
    """Its speed (well under two seconds an image on a CPU) is a budget of `make bench` (speed section)."""
    images = latent.generate(single_object_prompts(1)[:8], steps=25, guidance_scale=3.0)
    assert images.shape == (8, 3, 32, 32)


def test_how_fast_the_schedules_destroy_the_signal():
    """Section 2: at t = 400 the linear schedule keeps less than half the amplitude, noise variance four times the
    signal's (SNR about 0.24); by t = 600 SNR below 0.03 (over 97% noise); cosine: SNR near 2 and about 0.5."""
    linear, cosine = linear_schedule(1000).alpha_bars, cosine_schedule(1000).alpha_bars
    snr = lambda alpha_bar: (alpha_bar / (1 - alpha_bar)).item()  # noqa: E731
    assert linear[400].sqrt() < 0.5 and 3.5 < 1 / snr(linear[400]) < 4.5 and round(snr(linear[400]), 2) == 0.24
    assert snr(linear[600]) < 0.03 and 1 - linear[600] > 0.97
    assert 1.6 < snr(cosine[400]) < 2.2 and 0.4 < snr(cosine[600]) < 0.6
    photo = torch.nn.functional.interpolate(load_image("astronaut")[None], size=64, mode="area")[0] * 2 - 1
    assert photo.std() < 1  # 'their SNR is lower still'


@pytest.fixture(scope="module")
def vae():
    return SHIPPED.load(VAERecipe()).model


def test_the_vae_kl_term_is_torch_distributions_and_what_its_weight_gave(vae):
    """Section 4: the closed-form KL equals torch.distributions' on the shipped VAE's posteriors; the KL weight
    (sigma_x = sqrt(kl_weight / 2) = 0.022) left each code a cloud about a third as wide as the prior, and the codes
    together with about half of their variance along 10 of 256 directions, per-number variances far from 1."""
    with torch.no_grad():
        mean, logvar = vae.encode(vae_scenes(VAERecipe(), "test", n=8).images)
    posterior = torch.distributions.Normal(mean, (0.5 * logvar).exp())
    by_torch = torch.distributions.kl_divergence(posterior, torch.distributions.Normal(0.0, 1.0)).flatten(1).sum(1)
    torch.testing.assert_close(kl_divergence(mean, logvar), by_torch, rtol=1e-5, atol=1e-3)
    assert round((VAERecipe().kl_weight / 2) ** 0.5, 3) == 0.022
    stats = latent_statistics(vae, vae_scenes(VAERecipe(), "test", n=500).images, seed=0)
    assert stats.numbers == 256 and stats.top == 10
    assert 1.0 < stats.kl_per_number < 2.5, stats  # measured 1.76: far from the prior's 0, far from a point's infinity
    assert 0.28 < stats.posterior_std < 0.40, stats  # 'about a third as wide as the prior'
    assert 0.40 < stats.top_share < 0.60, stats  # 'about half of their variance along 10 of 256 directions'
    assert stats.variance_range[0] < 0.5 and stats.variance_range[1] > 3, stats  # N(0, I) covers them 'only loosely'


def test_only_the_reparameterised_sample_passes_gradients_back():
    """Section 4: torch.normal draws the very same numbers as mu + std * eps from the same seed but passes back zeros;
    Normal.sample() passes back nothing; rsample and the trick pass dz/dmu = 1 and dz/dlogvar = (z - mu) / 2."""
    def leaves():
        return torch.tensor([0.5, -1.0], requires_grad=True), torch.tensor([0.0, -2.0], requires_grad=True)

    mu, logvar = leaves()
    drawn = torch.normal(mu, (0.5 * logvar).exp(), generator=torch.Generator().manual_seed(0))
    drawn.sum().backward()
    trick = reparameterise(mu.detach(), logvar.detach(), torch.Generator().manual_seed(0))
    assert torch.equal(drawn.detach(), trick) and not mu.grad.any() and not logvar.grad.any()
    assert not torch.distributions.Normal(mu, (0.5 * logvar).exp()).sample().requires_grad
    for sample in (lambda m, lv: torch.distributions.Normal(m, (0.5 * lv).exp()).rsample(),
                   lambda m, lv: reparameterise(m, lv, torch.Generator().manual_seed(1))):
        mu, logvar = leaves()
        z = sample(mu, logvar)
        z.sum().backward()
        torch.testing.assert_close(mu.grad, torch.ones(2))
        torch.testing.assert_close(logvar.grad, (z.detach() - mu.detach()) / 2)


def test_inpainting_with_the_shipped_model_keeps_the_kept_latents_and_is_seeded(latent):
    """Section 11: the kept region's latents end equal to the original's; the same seed gives the same fill."""
    pool = vae_scenes(VAERecipe(), "test", n=200)
    start = pool.subset([i for i, caption in enumerate(pool.captions) if " left of " in caption][:2])
    with torch.no_grad():
        x0 = latent.vae.to_latent(start.images)  # (2, 4, 8, 8)
    mask = torch.zeros(2, 1, 8, 8, dtype=torch.bool)
    mask[..., 4:] = True
    context = latent.text(["a small red circle left of a small blue triangle"] * 2)

    def fill(seed: int) -> torch.Tensor:
        return inpaint(latent.unet, x0, mask, context, latent.schedule, steps=10, resample=2,
                       null_context=latent.null_context, guidance_scale=3.0,
                       generator=torch.Generator().manual_seed(seed), progress=False)

    first, again, other = fill(0), fill(0), fill(1)
    kept = ~mask.expand_as(x0)
    assert torch.equal(first[kept], x0[kept]) and torch.equal(first, again)
    assert (first[~kept] - other[~kept]).abs().max() > 0.1 and (first[~kept] - x0[~kept]).abs().max() > 0.1
    right_half = torch.zeros(2, 1, 32, 32, dtype=torch.bool)
    right_half[..., 16:] = True
    images = latent.inpaint(start.images, right_half, ["a small red circle left of a small blue triangle"] * 2, steps=5)
    assert images.shape == (2, 3, 32, 32) and 0 <= images.min() and images.max() <= 1
