"""A real Stable Diffusion through hub.load_hf_stable_diffusion, offline: a tiny random pipeline saved, loaded back.

The pipeline is Stable Diffusion's architecture in miniature (a U-Net with cross-attention at two resolutions, a
two-block VAE, a two-layer CLIP text encoder with a BPE of a few words), so every path of the adapter runs in seconds.
"""

import pytest
import torch
from torch.nn import functional as F

transformers = pytest.importorskip("transformers")
diffusers = pytest.importorskip("diffusers", reason="diffusers is part of the [hf] extra that `make test` installs")

from course_lib import hub  # noqa: E402
from tiny_bpe import write_bpe_files  # noqa: E402


WORDS = ["a", "red", "circle", "blue", "square", "photo", "of"]
MAX_TOKENS = 16  # the tokenizer pads every prompt to this many tokens (Stable Diffusion: 77)


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    """(folder, pipeline): a random Stable Diffusion saved with save_pretrained (a PNDM scheduler, as SD 1.x ships)."""
    root = tmp_path_factory.mktemp("hf_sd")
    vocab = write_bpe_files(root / "bpe", WORDS)
    tokenizer = transformers.CLIPTokenizer.from_pretrained(root / "bpe", model_max_length=MAX_TOKENS)
    torch.manual_seed(0)
    text_encoder = transformers.CLIPTextModel(transformers.CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        max_position_embeddings=MAX_TOKENS, bos_token_id=0, eos_token_id=1, pad_token_id=1)).eval()
    unet = diffusers.UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32, attention_head_dim=8)
    vae = diffusers.AutoencoderKL(
        in_channels=3, out_channels=3, block_out_channels=(32, 64), latent_channels=4,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"))
    scheduler = diffusers.PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                        skip_prk_steps=True, steps_offset=1)
    pipe = diffusers.StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                             scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                             requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    folder = root / "tiny_sd"
    pipe.save_pretrained(folder)
    return folder, pipe


@pytest.fixture(scope="module")
def sd(tiny_sd):
    return hub.load_hf_stable_diffusion(tiny_sd[0])


def test_generate_gives_images_in_0_1_with_the_ddim_sampler(tiny_sd, sd):
    folder, pipe = tiny_sd
    assert isinstance(sd.pipe.scheduler, diffusers.DDIMScheduler)  # swapped in for the shipped PNDM
    assert sd.pipe.scheduler.config.beta_schedule == "scaled_linear" and sd.pipe.scheduler.config.beta_end == 0.012
    prompts = ["a red circle", "a photo of a blue square"]
    images = sd.generate(prompts, steps=3)
    assert images.shape == (2, 3, 16, 16) and images.dtype == torch.float32 and images.device.type == "cpu"
    assert images.min() >= 0 and images.max() <= 1 and images.std() > 0
    assert torch.equal(sd.generate(prompts, steps=3), images), "the same seed gives the same images"
    assert not torch.allclose(sd.generate(prompts, steps=3, seed=1), images), "another seed, other images"
    one, other = sd.generate(["a red circle"], steps=3), sd.generate(["a blue square"], steps=3)
    assert (one - other).abs().max() > 1e-4, "the same noise with another prompt gives another image"
    torch.testing.assert_close(one[0], images[0])  # the first image's noise does not depend on the batch
    assert sd.generate(["a red circle"], steps=3, height=16, width=24).shape == (1, 3, 16, 24)

    # The loaded pipeline is the saved one: the in-memory pipeline with the same DDIM gives the same image.
    pipe.scheduler = diffusers.DDIMScheduler.from_config(sd.pipe.scheduler.config)
    expected = pipe(["a red circle"], num_inference_steps=3, guidance_scale=7.5, output_type="pt",
                    generator=torch.Generator().manual_seed(0)).images
    torch.testing.assert_close(one, expected)


def test_cross_attention_maps_are_softmax_probabilities_per_latent_pixel(sd):
    before = {name: type(p) for name, p in sd.pipe.unet.attn_processors.items()}
    captured = []  # (hidden_states, encoder_hidden_states) of every cross-attention call, for a reference below

    def capture(module, args, kwargs):
        captured.append((module, args[0], kwargs["encoder_hidden_states"]))

    hooks = [m.register_forward_pre_hook(capture, with_kwargs=True) for name, m in sd.pipe.unet.named_modules()
             if name.endswith("attn2")]
    try:
        result = sd.cross_attention_maps("a red circle", steps=3)
    finally:
        for hook in hooks:
            hook.remove()
    tokens, maps, image = result
    assert tokens[:5] == ["<|startoftext|>", "a</w>", "red</w>", "circle</w>", "<|endoftext|>"]
    assert len(tokens) == MAX_TOKENS and maps.shape == (MAX_TOKENS, 8, 8)  # (tokens, latent h, latent w)
    assert (maps >= 0).all()
    torch.testing.assert_close(maps.sum(dim=0), torch.ones(8, 8))  # each latent pixel shares 1 among the tokens
    assert {name: type(p) for name, p in sd.pipe.unet.attn_processors.items()} == before, "processors restored"
    # recording changes nothing: the plain attention gives the image of the default processor (SDPA)
    torch.testing.assert_close(image, sd.generate(["a red circle"], steps=3)[0], atol=1e-4, rtol=0)

    # A reference from the captured inputs: softmax(Q K^T / sqrt(d)) of the prompt's half (the second: guidance puts
    # the unconditional first), averaged over heads, on the layer's grid, resized to 8x8, averaged over calls.
    assert len(hooks) == 7 and len(captured) == 3 * 7  # 3 steps x 7 cross-attention layers (2 down, 1 middle, 4 up)
    expected = torch.zeros(MAX_TOKENS, 8, 8)
    with torch.no_grad():
        for attn, hidden, context in captured:
            q, k = attn.to_q(hidden[1]), attn.to_k(context[1])  # (L_q, C), (L, C)
            heads, d = attn.heads, q.shape[-1] // attn.heads
            q, k = q.view(-1, heads, d).transpose(0, 1), k.view(-1, heads, d).transpose(0, 1)  # (heads, L_q, d)
            probs = torch.softmax(q @ k.transpose(1, 2) / d ** 0.5, dim=-1).mean(dim=0)  # (L_q, L)
            side = int(probs.shape[0] ** 0.5)
            grid = probs.T.reshape(1, MAX_TOKENS, side, side)
            expected += F.interpolate(grid, size=(8, 8), mode="bilinear", align_corners=False)[0] / len(captured)
    torch.testing.assert_close(maps, expected, atol=1e-5, rtol=1e-4)

    wide = sd.cross_attention_maps("a blue square", steps=2, guidance_scale=1.0, height=16, width=24)  # no guidance
    assert wide.maps.shape == (MAX_TOKENS, 8, 12) and wide.image.shape == (3, 16, 24)
    torch.testing.assert_close(wide.maps.sum(dim=0), torch.ones(8, 12))


def test_bad_inputs_and_missing_folders_raise_clear_errors(sd, tmp_path):
    with pytest.raises(ValueError, match="non-empty list"):
        sd.generate("a red circle")
    with pytest.raises(ValueError, match="one prompt"):
        sd.cross_attention_maps(["a red circle"])
    with pytest.raises(FileNotFoundError, match="No folder"):
        hub.load_hf_stable_diffusion(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="No folder"):
        hub.load_hf_stable_diffusion(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="not a diffusers pipeline folder"):
        hub.load_hf_stable_diffusion(tmp_path)
