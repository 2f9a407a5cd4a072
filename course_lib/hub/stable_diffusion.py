"""A real Stable Diffusion (diffusers) with the course's DDIM sampler and cross-attention maps (lecture 6)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, NamedTuple, Sequence

from course_lib.hub._common import _diffusers, _model_source


class CrossAttentionMaps(NamedTuple):
    """What `HFStableDiffusion.cross_attention_maps` returns."""

    tokens: list[str]  # the L tokens the text encoder saw, padding included (77 for Stable Diffusion)
    maps: Any  # (L, h, w) on the CPU: the attention each latent pixel pays to each token; sums to 1 over the tokens
    image: Any  # (3, H, W) in [0, 1]: the image generated on the way


@cache
def _recording_processor() -> type:
    """RecordingAttnProcessor, defined on first use so that importing hub never imports diffusers."""
    from diffusers.models.attention_processor import AttnProcessor

    class RecordingAttnProcessor(AttnProcessor):
        """diffusers' plain attention (AttnProcessor); gives softmax(Q K^T / sqrt(d)) (B, heads, L_q, L) to `record`."""

        def __init__(self, record):
            super().__init__()
            self.record = record

        def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None,
                     *args, **kwargs):
            import torch

            residual = hidden_states
            if attn.spatial_norm is not None:
                hidden_states = attn.spatial_norm(hidden_states, temb)
            input_ndim = hidden_states.ndim
            if input_ndim == 4:  # (B, C, H, W) -> (B, H W, C)
                batch, channels, height, width = hidden_states.shape
                hidden_states = hidden_states.view(batch, channels, height * width).transpose(1, 2)
            batch, key_length, _ = (hidden_states if encoder_hidden_states is None else encoder_hidden_states).shape
            attention_mask = attn.prepare_attention_mask(attention_mask, key_length, batch)
            if attn.group_norm is not None:
                hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
            context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
            if encoder_hidden_states is not None and attn.norm_cross:
                context = attn.norm_encoder_hidden_states(context)
            query = attn.head_to_batch_dim(attn.to_q(hidden_states))  # (B heads, L_q, d)
            key = attn.head_to_batch_dim(attn.to_k(context))  # (B heads, L_k, d)
            value = attn.head_to_batch_dim(attn.to_v(context))
            probs = attn.get_attention_scores(query, key, attention_mask)  # softmax(Q K^T / sqrt(d)): (B heads, L_q, L)
            self.record(probs.view(batch, attn.heads, *probs.shape[1:]))
            hidden_states = attn.batch_to_head_dim(torch.bmm(probs, value))
            hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))  # projection, dropout
            if input_ndim == 4:
                hidden_states = hidden_states.transpose(-1, -2).reshape(batch, channels, height, width)
            if attn.residual_connection:
                hidden_states = hidden_states + residual
            return hidden_states / attn.rescale_output_factor

    return RecordingAttnProcessor


