"""What a VAE's KL term made of its latent space (lecture 6), measured on images against the prior N(0, I).

    stats = latent_statistics(vae, images)   # KL per latent number, posterior width, how the codes fill the space
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from course_lib.models.vae import VAE, kl_divergence, reparameterise


class LatentStatistics(NamedTuple):
    """Averages over the images; under the prior itself they would be 0, 1, (1, 1) and top / numbers."""

    kl_per_number: float  # KL(q(z|x) || N(0, 1)) of one latent number, in nats
    posterior_std: float  # sigma of q(z|x), averaged over latent numbers and images
    variance_range: tuple[float, float]  # smallest and largest variance of one latent number over the images
    top_share: float  # share of the latents' total variance along their `top` largest principal directions
    top: int
    numbers: int  # latent numbers per image (D)


@torch.no_grad()
def latent_statistics(vae: VAE, images: torch.Tensor, top: int = 10, seed: int = 0) -> LatentStatistics:
    """How far the codes of `images` (N, 3, H, W) are from N(0, I): per image (KL, sigma) and all together."""
    device = vae.latent_scale.device
    mean, logvar = (v.cpu() for v in vae.encode(images.to(device)))  # (N, 4, h, w) each, unscaled
    numbers = mean[0].numel()
    if not 1 <= top <= numbers or len(images) < 2:
        raise ValueError(f"Need top in 1..{numbers} and at least 2 images, got top={top}, {len(images)} images.")
    z = reparameterise(mean, logvar, torch.Generator().manual_seed(seed)).flatten(1)  # (N, D): the aggregate posterior
    variances = z.var(dim=0)  # (D,)
    spread = torch.linalg.eigvalsh(torch.cov(z.T.double())).flip(0)  # (D,) principal variances, largest first
    return LatentStatistics(kl_divergence(mean, logvar).mean().item() / numbers, (0.5 * logvar).exp().mean().item(),
                            (variances.min().item(), variances.max().item()),
                            (spread[:top].sum() / spread.sum()).item(), top, numbers)
