"""Lecture 6's mini Stable Diffusion on scenes: recipes and loaders (the pipeline is course_lib.stable_diffusion).

    sd = mini_stable_diffusion()                      # shipped VAE + latent U-Net + lecture 5's frozen text encoder
    images = sd.generate(["a large red circle"] * 4)  # (4, 3, 32, 32) in [0, 1]: DDIM-25, guidance 3
    judge = shape_judge().model                       # reads colour and shape, to score faithfulness
    judge.prompt_faithfulness(images, ["a large red circle"] * 4)

The pieces, as in Stable Diffusion (Rombach et al. 2022):
- text encoder: MiniCLIP's causal transformer (lecture 5), frozen; the U-Net reads all its token states, every
  prompt padded with <pad> to the encoder's max_len, as SD pads to CLIP's 77 tokens;
- the 'no text' input of classifier-free guidance is the encoding of the empty caption, as in SD;
- VAE: 32x32x3 scenes <-> 8x8x4 latents (course_lib.models.vae), scaled by its latent_scale;
- U-Net (course_lib.models.unet) trained to predict noise (course_lib.diffusion) on the latents, or on the
  pixels for the 'same compute: pixels vs latents' comparison.
`scripts/train_diffusion_checkpoints.py` makes the shipped checkpoints with these same functions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from course_lib.checkpoints import CACHE_DIR, SHIPPED_DIR, Trained, load_or_train
from course_lib.data.shapes import COLOURS, SHAPES, SIZES, Scenes, make_scenes
from course_lib.data.splits import split_seed
from course_lib.device import get_device, keeps_random_state, seeded
from course_lib.diffusion import NoiseSchedule, cosine_schedule, diffusion_loss, linear_schedule
from course_lib.judge import Judge, judge_loss, scene_labels
from course_lib.models.unet import UNet
from course_lib.models.vae import VAE, vae_loss
from course_lib.train import train
from course_lib.zoo_clip import CLIPRecipe, mini_clip
from course_lib.stable_diffusion import MiniStableDiffusion, TextEncoder

Directories = tuple[Path, ...]


def single_object_prompts(repeats: int = 1) -> list[str]:
    """Every one-object caption, 'a small red circle' ... 'a large orange triangle' (36), each `repeats` times."""
    return [f"a {size} {colour} {shape}" for colour in COLOURS for shape in SHAPES for size in SIZES
            for _ in range(repeats)]


def _scenes(n: int, n_objects: tuple[int, ...], data_seed: int, split: str) -> Scenes:
    """n scenes of the recipe's data: 'train' (seed data_seed) or 'test' (another seed, never the training scenes)."""
    return make_scenes(n, seed=split_seed(data_seed, split), n_objects=n_objects)


# --- the VAE -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class VAERecipe:
    """What decides what the VAE learns: scenes of one or two objects, 32x32x3 <-> 8x8x4."""

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


def vae_scenes(recipe: VAERecipe, split: str = "train", n: int | None = None) -> Scenes:
    """The VAE's training scenes, or n fresh test scenes."""
    return _scenes(recipe.n_train if n is None else n, recipe.n_objects, recipe.data_seed, split)


def vae(recipe: VAERecipe = VAERecipe(), *, device: str | torch.device | None = None, progress: bool = True,
        directories: Directories = (SHIPPED_DIR, CACHE_DIR), save_to: Path | None = CACHE_DIR) -> Trained:
    """The VAE trained by `recipe`, with its latent_scale measured on its training scenes (stored in the checkpoint)."""
    with seeded(recipe.seed):
        model = VAE(3, recipe.latent_channels, recipe.channels).to(get_device(device))

        def fit(m: VAE) -> list[float]:
            images = vae_scenes(recipe).images
            history = train(m, images, lambda m_, x: vae_loss(m_, x, recipe.kl_weight), epochs=recipe.epochs,
                            batch_size=recipe.batch_size, lr=recipe.lr, device=device, seed=recipe.seed,
                            progress=progress)
            m.set_latent_scale(images)
            return history

        trained = load_or_train(model, "scenes_vae", {"dataset": "shapes", **asdict(recipe)}, fit,
                                directories=directories, save_to=save_to)
        trained.model.eval()
        return trained


