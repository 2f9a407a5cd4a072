"""Lecture 6's models: the VAE's latents, the U-Net in latent and pixel space, its cross-attention, the judge."""

import pytest
import torch

from course_lib.data.shapes import make_scenes
from course_lib.diffusion import diffusion_loss, linear_schedule
from course_lib.judge import Judge, add_gaussian_noise, degrade, gaussian_blur, parse_prompt, scene_labels
from course_lib.models.unet import UNet, count_parameters
from course_lib.models.vae import VAE, kl_divergence, reparameterise, vae_loss
from course_lib.train import train
from course_lib.recipes import CLIPRecipe, Source, Store, UNetRecipe
from course_lib.recipes.diffusion import single_object_prompts, text_encoder
from course_lib.stable_diffusion import MiniStableDiffusion

STORE = Store(torch.device("cpu"), progress=False)  # no folders: untrained models only

JUDGE_FLOORS = {"clean": 0.98, "blur": 0.97, "noise": 0.97, "reconstruction": 0.97}  # measured 0.998 0.994 0.995 0.997


@pytest.fixture(scope="module")
def text(shipped_store):
    return text_encoder(CLIPRecipe(), shipped_store)  # lecture 5's shipped MiniCLIP, frozen


def test_the_vae_squeezes_32x32x3_into_8x8x4_twelve_times_fewer_numbers():
    vae, images = VAE().eval(), make_scenes(6, seed=3).images
    mean, logvar = vae.encode(images)
    assert mean.shape == logvar.shape == (6, 4, 8, 8)
    assert images[0].numel() / mean[0].numel() == 12  # Stable Diffusion: 512*512*3 / (64*64*4) = 48
    decoded = vae.decode(mean)
    assert decoded.shape == (6, 3, 32, 32) and 0 <= decoded.min() and decoded.max() <= 1
    with pytest.raises(ValueError, match="divisible by 4"):
        vae.encode(torch.rand(2, 3, 30, 30))
    with pytest.raises(ValueError, match="latents"):
        vae.decode(torch.rand(2, 3, 8, 8))


def test_kl_is_zero_for_the_prior_and_vae_loss_is_reconstruction_plus_weighted_kl():
    zeros = torch.zeros(3, 4, 8, 8)
    torch.testing.assert_close(kl_divergence(zeros, zeros), torch.zeros(3))
    assert (kl_divergence(torch.ones(3, 4, 8, 8), zeros) == 0.5 * 256).all()  # 1/2 mean^2 per number
    vae, images = VAE(), make_scenes(4, seed=3).images
    torch.manual_seed(0)
    reconstruction, mean, logvar = vae(images)
    expected = ((reconstruction - images) ** 2).mean() + 0.1 * kl_divergence(mean, logvar).mean() / 3072
    torch.manual_seed(0)
    torch.testing.assert_close(vae_loss(vae, images, kl_weight=0.1), expected)


def test_latent_scale_makes_the_latents_unit_variance_and_travels_with_the_weights():
    vae, images = VAE().eval(), make_scenes(200, seed=4).images
    scale = vae.set_latent_scale(images)
    assert scale == pytest.approx(1 / vae.encode(images)[0].std().item(), rel=1e-4)
    assert vae.to_latent(images).std().item() == pytest.approx(1.0, rel=1e-3)
    assert "latent_scale" in vae.state_dict()
    torch.testing.assert_close(vae.from_latent(vae.to_latent(images)), vae.reconstruct(images))


@pytest.mark.parametrize("space, shape", [("latent", (4, 8, 8)), ("pixel", (3, 32, 32))])
def test_the_same_unet_predicts_noise_of_its_input_shape_in_latent_and_pixel_space(text, space, shape):
    recipe = UNetRecipe() if space == "latent" else UNetRecipe.pixel()
    model = STORE.untrained(recipe).train()
    context = text(["a small red circle", "a large blue square left of a small green triangle", ""])
    noise = model(torch.randn(3, *shape), torch.tensor([0, 500, 999]), context)
    assert noise.shape == (3, *shape)
    assert noise.abs().max() == 0  # the last convolution starts at zero: the first prediction is 'no noise'
    params = count_parameters(model)
    assert (0.8e6 < params < 1.6e6) if space == "latent" else (0.5e6 < params < 1.2e6)  # measured 1.38M and 0.83M