class HFStableDiffusion:
    """A diffusers StableDiffusionPipeline with a DDIM scheduler (the course's sampler), behind two methods:

        generate(prompts)             a list of N strings -> images (N, 3, H, W) float in [0, 1] on the CPU
        cross_attention_maps(prompt)  one string -> CrossAttentionMaps(tokens, maps (L, h, w), image)

    The pipeline is `.pipe` (its parts: .pipe.unet, .pipe.vae, .pipe.text_encoder, .pipe.tokenizer, .pipe.scheduler).
    """

    def __init__(self, pipe: Any):
        self.pipe = pipe

    def _size(self, height: int | None, width: int | None) -> tuple[int, int]:
        """(H, W) in pixels: the given ones, or the U-Net's training size as the pipeline's default."""
        sample = self.pipe.unet.config.sample_size
        sample_h, sample_w = (sample, sample) if isinstance(sample, int) else sample
        factor = self.pipe.vae_scale_factor
        return height or sample_h * factor, width or sample_w * factor

    def _run(self, prompts: list[str], steps: int, guidance_scale: float, seed: int, height: int | None,
             width: int | None) -> Any:
        import torch

        height, width = self._size(height, width)
        generator = torch.Generator("cpu").manual_seed(seed)  # CPU noise: the same images on any device
        with torch.no_grad():
            images = self.pipe(prompts, height=height, width=width, num_inference_steps=steps,
                               guidance_scale=guidance_scale, generator=generator, output_type="pt").images
        return images.float().cpu()  # (N, 3, H, W) in [0, 1]

    def generate(self, prompts: Sequence[str], steps: int = 25, guidance_scale: float = 7.5, seed: int = 0,
                 height: int | None = None, width: int | None = None) -> Any:
        """N prompts -> (N, 3, H, W) in [0, 1]: `steps` DDIM steps, classifier-free guidance; `seed` fixes the noise."""
        if isinstance(prompts, str) or len(prompts) == 0:
            raise ValueError("generate() needs a non-empty list of prompts (for one prompt, pass [prompt]).")
        return self._run(list(prompts), steps, guidance_scale, seed, height, width)

    def cross_attention_maps(self, prompt: str, steps: int = 25, guidance_scale: float = 7.5, seed: int = 0,
                             height: int | None = None, width: int | None = None) -> CrossAttentionMaps:
        """Generate one image and record every cross-attention (attn2) layer's softmax(Q K^T / sqrt(d)) on the way.

        Each layer's (L_q, L) probabilities for the prompt (not the unconditional half of guidance) are averaged over
        heads, laid out on the layer's grid, resized bilinearly to the latent's (h, w), then averaged over layers and
        steps.
        """
        from torch.nn import functional as F

        if not isinstance(prompt, str):
            raise ValueError("cross_attention_maps() takes one prompt, a string.")
        height, width = self._size(height, width)
        h, w = height // self.pipe.vae_scale_factor, width // self.pipe.vae_scale_factor  # the latent's grid
        total, count = None, 0

        def record(probs):  # (B, heads, L_q, L): the prompt's row is the last (guidance puts the unconditional first)
            nonlocal total, count
            per_pixel = probs[-1].float().mean(dim=0)  # (L_q, L)
            grid_h, grid_w = h, w
            while grid_h * grid_w > per_pixel.shape[0]:  # each down-sampling halves the grid, rounding up
                grid_h, grid_w = -(-grid_h // 2), -(-grid_w // 2)
            if grid_h * grid_w != per_pixel.shape[0]:
                raise ValueError(f"{per_pixel.shape[0]} queries fit no down-sampled grid of the {h}x{w} latent.")
            maps = per_pixel.T.reshape(1, -1, grid_h, grid_w)  # (1, L, grid_h, grid_w)
            maps = F.interpolate(maps, size=(h, w), mode="bilinear", align_corners=False)[0]  # convex: still sums to 1
            total = maps if total is None else total + maps
            count += 1

        unet = self.pipe.unet
        original = dict(unet.attn_processors)
        recorder = _recording_processor()(record)
        unet.set_attn_processor({name: recorder if name.endswith("attn2.processor") else processor
                                 for name, processor in original.items()})
        try:
            image = self._run([prompt], steps, guidance_scale, seed, height, width)[0]
        finally:
            unet.set_attn_processor(original)
        if count == 0:
            raise ValueError("The U-Net has no cross-attention layer named attn2: nothing was recorded.")
        tokenizer = self.pipe.tokenizer
        ids = tokenizer(prompt, padding="max_length", max_length=tokenizer.model_max_length, truncation=True).input_ids
        return CrossAttentionMaps(tokenizer.convert_ids_to_tokens(ids), (total / count).cpu(), image)


def load_hf_stable_diffusion(name_or_path: str | Path, device: str | None = None,
                             dtype: Any = None) -> HFStableDiffusion:
    """A real Stable Diffusion (diffusers' StableDiffusionPipeline, DDIM scheduler): from a local folder, offline;
    else by Hub id (needs network or a cache).

    A folder is one written by `pipeline.save_pretrained` (model_index.json, unet/, vae/, text_encoder/, tokenizer/,
    scheduler/, ...). On a GPU, dtype=torch.float16 halves the memory. The pipeline's own safety checker, if it ships
    one, is kept.
    """
    source, kwargs = _model_source(name_or_path, "model_index.json", "a diffusers pipeline folder",
                                   "stable-diffusion-v1-5/stable-diffusion-v1-5")
    diffusers = _diffusers()
    try:
        pipe = diffusers.StableDiffusionPipeline.from_pretrained(source, torch_dtype=dtype, **kwargs)
    except OSError as err:
        raise OSError(f"Could not load a Stable Diffusion from {str(name_or_path)!r}: {err}\nWithout network, pass a "
                      "local folder made with save_pretrained.") from None
    pipe.scheduler = diffusers.DDIMScheduler.from_config(pipe.scheduler.config)  # as course_lib.diffusion.ddim_sample
    pipe.set_progress_bar_config(disable=True)
    if device is not None:
        pipe = pipe.to(device)
    return HFStableDiffusion(pipe)