# --- the judge ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class JudgeRecipe:
    """What decides what the judge learns: one-object scenes, degraded by blur, noise and the VAE's round trip."""

    n_train: int = 10000
    channels: tuple[int, int, int] = (16, 32, 32)
    width: int = 64
    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 64
    vae: VAERecipe = field(default_factory=VAERecipe)  # whose reconstructions it learns to read
    data_seed: int = 1  # other scenes than the VAE's and the U-Net's
    seed: int = 0


def judge_scenes(recipe: JudgeRecipe, split: str = "train", n: int | None = None) -> Scenes:
    """The judge's one-object training scenes, or n fresh test scenes."""
    return _scenes(recipe.n_train if n is None else n, (1,), recipe.data_seed, split)


def shape_judge(recipe: JudgeRecipe = JudgeRecipe(), *, device: str | torch.device | None = None,
                progress: bool = True, directories: Directories = (SHIPPED_DIR, CACHE_DIR),
                save_to: Path | None = CACHE_DIR) -> Trained:
    """The judge trained by `recipe` (it loads or trains the recipe's VAE first, for the reconstructions)."""
    with seeded(recipe.seed):
        model = Judge(recipe.channels, recipe.width).to(get_device(device))

        def fit(m: Judge) -> list[float]:
            autoencoder = vae(recipe.vae, device=device, progress=progress, directories=directories,
                              save_to=save_to).model
            scenes = judge_scenes(recipe)
            where = autoencoder.latent_scale.device
            with torch.no_grad():
                reconstructions = torch.cat([autoencoder.reconstruct(part.to(where)).cpu()
                                             for part in scenes.images.split(1000)])
            with seeded(recipe.seed):  # the augmentations' random draws are part of the recipe
                return train(m, (scenes.images, reconstructions, *scene_labels(scenes)), judge_loss,
                             epochs=recipe.epochs, batch_size=recipe.batch_size, lr=recipe.lr, device=device,
                             seed=recipe.seed, progress=progress)

        trained = load_or_train(model, "scenes_judge", {"dataset": "shapes", **asdict(recipe)}, fit,
                                directories=directories, save_to=save_to)
        trained.model.eval()
        return trained


# --- the text encoder (TextEncoder itself lives in course_lib.stable_diffusion) --------------------------------------

def text_encoder(clip_recipe: CLIPRecipe = CLIPRecipe(), *, device: str | torch.device | None = None,
                 progress: bool = True, directories: Directories = (SHIPPED_DIR, CACHE_DIR),
                 save_to: Path | None = CACHE_DIR) -> TextEncoder:
    """Lecture 5's trained MiniCLIP (shipped, else trained), its text half frozen."""
    clip = mini_clip(clip_recipe, device=device, progress=progress, directories=directories, save_to=save_to).model
    return TextEncoder(clip)


# --- the U-Net ---------------------------------------------------------------------------------------------------

SCHEDULES = {"linear": linear_schedule, "cosine": cosine_schedule}


@dataclass(frozen=True)
class UNetRecipe:
    """What decides what a noise-predicting U-Net learns: on VAE latents (8x8x4) or on pixels (32x32x3)."""

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


def unet_scenes(recipe: UNetRecipe, split: str = "train", n: int | None = None) -> Scenes:
    """The U-Net's training scenes (images and captions), or n fresh test scenes."""
    return _scenes(recipe.n_train if n is None else n, recipe.n_objects, recipe.data_seed, split)


def build_unet(recipe: UNetRecipe, context_dim: int = 64, device: str | torch.device | None = None) -> UNet:
    """The recipe's U-Net before training (seeded: the initial weights are part of the recipe)."""
    if recipe.space not in ("latent", "pixel"):
        raise ValueError(f"space must be 'latent' or 'pixel', got {recipe.space!r}.")
    if (recipe.space == "latent") != (recipe.vae is not None):
        raise ValueError("A latent U-Net needs a VAE recipe, a pixel U-Net none.")
    with seeded(recipe.seed):
        in_channels = recipe.vae.latent_channels if recipe.vae is not None else 3
        return UNet(in_channels, recipe.channels, context_dim, recipe.n_heads, recipe.attention,
                    recipe.T).to(get_device(device))


