"""Lecture 6's mini Stable Diffusion pipeline: a frozen text encoder, a U-Net, a VAE decoder and a sampler.

    sd = MiniStableDiffusion(unet, TextEncoder(clip), vae, linear_schedule())
    images = sd.generate(["a large red circle"] * 4)  # (4, 3, 32, 32) in [0, 1]: DDIM-25, guidance 3

`course_lib.recipes.mini_stable_diffusion(UNetRecipe(), store)` builds it from the shipped checkpoints (or trains them).
"""

from __future__ import annotations

import copy
import time
from typing import NamedTuple, Sequence

import torch
from torch.nn import functional as F

from course_lib.data.tokenizer import PAD, Tokenizer, scene_tokenizer
from course_lib.diffusion import NoiseSchedule, ddim_sample, ddim_timesteps, ddpm_sample, img2img
from course_lib.inpainting import inpaint
from course_lib.models.attention import padding_mask
from course_lib.models.clip import MiniCLIP
from course_lib.models.unet import UNet
from course_lib.models.vae import VAE


class TextEncoder:
    """Lecture 5's MiniCLIP text transformer, frozen: prompts -> every token's state (N, max_len, d_model).

    It freezes its own copy of the text transformer: the CLIP passed in keeps its mode and gradients."""

    def __init__(self, clip: MiniCLIP, tokenizer: Tokenizer | None = None):
        self.transformer = copy.deepcopy(clip.text_encoder).eval().requires_grad_(False)
        self.tokenizer = tokenizer or scene_tokenizer()
        self.length, self.dim = clip.max_len, clip.text_encoder.d_model

    def tokenize(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids (N, max_len) padded with <pad>, and the real tokens' mask (N, max_len), words then <eos>."""
        ids, lengths = self.tokenizer.batch(list(prompts))  # (N, L) with L the longest prompt
        if ids.shape[1] > self.length:
            raise ValueError(f"A prompt has {ids.shape[1]} tokens, more than the text encoder's {self.length}.")
        ids = F.pad(ids, (0, self.length - ids.shape[1]), value=PAD)  # (N, max_len), as SD pads to 77
        return ids, padding_mask(lengths, self.length)

    @torch.no_grad()
    def __call__(self, prompts: Sequence[str]) -> torch.Tensor:
        """Prompts -> token states (N, max_len, d_model) on the CPU; the padding's states summarise the prompt too."""
        ids, mask = self.tokenize(prompts)
        device = self.transformer.embed.weight.device
        hidden, _ = self.transformer(ids.to(device), key_padding_mask=mask.to(device))  # causal: word i sees 0..i
        return hidden.cpu()

    def null_context(self) -> torch.Tensor:
        """(1, max_len, d_model): the empty prompt '' (only <eos>, then padding), the 'no text' of guidance."""
        return self([""])

    def token_names(self, prompt: str) -> list[str]:
        """The real tokens of a prompt, e.g. ['a', 'large', 'red', 'circle', '<eos>']."""
        return [self.tokenizer.itos[i] for i in self.tokenizer.encode(prompt)]



class AttentionMaps(NamedTuple):
    """What cross_attention_maps returns: the image, its prompt's real tokens, and where each token was looked at."""

    image: torch.Tensor  # (3, 32, 32)
    tokens: list[str]  # the prompt's words and <eos>
    maps: torch.Tensor  # (tokens, h, w): attention weight each pixel gave each token, averaged over steps and heads


class MiniStableDiffusion:
    """Text encoder + U-Net + VAE decoder + noise schedule: prompts in, 32x32 images out (no VAE: pixel space).

    It samples with the U-Net and VAE it is given, not copies (LoRA fine-tuning changes the U-Net it samples with),
    and so changes them in place: the U-Net goes to eval mode, both to the channels_last memory format."""

    def __init__(self, unet: UNet, text: TextEncoder, autoencoder: VAE | None, schedule: NoiseSchedule):
        expected = autoencoder.latent_channels if autoencoder is not None else 3
        if unet.in_channels != expected:
            source = "the VAE's latents" if autoencoder is not None else "pixels"
            raise ValueError(f"The U-Net denoises {unet.in_channels} channels, but {source} have {expected}.")
        # channels_last: the CPU's convolution kernels (oneDNN) want (N, H, W, C) in memory; the pixel U-Net samples
        # ~1.8x faster with it (benchmarks/README.md), GPUs' too. Same numbers to ~1e-4, so nothing taught changes.
        unet.eval().to(memory_format=torch.channels_last)
        if autoencoder is not None:
            autoencoder.to(memory_format=torch.channels_last)
        self.unet, self.text, self.vae, self.schedule = unet, text, autoencoder, schedule
        self.device = next(unet.parameters()).device
        self.null_context = text.null_context().to(self.device)  # (1, L, d): the empty prompt

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        """(C, h, w) the U-Net denoises: (4, 8, 8) latents, or (3, 32, 32) pixels."""
        return (self.vae.latent_channels, 8, 8) if self.vae is not None else (3, 32, 32)

    @torch.no_grad()
    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """What the sampler ends with (latents or pixels in [-1, 1]) -> images (N, 3, 32, 32) in [0, 1] on the CPU."""
        images = self.vae.from_latent(x.to(self.device)) if self.vae is not None else (x + 1) / 2
        return images.clamp(0.0, 1.0).cpu()

    @torch.no_grad()
    def generate(self, prompts: Sequence[str], steps: int = 25, sampler: str = "ddim", guidance_scale: float = 3.0,
                 seed: int = 0, eta: float = 0.0, batch_size: int = 128, progress: bool = False) -> torch.Tensor:
        """Images (N, 3, 32, 32) in [0, 1] for N prompts: DDIM with `steps` steps, or DDPM with all T."""
        if sampler not in ("ddim", "ddpm"):
            raise ValueError(f"sampler must be 'ddim' or 'ddpm', got {sampler!r}.")
        if isinstance(prompts, str) or len(prompts) == 0:
            raise ValueError("generate() needs a non-empty list of prompts (for one prompt, pass [prompt]).")
        generator = torch.Generator().manual_seed(seed)  # on the CPU: the same seed draws the same images anywhere
        images = []
        for i in range(0, len(prompts), batch_size):
            context = self.text(prompts[i:i + batch_size]).to(self.device)  # (B, L, d)
            shape = (len(context), *self.sample_shape)
            common = dict(null_context=self.null_context, guidance_scale=guidance_scale, generator=generator,
                          progress=progress)
            if sampler == "ddim":
                x = ddim_sample(self.unet, shape, context, self.schedule, steps=steps, eta=eta, **common)
            else:
                x = ddpm_sample(self.unet, shape, context, self.schedule, **common)
            images.append(self.decode(x))
        return torch.cat(images)

    @torch.no_grad()
    def trajectory(self, prompt: str, steps: int = 25, guidance_scale: float = 3.0, seed: int = 0) -> torch.Tensor:
        """(steps + 1, 3, 32, 32): every x_t of one DDIM run, decoded, from pure noise to the image."""
        context = self.text([prompt]).to(self.device)
        _, states = ddim_sample(self.unet, (1, *self.sample_shape), context, self.schedule, steps=steps,
                                null_context=self.null_context, guidance_scale=guidance_scale,
                                generator=torch.Generator().manual_seed(seed), progress=False, return_trajectory=True)
        return self.decode(torch.cat(states))

    @torch.no_grad()
    def img2img(self, images: torch.Tensor, prompts: Sequence[str], strength: float = 0.6, steps: int = 25,
                guidance_scale: float = 3.0, seed: int = 0) -> torch.Tensor:
        """Redraw images (N, 3, 32, 32) after the prompts: noise them to `strength`, then denoise (SDEdit)."""
        if self.vae is not None:
            x0 = self.vae.to_latent(images.to(self.device))
        else:
            x0 = images.to(self.device) * 2 - 1
        x = img2img(self.unet, x0, self.text(prompts).to(self.device), self.schedule, strength=strength, steps=steps,
                    null_context=self.null_context, guidance_scale=guidance_scale,
                    generator=torch.Generator().manual_seed(seed), progress=False)
        return self.decode(x)

    @torch.no_grad()
    def inpaint(self, images: torch.Tensor, masks: torch.Tensor, prompts: Sequence[str], steps: int = 25,
                resample: int = 1, guidance_scale: float = 3.0, seed: int = 0) -> torch.Tensor:
        """Redraw images (N, 3, 32, 32) where masks (N, 1, 32, 32) are True, after the prompts (RePaint, in latents).

        A latent number is redrawn when any pixel it covers (4x4 of them) is masked; the others end equal to the
        original's latents, which the decoder then paints, as in the VAE's reconstruction."""
        if masks.dtype != torch.bool or masks.shape != (len(images), 1, *images.shape[2:]):
            raise ValueError(f"masks must be bool ({len(images)}, 1, {images.shape[2]}, {images.shape[3]}), True "
                             f"where to redraw; got {tuple(masks.shape)} {masks.dtype}.")
        if self.vae is not None:
            x0 = self.vae.to_latent(images.to(self.device))
            masks = F.max_pool2d(masks.float(), images.shape[-1] // x0.shape[-1]) > 0  # (N, 1, 8, 8)
        else:
            x0 = images.to(self.device) * 2 - 1
        x = inpaint(self.unet, x0, masks.to(self.device), self.text(prompts).to(self.device), self.schedule,
                    steps=steps, resample=resample, null_context=self.null_context, guidance_scale=guidance_scale,
                    generator=torch.Generator().manual_seed(seed), progress=False)
        return self.decode(x)

    @torch.no_grad()
    def cross_attention_maps(self, prompt: str, steps: int = 25, guidance_scale: float = 3.0, seed: int = 0,
                             level: int | None = None) -> AttentionMaps:
        """Draw one image, then replay each DDIM step to read where the pixels looked in the prompt.

        The maps average the attention weights over every step and every head of the cross-attention blocks at
        U-Net level `level` (0 = the finest, 8x8 for latents; default the deepest, 4x4, where the middle block
        sits too), as Hertz et al.'s prompt-to-prompt averages its 16x16 maps. A token's map is the share of
        attention each pixel gave it; what the prompt's tokens leave goes to the padding, which, as in Stable
        Diffusion, the U-Net reads too (the causal encoder's padding states summarise the whole prompt).
        """
        level = self.unet.levels - 1 if level is None else level
        context = self.text([prompt]).to(self.device)  # (1, L, d)
        x_final, trajectory = ddim_sample(
            self.unet, (1, *self.sample_shape), context, self.schedule, steps=steps, null_context=self.null_context,
            guidance_scale=guidance_scale, generator=torch.Generator().manual_seed(seed), progress=False,
            return_trajectory=True)
        timesteps = ddim_timesteps(self.schedule.T, steps)
        total, count = 0.0, 0
        for x_t, t in zip(trajectory, timesteps):  # trajectory[i] is the input of step i
            _, maps = self.unet(x_t.to(self.device), torch.tensor([t], device=self.device), context,
                                return_attention=True)
            side = self.sample_shape[1] // 2 ** level
            for weights in maps:  # (1, heads, H*W, L) per block
                if weights.shape[2] == side * side:
                    total, count = total + weights[0].mean(0), count + 1  # (H*W, L), averaged over heads
        if count == 0:
            raise ValueError(f"No cross-attention block works at level {level} of this U-Net.")
        tokens = self.text.token_names(prompt)
        maps = (total / count).T[:len(tokens)].reshape(len(tokens), side, side).cpu()  # (tokens, side, side)
        return AttentionMaps(self.decode(x_final)[0], tokens, maps)




class SamplerTiming(NamedTuple):
    """One sampler's speed and quality: 'DDIM-25', seconds per image, the judge's faithfulness, images drawn."""

    name: str
    seconds_per_image: float
    faithfulness: float
    images: int


SAMPLERS = (("ddpm", 1000), ("ddim", 50), ("ddim", 25), ("ddim", 10))  # lecture 6's comparison


def time_samplers(sd: MiniStableDiffusion, judge, prompts: Sequence[str], ddpm_images: int,
                  samplers: Sequence[tuple[str, int]] = SAMPLERS, guidance_scale: float = 3.0,
                  seed: int = 0) -> list[SamplerTiming]:
    """Draw `prompts` with each sampler (DDPM: an evenly spread `ddpm_images` of them), time it, and judge it."""
    rows = []
    for sampler, steps in samplers:
        n = min(ddpm_images, len(prompts)) if sampler == "ddpm" else len(prompts)
        chosen = list(prompts[::max(1, len(prompts) // n)][:n])
        start = time.perf_counter()
        images = sd.generate(chosen, steps=steps, sampler=sampler, guidance_scale=guidance_scale, seed=seed)
        if sd.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = (time.perf_counter() - start) / len(chosen)
        rows.append(SamplerTiming(f"{sampler.upper()}-{steps}", seconds, judge.prompt_faithfulness(images, chosen),
                                  len(chosen)))
    return rows
