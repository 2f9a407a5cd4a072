"""Lectures 1 and 2: autoencoders (linear, MLP) and convolutional denoising autoencoders on bundled images."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from course_lib.data import ImageDataset, load_dataset
from course_lib.models import ConvAutoencoder, make_autoencoder
from course_lib.models.autoencoder import Autoencoder
from course_lib.noise import NOISES, denoising_loss
from course_lib.recipes.base import Recipe
from course_lib.train import reconstruction_loss, train

LECTURE1_LATENT_SIZES = (2, 4, 8, 16, 32)  # the latent sizes lecture 1 compares (and ships)
LECTURE2_NOISE_LEVELS = {"gaussian": 0.3, "salt_and_pepper": 0.2, "block": 0.25}  # the levels lecture 2 trains at


def recipe_data(dataset: str) -> ImageDataset:
    """The bundled dataset a recipe trains on, with its fixed train/test split."""
    return load_dataset(dataset)


@dataclass(frozen=True)
class AutoencoderRecipe(Recipe):
    """Everything that decides what lecture 1's autoencoders learn."""

    family = "autoencoder"
    model_class = Autoencoder

    kind: str  # 'linear' or 'mlp'
    latent_dim: int
    epochs: int
    lr: float
    batch_size: int = 64
    dataset: str = "digits"
    seed: int = 0

    @classmethod
    def default(cls, kind: str, latent_dim: int, epochs: int | None = None, dataset: str = "digits"
                ) -> "AutoencoderRecipe":
        """Lecture 1's settings: a linear AE needs a larger step size to converge to PCA."""
        lr = 1e-2 if kind == "linear" else 1e-3
        default_epochs = 200 if kind == "linear" else 100
        return cls(kind, latent_dim, epochs if epochs is not None else default_epochs, lr, dataset=dataset)

    @property
    def stem(self) -> str:
        return f"{self.dataset}_{self.kind}_ae_k{self.latent_dim}"

    def build(self, store) -> nn.Module:
        return make_autoencoder(self.kind, recipe_data(self.dataset).n_features, self.latent_dim)

    def fit(self, model: nn.Module, store) -> list[float]:
        return train(model, recipe_data(self.dataset).x_train, reconstruction_loss, epochs=self.epochs,
                     batch_size=self.batch_size, lr=self.lr, device=store.device, seed=self.seed,
                     progress=store.progress)


@dataclass(frozen=True)
class DenoiserRecipe(Recipe):
    """Lecture 2's convolutional autoencoder: noise 'none' = a plain AE (copy x), else a denoising AE."""

    family = "conv_ae"
    model_class = ConvAutoencoder

    noise: str  # 'none', or a name in course_lib.noise.NOISES: the corruption applied to the input while training
    level: float = 0.0  # the noise level it is trained at
    epochs: int = 50
    lr: float = 3e-3
    channels: tuple[int, ...] = (16, 32)
    batch_size: int = 64
    dataset: str = "digits"
    seed: int = 0

    def __post_init__(self):
        if self.noise != "none" and self.noise not in NOISES:
            raise ValueError(f"Unknown noise {self.noise!r}: choose 'none' or one of {sorted(NOISES)}.")

    @property
    def stem(self) -> str:
        if self.noise == "none":
            return f"{self.dataset}_conv_ae"
        return f"{self.dataset}_conv_dae_{self.noise}_{self.level:g}"

    def build(self, store) -> nn.Module:
        return ConvAutoencoder(recipe_data(self.dataset).image_shape, self.channels)

    def fit(self, model: nn.Module, store) -> list[float]:
        loss_fn = reconstruction_loss if self.noise == "none" else denoising_loss(self.noise, self.level, self.seed)
        return train(model, recipe_data(self.dataset).x_train, loss_fn, epochs=self.epochs,
                     batch_size=self.batch_size, lr=self.lr, device=store.device, seed=self.seed,
                     progress=store.progress)
