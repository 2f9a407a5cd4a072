"""Lecture 6's mini Stable Diffusion on scenes: the VAE, the judge, the U-Nets, and the pipeline they make.

    store = Store.for_notebook()
    sd = mini_stable_diffusion(UNetRecipe(), store)   # shipped VAE + latent U-Net + lecture 5's frozen text encoder
    images = sd.generate(["a large red circle"] * 4)  # (4, 3, 32, 32) in [0, 1]: DDIM-25, guidance 3
    judge = store.load(JudgeRecipe()).model           # reads colour and shape, to score faithfulness

The pieces, as in Stable Diffusion (Rombach et al. 2022):
- text encoder: MiniCLIP's causal transformer (lecture 5), frozen; the U-Net reads all its token states, every
  prompt padded with <pad> to the encoder's max_len, as SD pads to CLIP's 77 tokens;
- the 'no text' input of classifier-free guidance is the encoding of the empty caption, as in SD;
- VAE: 32x32x3 scenes <-> 8x8x4 latents (course_lib.models.vae), scaled by its latent_scale;
- U-Net (course_lib.models.unet) trained to predict noise (course_lib.diffusion) on the latents, or on the
  pixels for the 'same compute: pixels vs latents' comparison.
The pipeline itself (course_lib.stable_diffusion) knows nothing of recipes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from course_lib.data.shapes import COLOURS, SHAPES, SIZES, Scenes, make_scenes
from course_lib.data.splits import split_seed
from course_lib.device import seeded
from course_lib.diffusion import NoiseSchedule, cosine_schedule, diffusion_loss, linear_schedule
from course_lib.judge import Judge, judge_loss, scene_labels
from course_lib.models.unet import UNet
from course_lib.models.vae import VAE, vae_loss
from course_lib.recipes.base import Recipe
from course_lib.recipes.clip import CLIPRecipe
from course_lib.stable_diffusion import MiniStableDiffusion, TextEncoder
from course_lib.train import train

SCHEDULES = {"linear": linear_schedule, "cosine": cosine_schedule}


def single_object_prompts(repeats: int = 1) -> list[str]:
    """Every one-object caption, 'a small red circle' ... 'a large orange triangle' (36), each `repeats` times."""
    return [f"a {size} {colour} {shape}" for colour in COLOURS for shape in SHAPES for size in SIZES
            for _ in range(repeats)]


def _scenes(n: int, n_objects: tuple[int, ...], data_seed: int, split: str) -> Scenes:
    """n scenes of a recipe's data: 'train' (seed data_seed) or 'test' (another seed, never the training scenes)."""
    return make_scenes(n, seed=split_seed(data_seed, split), n_objects=n_objects)


@dataclass(frozen=True)
class VAERecipe(Recipe):
    """What decides what the VAE learns: scenes of one or two objects, 32x32x3 <-> 8x8x4."""

    family = "scenes_vae"
    model_class = VAE

    n_train: int = 10000
    n_objects: tuple[int, ...] = (1, 2)
    channels: tuple[int, int] = (16, 64)
    latent_channels: int = 4
    kl_weight: float = 1e-3
    epochs: int = 4
    lr: float = 2e-3
    batch_size: int = 64
    data_seed: int = 0
    seed: int = 0

    def build(self, store) -> nn.Module:
        return VAE(3, self.latent_channels, self.channels)

    def fit(self, model: VAE, store) -> list[float]:
        """Train, then measure latent_scale on the training scenes (a buffer: the checkpoint keeps it)."""
        images = vae_scenes(self).images
        history = train(model, images, lambda m, x: vae_loss(m, x, self.kl_weight), epochs=self.epochs,
                        batch_size=self.batch_size, lr=self.lr, device=store.device, seed=self.seed,
                        progress=store.progress)
        model.set_latent_scale(images)
        return history


def vae_scenes(recipe: VAERecipe, split: str = "train", n: int | None = None) -> Scenes:
    """The VAE's training scenes, or n fresh test scenes."""
    return _scenes(recipe.n_train if n is None else n, recipe.n_objects, recipe.data_seed, split)


@dataclass(frozen=True)
class JudgeRecipe(Recipe):
    """What decides what the judge learns: one-object scenes, degraded by blur, noise and the VAE's round trip."""

    family = "scenes_judge"
    model_class = Judge

    n_train: int = 10000
    channels: tuple[int, int, int] = (16, 32, 32)
    width: int = 64
    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 64
    vae: VAERecipe = field(default_factory=VAERecipe)  # whose reconstructions it learns to read
    data_seed: int = 1  # other scenes than the VAE's and the U-Net's
    seed: int = 0

    def build(self, store) -> nn.Module:
        return Judge(self.channels, self.width)

    def fit(self, model: Judge, store) -> list[float]:
        autoencoder = store.load(self.vae).model
        scenes = judge_scenes(self)
        where = autoencoder.latent_scale.device
        with torch.no_grad():
            reconstructions = torch.cat([autoencoder.reconstruct(part.to(where)).cpu()
                                         for part in scenes.images.split(1000)])
        with seeded(self.seed):  # the augmentations' random draws are part of the recipe
            return train(model, (scenes.images, reconstructions, *scene_labels(scenes)), judge_loss,
                         epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, device=store.device,
                         seed=self.seed, progress=store.progress)


def judge_scenes(recipe: JudgeRecipe, split: str = "train", n: int | None = None) -> Scenes:
    """The judge's one-object training scenes, or n fresh test scenes."""
    return _scenes(recipe.n_train if n is None else n, (1,), recipe.data_seed, split)