def test_unet_rejects_bad_input_with_clear_messages(text):
    model, context = UNet(4, (16, 32), context_dim=64), text(["a small red circle"] * 2)
    x, t = torch.randn(2, 4, 8, 8), torch.tensor([1, 2])
    with pytest.raises(ValueError, match="x_t"):
        model(torch.randn(2, 3, 8, 8), t, context)
    with pytest.raises(ValueError, match="int64"):
        model(x, t.float(), context)
    with pytest.raises(ValueError, match="0..999"):
        model(x, torch.tensor([1, 1000]), context)
    with pytest.raises(ValueError, match="context"):
        model(x, t, context[:, :, :32])
    with pytest.raises(ValueError, match="context_mask"):
        model(x, t, context, context_mask=torch.ones(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="multiples of 8"):
        UNet(4, (12, 24))


def test_cross_attention_weights_are_per_block_per_head_and_sum_to_one_over_the_tokens(text):
    model = STORE.untrained(UNetRecipe()).train()
    for p in model.parameters():  # random weights everywhere, so the maps are not uniform
        torch.nn.init.normal_(p, std=0.2)
    prompts = ["a small red circle", "a large blue square left of a small green triangle"]
    context = text(prompts)  # (2, 16, 64)
    _, maps = model(torch.randn(2, 4, 8, 8), torch.tensor([10, 700]), context, return_attention=True)
    assert [m.shape for m in maps] == [(2, 4, 64, 16), (2, 4, 16, 16), (2, 4, 16, 16), (2, 4, 16, 16), (2, 4, 64, 16)]
    for weights in maps:  # (B, heads, H*W, L): every pixel of every head spreads one unit of attention over tokens
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))
    _, mask = text.tokenize(prompts)  # (2, 16), True on the 5 and 11 real tokens
    noise_masked, masked = model(torch.randn(2, 4, 8, 8), torch.tensor([10, 700]), context, context_mask=mask,
                                 return_attention=True)
    for weights in masked:
        assert (weights[0, :, :, 5:] == 0).all() and (weights[1, :, :, 11:] == 0).all()  # padding: exactly zero
        assert (weights[0, :, :, :5] > 0).all()
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))
    with torch.no_grad():  # without return_attention: the fused kernel, the same noise (what sampling runs)
        x, t = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0)), torch.tensor([10, 700])
        fused = model(x, t, context, context_mask=mask)
        explicit, _ = model(x, t, context, context_mask=mask, return_attention=True)
    torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=0)


def test_padding_the_text_more_changes_nothing_when_it_is_masked(text):
    model = STORE.untrained(UNetRecipe()).train()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.2)
    context, mask = text(["a small red circle"]), text.tokenize(["a small red circle"])[1]
    x, t = torch.randn(1, 4, 8, 8), torch.tensor([300])
    short = model(x, t, context[:, :5])  # only the real tokens
    torch.testing.assert_close(model(x, t, context, context_mask=mask), short)
    assert not torch.allclose(model(x, t, context), short)  # unmasked, the padding's states are read too (as in SD)


def test_text_encoder_pads_to_max_len_and_the_null_context_is_the_empty_prompt(text):
    context = text(["a small red circle"])
    assert context.shape == (1, 16, 64) and text.null_context().shape == (1, 16, 64)
    assert text.token_names("a small red circle") == ["a", "small", "red", "circle", "<eos>"]
    causal = text(["a small red square"])  # the encoder is causal: words before the change keep their states
    torch.testing.assert_close(causal[0, :3], context[0, :3])
    assert not torch.allclose(causal[0, 3], context[0, 3])
    with pytest.raises(ValueError, match="more than"):
        text([" ".join(["red"] * 20)])


def test_a_few_training_steps_of_the_diffusion_loss_lower_it(text):
    torch.manual_seed(0)
    model = UNet(4, (16, 32), context_dim=64, n_heads=2)
    x0 = torch.randn(64, 4, 8, 8) * 0.1 + torch.linspace(-1, 1, 8)  # latents with a simple structure
    context, null, schedule = text(["a small red circle"]).expand(64, -1, -1), text.null_context(), linear_schedule()

    def loss(m, x, c):
        return diffusion_loss(m, x, c, schedule, null_context=null)

    torch.manual_seed(1)
    before = torch.stack([loss(model, x0, context) for _ in range(5)]).mean()
    train(model, (x0, context), loss, epochs=30, batch_size=32, lr=3e-3, progress=False)
    torch.manual_seed(1)
    assert torch.stack([loss(model, x0, context) for _ in range(5)]).mean() < 0.8 * before


