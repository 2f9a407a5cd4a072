"""A small convolutional VAE (lecture 6): the 'autoencoder' of latent diffusion, 32x32x3 scenes <-> 8x8x4 latents.

Stable Diffusion does not denoise pixels: a VAE first squeezes a 512x512x3 image into a 64x64x4 latent
(786432 / 16384 = 48x fewer numbers), the U-Net denoises latents, and the decoder paints the pixels at the
end. Here a 32x32x3 scene (3072 numbers) becomes an 8x8x4 latent (256 numbers): 12x fewer.

    mean, logvar = vae.encode(images)        # (B, 4, 8, 8) each: a Gaussian per latent number
    z = reparameterise(mean, logvar)         # a sample gradients flow through (training)
    images = vae.decode(z)                   # (B, 4, 8, 8) -> (B, 3, 32, 32) in [0, 1]
    z = vae.to_latent(images)                # mean * latent_scale: what the diffusion model sees
    images = vae.from_latent(z)              # decode(z / latent_scale)

The KL weight is small, as in Stable Diffusion's VAE: the KL term only keeps the latent space smooth and
bounded; the latents' scale is then fixed by `latent_scale` = 1 / std of the training latents (SD's 0.18215),
so the diffusion model gets latents of unit variance, like the noise it mixes them with.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

DOWNSAMPLING = 4  # two stride-2 convolutions: 32x32 -> 8x8


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution that keeps the size (stride 1) or halves it (stride 2)."""
    return nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1)


class VAE(nn.Module):
    """Conv encoder to a Gaussian (mean, logvar) per latent number, conv decoder back to pixels in [0, 1]."""

    def __init__(self, in_channels: int = 3, latent_channels: int = 4, channels: tuple[int, int] = (16, 64)):
        super().__init__()
        c1, c2 = channels
        self.in_channels, self.latent_channels = in_channels, latent_channels
        self.encoder = nn.Sequential(
            _conv(in_channels, c1), nn.SiLU(),  # (B, c1, 32, 32)
            _conv(c1, c2, stride=2), nn.SiLU(),  # (B, c2, 16, 16)
            _conv(c2, c2), nn.SiLU(),
            _conv(c2, c2, stride=2), nn.SiLU(),  # (B, c2, 8, 8)
            _conv(c2, c2), nn.SiLU(),
            nn.Conv2d(c2, 2 * latent_channels, kernel_size=1),  # (B, 2 * latent_channels, 8, 8): mean and logvar
        )
        self.decoder = nn.Sequential(
            _conv(latent_channels, c2), nn.SiLU(),  # (B, c2, 8, 8)
            _conv(c2, c2), nn.SiLU(),
            nn.Upsample(scale_factor=2, mode="nearest"), _conv(c2, c2), nn.SiLU(),  # (B, c2, 16, 16)
            nn.Upsample(scale_factor=2, mode="nearest"), _conv(c2, c1), nn.SiLU(),  # (B, c1, 32, 32)
            _conv(c1, in_channels),  # (B, 3, 32, 32): no sigmoid, it would saturate on the black background
        )
        self.register_buffer("latent_scale", torch.tensor(1.0))  # saved with the weights; see set_latent_scale

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images (B, 3, H, W) -> mean, logvar (B, 4, H/4, W/4) each."""
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[-1] % DOWNSAMPLING or x.shape[-2] % DOWNSAMPLING:
            raise ValueError(f"Expected images (batch, {self.in_channels}, H, W) with H and W divisible by "
                             f"{DOWNSAMPLING}, got {tuple(x.shape)}.")
        weights = next(self.parameters())
        if x.dtype != weights.dtype:
            raise ValueError(f"images are {x.dtype} but the VAE's weights are {weights.dtype}: "
                             f"convert them with images.to({weights.dtype}).")
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)  # exp(logvar) stays finite

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """latents (B, 4, h, w) -> images (B, 3, 4h, 4w), clipped to [0, 1]."""
        if z.ndim != 4 or z.shape[1] != self.latent_channels:
            raise ValueError(f"Expected latents (batch, {self.latent_channels}, h, w), got {tuple(z.shape)}.")
        return self.decoder(z).clamp(0.0, 1.0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """images -> (reconstruction of a sample z = mean + std * eps, not clipped; mean; logvar): reparameterisation."""
        mean, logvar = self.encode(x)
        return self.decoder(reparameterise(mean, logvar)), mean, logvar

    def to_latent(self, x: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) -> scaled latents (B, 4, H/4, W/4): the mean, times latent_scale."""
        return self.encode(x)[0] * self.latent_scale

    def from_latent(self, z: torch.Tensor) -> torch.Tensor:
        """Scaled latents (B, 4, h, w) -> images (B, 3, 4h, 4w) in [0, 1]."""
        return self.decode(z / self.latent_scale)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """images -> decode(mean): the deterministic round trip through the latent space."""
        return self.decode(self.encode(x)[0])

    @torch.no_grad()
    def set_latent_scale(self, images: torch.Tensor, batch_size: int = 1000) -> float:
        """latent_scale = 1 / std of the latent means of `images` (Stable Diffusion's 0.18215); returns it."""
        device = self.latent_scale.device
        means = torch.cat([self.encode(images[i:i + batch_size].to(device))[0]
                           for i in range(0, len(images), batch_size)])
        self.latent_scale.fill_(1.0 / means.std().item())
        return self.latent_scale.item()


def reparameterise(mean: torch.Tensor, logvar: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mean + exp(logvar / 2) * eps, eps ~ N(0, I) from `generator` (on mean's device): gradients reach both."""
    eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)  # no parameter inside
    return mean + (0.5 * logvar).exp() * eps


def kl_divergence(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, 1)), summed over the latent numbers: (B, ...) -> (B,)."""
    return 0.5 * (mean ** 2 + logvar.exp() - 1.0 - logvar).flatten(1).sum(1)


def vae_loss(model: VAE, x: torch.Tensor, kl_weight: float = 1e-4) -> torch.Tensor:
    """Squared error per pixel + kl_weight * KL per pixel, averaged over the batch: a loss_fn for train()."""
    reconstruction, mean, logvar = model(x)
    pixels = x[0].numel()
    return F.mse_loss(reconstruction, x) + kl_weight * kl_divergence(mean, logvar).mean() / pixels
