"""The trained models the lectures use, by name: loaded from a shipped checkpoint, else trained.

`scripts/train_checkpoints.py` makes the shipped checkpoints with these same
functions, so loading and training from scratch give the same model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch

from course_lib.checkpoints import CACHE_DIR, SHIPPED_DIR, Trained, load_or_train
from course_lib.data import ImageDataset
from course_lib.data.sequences import VOCAB_SIZE, repeat_task, reversal_task
from course_lib.device import get_device, seeded
from course_lib.models import ConvAutoencoder, make_autoencoder
from course_lib.models.transformer import TinyTransformer, per_position_loss
from course_lib.noise import NOISES, denoising_loss
from course_lib.train import LossFn, reconstruction_loss, train

LECTURE1_LATENT_SIZES = (2, 4, 8, 16, 32)  # the latent sizes lecture 1 compares (and ships)


@dataclass(frozen=True)
class AutoencoderRecipe:
    """Everything that decides what an autoencoder learns (lecture 1's defaults)."""

    kind: str  # 'linear' or 'mlp'
    latent_dim: int
    epochs: int
    lr: float
    batch_size: int = 64
    seed: int = 0

    @classmethod
    def default(cls, kind: str, latent_dim: int, epochs: int | None = None) -> "AutoencoderRecipe":
        """Lecture 1's settings: a linear AE needs a larger step size to converge to PCA."""
        lr = 1e-2 if kind == "linear" else 1e-3
        default_epochs = 200 if kind == "linear" else 100
        return cls(kind, latent_dim, epochs if epochs is not None else default_epochs, lr)


def autoencoder(
    recipe: AutoencoderRecipe,
    data: ImageDataset,
    *,
    device: str | torch.device | None = None,
    progress: bool = True,
    directories: tuple[Path, ...] = (SHIPPED_DIR, CACHE_DIR),
    save_to: Path | None = CACHE_DIR,
) -> Trained:
    """An autoencoder trained on `data.x_train` by `recipe`: (model, 'loaded <file>' or 'trained', loss history)."""
    return _load_or_train_on(
        data, recipe, f"{data.name}_{recipe.kind}_ae_k{recipe.latent_dim}",
        lambda: make_autoencoder(recipe.kind, data.n_features, recipe.latent_dim), reconstruction_loss,
        device=device, progress=progress, directories=directories, save_to=save_to)


LECTURE2_NOISE_LEVELS = {"gaussian": 0.3, "salt_and_pepper": 0.2, "block": 0.25}  # the levels lecture 2 trains at


@dataclass(frozen=True)
class DenoiserRecipe:
    """Everything that decides what lecture 2's convolutional autoencoder learns; noise 'none' = a plain AE (copy x)."""

    noise: str  # 'none', or a name in course_lib.noise.NOISES: the corruption applied to the input while training
    level: float = 0.0  # the noise level it is trained at
    epochs: int = 50
    lr: float = 3e-3
    channels: tuple[int, ...] = (16, 32)
    batch_size: int = 64
    seed: int = 0


def denoiser(
    recipe: DenoiserRecipe,
    data: ImageDataset,
    *,
    device: str | torch.device | None = None,
    progress: bool = True,
    directories: tuple[Path, ...] = (SHIPPED_DIR, CACHE_DIR),
    save_to: Path | None = CACHE_DIR,
) -> Trained:
    """A ConvAutoencoder trained on `data.x_train` by `recipe`: to copy (noise 'none') or to denoise."""
    if recipe.noise != "none" and recipe.noise not in NOISES:
        raise ValueError(f"Unknown noise {recipe.noise!r}: choose 'none' or one of {sorted(NOISES)}.")
    name = f"{data.name}_conv_ae" if recipe.noise == "none" else f"{data.name}_conv_dae_{recipe.noise}_{recipe.level:g}"
    loss_fn = reconstruction_loss if recipe.noise == "none" else denoising_loss(recipe.noise, recipe.level, recipe.seed)
    return _load_or_train_on(data, recipe, name, lambda: ConvAutoencoder(data.image_shape, recipe.channels), loss_fn,
                             device=device, progress=progress, directories=directories, save_to=save_to)


def _load_or_train_on(
    data: ImageDataset,
    recipe: AutoencoderRecipe | DenoiserRecipe,
    name: str,
    build: Callable[[], torch.nn.Module],
    loss_fn: LossFn,
    *,
    device: str | torch.device | None,
    progress: bool,
    directories: tuple[Path, ...],
    save_to: Path | None,
) -> Trained:
    """Build the model (seeded), then load the checkpoint of exactly this recipe and data, or train on data.x_train."""
    with seeded(recipe.seed):  # the initial weights are part of the recipe
        model = build().to(get_device(device))
        config = {"dataset": data.name, "n_train": len(data.x_train), **asdict(recipe)}

        def fit(m: torch.nn.Module) -> list[float]:
            return train(m, data.x_train, loss_fn, epochs=recipe.epochs, batch_size=recipe.batch_size, lr=recipe.lr,
                         device=device, seed=recipe.seed, progress=progress)

        trained = load_or_train(model, name, config, fit, directories=directories, save_to=save_to)
        trained.model.eval()
        return trained


SEQUENCE_TASKS = {"reversal": (reversal_task, False), "repeat": (repeat_task, True)}  # task -> (generator, causal)


@dataclass(frozen=True)
class TransformerRecipe:
    """Lecture 4's tiny transformers: an encoder that reverses digits, a causal decoder that repeats them."""

    task: str  # 'reversal' (bidirectional encoder) or 'repeat' (causal, next-token prediction)
    length: int = 8
    n_train: int = 4000
    d_model: int = 32
    n_heads: int = 2
    n_layers: int = 2
    epochs: int = 15
    lr: float = 3e-3
    batch_size: int = 64
    seed: int = 0


def tiny_transformer(
    recipe: TransformerRecipe,
    *,
    device: str | torch.device | None = None,
    progress: bool = True,
    directories: tuple[Path, ...] = (SHIPPED_DIR, CACHE_DIR),
    save_to: Path | None = CACHE_DIR,
) -> Trained:
    """A TinyTransformer trained on `recipe.task` (seconds on a CPU), or its saved checkpoint."""
    if recipe.task not in SEQUENCE_TASKS:
        raise ValueError(f"Unknown task {recipe.task!r}: choose one of {sorted(SEQUENCE_TASKS)}.")
    make_task, causal = SEQUENCE_TASKS[recipe.task]
    with seeded(recipe.seed):
        model = TinyTransformer(VOCAB_SIZE, d_model=recipe.d_model, n_heads=recipe.n_heads, n_layers=recipe.n_layers,
                                max_len=2 * recipe.length + 1, causal=causal).to(get_device(device))

        def fit(m: torch.nn.Module) -> list[float]:
            data = make_task(recipe.n_train, recipe.length, seed=recipe.seed)
            return train(m, data, per_position_loss, epochs=recipe.epochs, batch_size=recipe.batch_size, lr=recipe.lr,
                         device=device, seed=recipe.seed, progress=progress)

        trained = load_or_train(model, f"{recipe.task}_transformer", asdict(recipe), fit, directories=directories,
                                save_to=save_to)
        trained.model.eval()
        return trained
