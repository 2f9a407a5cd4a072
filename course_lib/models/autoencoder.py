"""Autoencoders: an encoder squeezes x into a small code z, a decoder rebuilds x from z.

Trained to minimise the reconstruction error ||x - decoder(encoder(x))||^2, the
bottleneck forces the code to keep what matters. A linear autoencoder can only
find the PCA subspace; a non-linear one can bend it.
"""

from __future__ import annotations

import torch
from torch import nn


class Autoencoder(nn.Module):
    """Any encoder and decoder joined at a bottleneck of `latent_dim` numbers."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.latent_dim = latent_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x (batch, n_features) -> z (batch, latent_dim)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (batch, latent_dim) -> x_hat (batch, n_features)."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction of x for looking at, not training: computed on the model's device, returned on x's."""
        device = next(self.parameters()).device
        return self(x.to(device)).to(x.device)


class LinearAutoencoder(Autoencoder):
    """One linear map down, one linear map up: it can do no better than PCA."""

    def __init__(self, n_features: int, latent_dim: int):
        super().__init__(nn.Linear(n_features, latent_dim), nn.Linear(latent_dim, n_features), latent_dim)


class MLPAutoencoder(Autoencoder):
    """Fully connected layers with ReLUs, mirrored; a sigmoid keeps pixels in [0, 1]."""

    def __init__(self, n_features: int, latent_dim: int, hidden: tuple[int, ...] = (256, 128)):
        widths = (n_features, *hidden)
        encoder, decoder = [], []
        for w_in, w_out in zip(widths[:-1], widths[1:]):
            encoder += [nn.Linear(w_in, w_out), nn.ReLU()]
        encoder.append(nn.Linear(widths[-1], latent_dim))  # the bottleneck: no activation
        for w_in, w_out in zip(widths[:0:-1], widths[-2::-1]):
            decoder += [nn.ReLU(), nn.Linear(w_in, w_out)]
        decoder = [nn.Linear(latent_dim, widths[-1])] + decoder + [nn.Sigmoid()]
        super().__init__(nn.Sequential(*encoder), nn.Sequential(*decoder), latent_dim)


AUTOENCODER_KINDS = {"linear": LinearAutoencoder, "mlp": MLPAutoencoder}


def make_autoencoder(kind: str, n_features: int, latent_dim: int) -> Autoencoder:
    """Build an autoencoder by name: 'linear' or 'mlp'."""
    if kind not in AUTOENCODER_KINDS:
        raise ValueError(f"Unknown autoencoder kind {kind!r}: choose one of {sorted(AUTOENCODER_KINDS)}.")
    if latent_dim < 1 or latent_dim > n_features:
        raise ValueError(f"latent_dim must be between 1 and n_features={n_features}, got {latent_dim}.")
    return AUTOENCODER_KINDS[kind](n_features, latent_dim)