def test_pipeline_generates_images_of_the_right_shape_from_untrained_parts(text):
    sd = MiniStableDiffusion(STORE.untrained(UNetRecipe()).train(), text, VAE().eval(), linear_schedule())
    images = sd.generate(["a small red circle", "a large blue square"], steps=3)
    assert images.shape == (2, 3, 32, 32) and 0 <= images.min() and images.max() <= 1
    torch.testing.assert_close(sd.generate(["a small red circle"], steps=3, seed=5),
                               sd.generate(["a small red circle"], steps=3, seed=5))  # DDIM + seed: repeatable
    maps = sd.cross_attention_maps("a small red circle", steps=3)
    assert maps.tokens == ["a", "small", "red", "circle", "<eos>"] and maps.maps.shape == (5, 4, 4)  # the deepest
    assert sd.cross_attention_maps("a small red circle", steps=3, level=0).maps.shape == (5, 8, 8)
    assert maps.image.shape == (3, 32, 32)
    frames = sd.trajectory("a small red circle", steps=3)
    assert frames.shape == (4, 3, 32, 32)  # x_T, then one frame per step
    torch.testing.assert_close(frames[-1], sd.generate(["a small red circle"], steps=3)[0])
    redrawn = sd.img2img(make_scenes(2, seed=1).images, ["a small red circle"] * 2, strength=0.5, steps=4)
    assert redrawn.shape == (2, 3, 32, 32)
    masks = torch.zeros(2, 1, 32, 32, dtype=torch.bool)
    masks[..., :, 16:] = True
    assert sd.inpaint(make_scenes(2, seed=1).images, masks, ["a small red circle"] * 2, steps=3).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="masks"):
        sd.inpaint(make_scenes(2, seed=1).images, masks.float(), ["a small red circle"] * 2, steps=3)
    with pytest.raises(ValueError, match="sampler"):
        sd.generate(["a small red circle"], sampler="euler")
    with pytest.raises(ValueError, match="list of prompts"):
        sd.generate("a small red circle")
    with pytest.raises(ValueError, match="channels"):
        MiniStableDiffusion(STORE.untrained(UNetRecipe.pixel()).train(), text, VAE(), linear_schedule())


def test_blur_and_noise_degrade_as_asked():
    images = make_scenes(4, seed=5).images
    torch.testing.assert_close(gaussian_blur(images, 0.0), images)
    blurred = gaussian_blur(images, 1.5)
    torch.testing.assert_close(blurred.mean((2, 3)), images.mean((2, 3)), atol=0.02, rtol=0)  # blur moves, keeps
    assert (blurred.diff(dim=-1).abs().amax((1, 2, 3)) < images.diff(dim=-1).abs().amax((1, 2, 3))).all()
    per_image = gaussian_blur(images, torch.tensor([0.0, 0.0, 1.5, 1.5]))
    torch.testing.assert_close(per_image[:2], images[:2])
    torch.testing.assert_close(per_image[2:], blurred[2:])
    noisy = add_gaussian_noise(torch.full((2, 3, 32, 32), 0.5), 0.1, torch.Generator().manual_seed(0))
    assert noisy.std().item() == pytest.approx(0.1, rel=0.05)
    mixed = degrade(images, 1 - images, generator=torch.Generator().manual_seed(0))
    assert mixed.shape == images.shape and 0 <= mixed.min() and mixed.max() <= 1


def test_judge_heads_labels_and_prompts():
    scenes = make_scenes(8, seed=6, n_objects=1)
    colour_logits, shape_logits = Judge()(scenes.images)
    assert colour_logits.shape == (8, 6) and shape_logits.shape == (8, 3)
    colours, shapes = scene_labels(scenes)
    assert scenes.objects[0][0].name == f"{('red', 'green', 'blue', 'yellow', 'purple', 'orange')[colours[0]]} " \
                                        f"{('circle', 'square', 'triangle')[shapes[0]]}"
    assert parse_prompt("a large purple triangle") == ("purple", "triangle")
    with pytest.raises(ValueError, match="one colour and one shape"):
        parse_prompt("a small red circle left of a large blue square")
    with pytest.raises(ValueError, match="one-object"):
        scene_labels(make_scenes(2, seed=6, n_objects=2))
    assert len(single_object_prompts()) == 36 and len(set(single_object_prompts(3))) == 36
    judge = Judge()
    assert judge.faithfulness(scenes.images, [s.describe() for (s,) in scenes.objects]).keys() == {"colour", "shape",
                                                                                                  "both"}