@dataclass(frozen=True)
class UNetRecipe(Recipe):
    """What decides what a noise-predicting U-Net learns: on VAE latents (8x8x4) or on pixels (32x32x3)."""

    family = "scenes_unet"
    model_class = UNet

    space: str = "latent"  # 'latent' or 'pixel'
    channels: tuple[int, ...] = (64, 96)
    attention: tuple[bool, ...] = (True, True)  # cross-attention at each level (and always in the middle)
    n_heads: int = 4
    n_train: int = 20000
    n_objects: tuple[int, ...] = (1, 2)  # two-object scenes too: 'red' and 'blue' then attend to different places
    schedule: str = "linear"
    T: int = 1000
    p_uncond: float = 0.1  # how often the text is dropped in training, for classifier-free guidance
    epochs: int = 12
    lr: float = 1e-3
    batch_size: int = 128
    vae: VAERecipe | None = field(default_factory=VAERecipe)  # None in pixel space
    clip: CLIPRecipe = field(default_factory=CLIPRecipe)
    data_seed: int = 2
    seed: int = 0

    def __post_init__(self):
        if self.space not in ("latent", "pixel"):
            raise ValueError(f"space must be 'latent' or 'pixel', got {self.space!r}.")
        if (self.space == "latent") != (self.vae is not None):
            raise ValueError("A latent U-Net needs a VAE recipe, a pixel U-Net none.")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"Unknown schedule {self.schedule!r}: choose one of {sorted(SCHEDULES)}.")

    @classmethod
    def pixel(cls, **changes) -> "UNetRecipe":
        """The pixel-space baseline: three levels (32, 16, 8), cross-attention on the two coarser ones.

        Same compute as the latent U-Net: a step on 64 images of 32x32x3 costs 2.9x a latent step on 128 8x8x4
        latents (0.48 s against 0.167 s, one CPU thread, measured side by side), so 2 epochs of batches of 64
        (626 steps) take as long as the latent U-Net's 12 epochs of batches of 128 (1884 steps), about 5 minutes.
        """
        defaults = dict(space="pixel", channels=(32, 64, 64), attention=(False, True, True), vae=None, batch_size=64,
                        epochs=2)
        return cls(**{**defaults, **changes})

    @property
    def stem(self) -> str:
        return f"scenes_unet_{self.space}"

    def build(self, store) -> nn.Module:
        in_channels = self.vae.latent_channels if self.vae is not None else 3
        context_dim = self.clip.d_model  # the width of the text encoder's token states
        return UNet(in_channels, self.channels, context_dim, self.n_heads, self.attention, self.T)

    def fit(self, model: UNet, store) -> list[float]:
        encoder = text_encoder(self.clip, store)
        frozen_vae = store.load(self.vae).model if self.vae is not None else None
        scenes = unet_scenes(self)
        x0 = torch.cat([to_model_space(frozen_vae, scenes.images[i:i + 1000])
                        for i in range(0, len(scenes), 1000)])  # (N, C, h, w)
        captions = sorted(set(scenes.captions))
        index = {c: i for i, c in enumerate(captions)}
        contexts = encoder(captions).to(store.device)  # (distinct captions, L, d): the encoder runs once
        which = torch.tensor([index[c] for c in scenes.captions])  # (N,)
        null, schedule = encoder.null_context().to(store.device), make_schedule(self)

        def loss(m: UNet, x: torch.Tensor, caption: torch.Tensor) -> torch.Tensor:
            return diffusion_loss(m, x, contexts[caption], schedule, p_uncond=self.p_uncond, null_context=null)

        with seeded(self.seed):  # the steps and noise drawn in training are part of the recipe
            return train(model, (x0, which), loss, epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                         device=store.device, seed=self.seed, progress=store.progress)


def unet_scenes(recipe: UNetRecipe, split: str = "train", n: int | None = None) -> Scenes:
    """The U-Net's training scenes (images and captions), or n fresh test scenes."""
    return _scenes(recipe.n_train if n is None else n, recipe.n_objects, recipe.data_seed, split)


def make_schedule(recipe: UNetRecipe) -> NoiseSchedule:
    """The recipe's noise schedule ('linear' or 'cosine', T steps)."""
    return SCHEDULES[recipe.schedule](recipe.T)


@torch.no_grad()
def to_model_space(autoencoder: VAE | None, images: torch.Tensor) -> torch.Tensor:
    """images (B, 3, 32, 32) in [0, 1] -> what the U-Net denoises: scaled latents, or pixels in [-1, 1]."""
    if autoencoder is None:
        return images * 2 - 1  # pixels in [-1, 1], as DDPM
    return autoencoder.to_latent(images.to(autoencoder.latent_scale.device)).cpu()


def text_encoder(clip_recipe: CLIPRecipe, store) -> TextEncoder:
    """Lecture 5's trained MiniCLIP (shipped, else trained), its text half frozen."""
    return TextEncoder(store.load(clip_recipe).model)


def mini_stable_diffusion(recipe: UNetRecipe, store) -> MiniStableDiffusion:
    """The pipeline of `recipe`'s U-Net (latent or pixel), its VAE and lecture 5's text encoder, loaded or trained."""
    text = text_encoder(recipe.clip, store)
    autoencoder = store.load(recipe.vae).model if recipe.vae is not None else None
    unet = store.load(recipe).model
    return MiniStableDiffusion(unet, text, autoencoder, make_schedule(recipe).to(store.device))