def unet(recipe: UNetRecipe = UNetRecipe(), *, device: str | torch.device | None = None, progress: bool = True,
         directories: Directories = (SHIPPED_DIR, CACHE_DIR), save_to: Path | None = CACHE_DIR,
         text: TextEncoder | None = None, autoencoder: VAE | None = None) -> Trained:
    """The U-Net trained by `recipe` with course_lib.diffusion's loss, on top of its frozen text encoder and VAE.

    Pass `text` and `autoencoder` when you have them; otherwise they are loaded (or trained) here.
    """
    kwargs = dict(device=device, progress=progress, directories=directories, save_to=save_to)
    encoder = text or text_encoder(recipe.clip, **kwargs)
    model = build_unet(recipe, encoder.dim, device)

    @keeps_random_state
    def fit(m: UNet) -> list[float]:
        scenes = unet_scenes(recipe)
        frozen_vae = autoencoder or (vae(recipe.vae, **kwargs).model if recipe.vae is not None else None)
        to_model = _to_model_space(frozen_vae)
        x0 = torch.cat([to_model(scenes.images[i:i + 1000]) for i in range(0, len(scenes), 1000)])  # (N, C, h, w)
        captions = sorted(set(scenes.captions))
        index = {c: i for i, c in enumerate(captions)}
        contexts = encoder(captions).to(get_device(device))  # (distinct captions, L, d): the encoder runs once
        which = torch.tensor([index[c] for c in scenes.captions])  # (N,)
        null, schedule = encoder.null_context().to(contexts.device), make_schedule(recipe)

        def loss(model: UNet, x: torch.Tensor, caption: torch.Tensor) -> torch.Tensor:
            return diffusion_loss(model, x, contexts[caption], schedule, p_uncond=recipe.p_uncond, null_context=null)

        with seeded(recipe.seed):  # the steps and noise drawn in training are part of the recipe
            return train(m, (x0, which), loss, epochs=recipe.epochs, batch_size=recipe.batch_size, lr=recipe.lr,
                         device=device, seed=recipe.seed, progress=progress)

    config = {"dataset": "shapes", **asdict(recipe)}
    trained = load_or_train(model, f"scenes_unet_{recipe.space}", config, fit, directories=directories,
                            save_to=save_to)
    trained.model.eval()
    return trained


def make_schedule(recipe: UNetRecipe) -> NoiseSchedule:
    """The recipe's noise schedule ('linear' or 'cosine', T steps)."""
    if recipe.schedule not in SCHEDULES:
        raise ValueError(f"Unknown schedule {recipe.schedule!r}: choose one of {sorted(SCHEDULES)}.")
    return SCHEDULES[recipe.schedule](recipe.T)


def _to_model_space(autoencoder: VAE | None):
    """images (B, 3, 32, 32) in [0, 1] -> what the U-Net denoises: scaled latents, or pixels in [-1, 1]."""
    @torch.no_grad()
    def to_model(images: torch.Tensor) -> torch.Tensor:
        if autoencoder is None:
            return images * 2 - 1  # pixels in [-1, 1], as DDPM
        return autoencoder.to_latent(images.to(autoencoder.latent_scale.device)).cpu()
    return to_model


def mini_stable_diffusion(recipe: UNetRecipe = UNetRecipe(), *, device: str | torch.device | None = None,
                          progress: bool = True, directories: Directories = (SHIPPED_DIR, CACHE_DIR),
                          save_to: Path | None = CACHE_DIR) -> MiniStableDiffusion:
    """The pipeline of `recipe`'s U-Net (latent or pixel), its VAE and lecture 5's text encoder, loaded or trained."""
    kwargs = dict(device=device, progress=progress, directories=directories, save_to=save_to)
    text = text_encoder(recipe.clip, **kwargs)  # each part is loaded (or trained) once
    autoencoder = vae(recipe.vae, **kwargs).model if recipe.vae is not None else None
    model = unet(recipe, text=text, autoencoder=autoencoder, **kwargs).model
    return MiniStableDiffusion(model, text, autoencoder, make_schedule(recipe).to(get_device(device)))