def test_the_shipped_judge_reads_blurred_noised_and_reconstructed_scenes(shipped_store):
    """Floors a little under what the shipped judge measured (see JUDGE_FLOORS); never trains here."""
    from course_lib.recipes.diffusion import JudgeRecipe, VAERecipe, judge_scenes

    judge = shipped_store.load(JudgeRecipe())
    assert judge.source == Source.SHIPPED
    autoencoder = shipped_store.load(VAERecipe()).model
    scenes = judge_scenes(JudgeRecipe(), "test", 1000)
    with torch.no_grad():
        views = {"clean": scenes.images, "blur": gaussian_blur(scenes.images, 1.0),
                 "noise": add_gaussian_noise(scenes.images, 0.1, torch.Generator().manual_seed(0)),
                 "reconstruction": autoencoder.reconstruct(scenes.images)}
    for view, images in views.items():
        accuracy = judge.model.accuracy(images, scenes)
        assert accuracy["both"] >= JUDGE_FLOORS[view], (view, accuracy)
        assert accuracy["colour"] >= 0.99, (view, accuracy)  # colour survives every degradation


def test_the_text_encoder_freezes_its_own_copy_not_the_callers_clip():
    from course_lib.models.clip import MiniCLIP
    from course_lib.stable_diffusion import TextEncoder

    clip = MiniCLIP(vocab_size=20, max_len=8)
    clip.train()
    encoder = TextEncoder(clip)
    assert clip.training and all(p.requires_grad for p in clip.parameters())  # as the caller left it
    assert not encoder.transformer.training and not any(p.requires_grad for p in encoder.transformer.parameters())
    torch.testing.assert_close(encoder.transformer.embed.weight, clip.text_encoder.embed.weight)


def test_the_pipeline_imports_no_recipe_module():
    """stable_diffusion.py is the pipeline: models, schedule, tokenizer; which weights to load is the recipes' job."""
    import subprocess
    import sys

    code = ("import sys, course_lib.stable_diffusion; "
            "print(sorted(m for m in sys.modules if m.startswith('course_lib.recipes')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_kl_term_is_torch_distributions_and_the_reparameterised_sample_passes_gradients():
    mu, logvar = torch.randn(3, 4, 2, 2), 3 * torch.randn(3, 4, 2, 2)
    posterior = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    expected = torch.distributions.kl_divergence(posterior, torch.distributions.Normal(0.0, 1.0)).flatten(1).sum(1)
    torch.testing.assert_close(kl_divergence(mu, logvar), expected, rtol=1e-5, atol=1e-4)
    mu, logvar = mu.requires_grad_(), logvar.requires_grad_()
    z = reparameterise(mu, logvar, torch.Generator().manual_seed(0))
    assert torch.equal(z, reparameterise(mu, logvar, torch.Generator().manual_seed(0)))  # seeded: repeatable
    z.sum().backward()
    torch.testing.assert_close(mu.grad, torch.ones_like(mu))
    torch.testing.assert_close(logvar.grad, (z - mu).detach() / 2)
    big = reparameterise(torch.full((20000,), 2.0), torch.full((20000,), -2.0), torch.Generator().manual_seed(1))
    assert abs(big.mean() - 2.0) < 0.02 and abs(big.std() - (-1.0 + 0 * big[0]).exp()) < 0.01  # sigma = e^-1


def test_latent_statistics_of_an_untrained_vae_and_bad_arguments():
    from course_lib.vae_metrics import latent_statistics

    stats = latent_statistics(VAE().eval(), make_scenes(20, seed=6).images, top=5)
    assert stats.numbers == 256 and stats.top == 5 and 0 < stats.top_share <= 1
    assert stats.kl_per_number >= 0 and stats.posterior_std > 0 and stats.variance_range[0] <= stats.variance_range[1]
    with pytest.raises(ValueError, match="top"):
        latent_statistics(VAE().eval(), make_scenes(20, seed=6).images, top=300)


def test_the_unet_drawing_reads_its_levels_widths_and_attention_from_the_model():
    from matplotlib import pyplot as plt

    from course_lib.unet_diagram import draw_unet, unet_levels

    unet = UNet(4, (16, 24, 32), 12, 2, attention=(False, True, True))
    assert unet_levels(unet) == [(16, False), (24, True), (32, True)]
    fig = draw_unet(unet, size=16, text_shape=(7, 12))
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert {"down: 16 ch, 16x16", "up: 24 ch, 8x8", "middle: 32 ch, 4x4"} <= set(texts)
    assert sum(t.startswith("skip:") for t in texts) == 3 and texts.count("cross-attn") == 2 * 2 + 1
    assert texts.count("t") == 3 * 2 + 2 + 1 and texts.count("text") == 2 * 2 + 1 + 1  # ResBlocks, attention, legend
    assert any("7 token states x 12" in t for t in texts)
    plt.close(fig)
    with pytest.raises(TypeError, match="UNet"):
        draw_unet(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="divisible"):
        draw_unet(unet, size=6)
