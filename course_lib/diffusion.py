"""Diffusion, separate from the network that predicts the noise (lecture 6), as diffusers keeps schedulers apart.

Notation of Ho et al. (2020): beta_t the noise added at step t, alpha_t = 1 - beta_t,
alpha_bar_t = prod_{s<=t} alpha_s. Steps are numbered 0..T-1 here (0 = least noise).
- forward process, closed form:  x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps
- training: predict eps from (x_t, t, text); loss = MSE
- sampling: DDPM (ancestral, T steps) or DDIM (deterministic, a few steps), with classifier-free guidance.
A noise model is any callable model(x_t (B, C, H, W), t (B,) long, context) -> predicted noise (B, C, H, W).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

NoiseModel = Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]


@dataclass(frozen=True)
class NoiseSchedule:
    """betas, alphas = 1 - betas and alpha_bars = cumprod(alphas), each (T,)."""

    betas: torch.Tensor

    @property
    def alphas(self) -> torch.Tensor:
        return 1.0 - self.betas

    @property
    def alpha_bars(self) -> torch.Tensor:
        return torch.cumprod(self.alphas, dim=0)

    @property
    def T(self) -> int:
        return len(self.betas)

    def to(self, device: str | torch.device) -> "NoiseSchedule":
        """The same schedule on another device."""
        return NoiseSchedule(self.betas.to(device))


def linear_schedule(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> NoiseSchedule:
    """Ho et al.'s schedule: betas evenly spaced from beta_start to beta_end (diffusers' 'linear')."""
    _check_steps(T)
    if not 0 < beta_start <= beta_end < 1:
        raise ValueError(f"Need 0 < beta_start <= beta_end < 1, got beta_start={beta_start}, beta_end={beta_end}.")
    return NoiseSchedule(torch.linspace(beta_start, beta_end, T, dtype=torch.float64).float())


def cosine_schedule(T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> NoiseSchedule:
    """Nichol & Dhariwal's schedule: alpha_bar(t) = cos^2(((t/T + s) / (1 + s)) pi/2) (diffusers' 'squaredcos_cap_v2')."""
    _check_steps(T)

    def alpha_bar(u: float) -> float:
        return math.cos((u + s) / (1 + s) * math.pi / 2) ** 2

    betas = [min(1 - alpha_bar((i + 1) / T) / alpha_bar(i / T), max_beta) for i in range(T)]
    return NoiseSchedule(torch.tensor(betas, dtype=torch.float32))


def _check_steps(T) -> None:
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ValueError(f"T (the number of diffusion steps) must be an integer >= 1, got {T!r}.")


def _check_step(name: str, t, schedule: NoiseSchedule, lowest: int = 0) -> None:
    """A sampler step: a Python int in lowest..T-1 (a negative t would wrap around to the last steps)."""
    if isinstance(t, torch.Tensor) and t.numel() == 1 and not t.is_floating_point():
        t = int(t)
    if isinstance(t, bool) or not isinstance(t, int) or not lowest <= t < schedule.T:
        raise ValueError(f"{name} must be an integer step in {lowest}..{schedule.T - 1}, got {t!r}.")


def _per_sample(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """values[t] shaped (B, 1, 1, ...) to broadcast against `like` (B, C, H, W)."""
    return values.to(like.device)[t].view(-1, *([1] * (like.dim() - 1)))


def q_sample(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, schedule: NoiseSchedule) -> torch.Tensor:
    """x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) noise, for a batch of steps t (B,)."""
    if x0.shape[0] == 0:
        raise ValueError("x0 is an empty batch: q_sample needs at least one image.")
    if not isinstance(t, torch.Tensor) or t.is_floating_point() or t.dtype == torch.bool:
        raise ValueError(f"t must be an integer tensor of steps, one per image (torch.long), got "
                         f"{t.dtype if isinstance(t, torch.Tensor) else type(t).__name__}.")
    if t.shape != (x0.shape[0],):
        raise ValueError(f"t must hold one step per image, shape ({x0.shape[0]},), got {tuple(t.shape)}.")
    if int(t.min()) < 0 or int(t.max()) >= schedule.T:
        raise ValueError(f"Steps must lie in 0..{schedule.T - 1}, got {int(t.min())}..{int(t.max())}.")
    alpha_bar = _per_sample(schedule.alpha_bars, t, x0)
    return alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise


def diffusion_loss(model: NoiseModel, x0: torch.Tensor, context: torch.Tensor, schedule: NoiseSchedule, *,
                   p_uncond: float = 0.1, null_context: torch.Tensor | None = None) -> torch.Tensor:
    """MSE between true and predicted noise at random steps; with probability p_uncond the text is dropped.

    Dropping the text (replacing it by null_context (1, ...) or (B, ...)) teaches the same network the
    unconditional prediction that classifier-free guidance needs.
    """
    batch = x0.shape[0]
    t = torch.randint(0, schedule.T, (batch,), device=x0.device)
    noise = torch.randn_like(x0)
    if p_uncond > 0:
        if null_context is None:
            raise ValueError("p_uncond > 0 needs a null_context (the 'no text' conditioning).")
        drop = (torch.rand(batch, device=x0.device) < p_uncond).view(-1, *([1] * (context.dim() - 1)))
        context = torch.where(drop, null_context.expand_as(context), context)
    return F.mse_loss(model(q_sample(x0, t, noise, schedule), t, context), noise)


def guided_noise(model: NoiseModel, x_t: torch.Tensor, t: torch.Tensor, context: torch.Tensor,
                 null_context: torch.Tensor | None, guidance_scale: float) -> torch.Tensor:
    """Classifier-free guidance: eps_uncond + w (eps_text - eps_uncond); w = 1 is plain conditioning, w = 0 ignores the text."""
    if guidance_scale == 1.0:
        return model(x_t, t, context)
    if null_context is None:
        raise ValueError(f"guidance_scale={guidance_scale} needs a null_context (the 'no text' conditioning); "
                         "without one only guidance_scale=1.0 (plain conditioning) is possible.")
    both = model(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([context, null_context.expand_as(context)]))
    eps_text, eps_uncond = both.chunk(2)  # one batched call for the two predictions
    return eps_uncond + guidance_scale * (eps_text - eps_uncond)


def ddpm_step(x_t: torch.Tensor, eps: torch.Tensor, t: int, schedule: NoiseSchedule,
              noise: torch.Tensor | None = None) -> torch.Tensor:
    """One ancestral step x_t -> x_{t-1}: mean (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_t), variance beta~_t.

    beta~_t = beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t), the posterior variance (diffusers' 'fixed_small');
    at t = 0 no noise is added.
    """
    _check_step("t", t, schedule)
    t = int(t)
    beta, alpha, alpha_bar = schedule.betas[t], schedule.alphas[t], schedule.alpha_bars[t]
    mean = (x_t - beta / (1 - alpha_bar).sqrt() * eps) / alpha.sqrt()
    if t == 0:
        return mean
    variance = beta * (1 - schedule.alpha_bars[t - 1]) / (1 - alpha_bar)
    noise = torch.randn_like(x_t) if noise is None else noise
    return mean + variance.sqrt() * noise


def ddim_step(x_t: torch.Tensor, eps: torch.Tensor, t: int, t_prev: int, schedule: NoiseSchedule, eta: float = 0.0,
              noise: torch.Tensor | None = None) -> torch.Tensor:
    """One DDIM step x_t -> x_{t_prev} (t_prev = -1: to x_0): predict x_0, then move to t_prev's noise level.

    eta = 0: deterministic (the same x_T always gives the same image); eta = 1: as random as DDPM.
    """
    _check_step("t", t, schedule)
    _check_step("t_prev", t_prev, schedule, lowest=-1)
    t, t_prev = int(t), int(t_prev)
    if t_prev >= t:
        raise ValueError(f"DDIM steps go towards less noise: t_prev must be below t={t} (or -1 for x_0), got {t_prev}.")
    alpha_bar = schedule.alpha_bars[t]
    alpha_bar_prev = schedule.alpha_bars[t_prev] if t_prev >= 0 else torch.tensor(1.0, device=alpha_bar.device)
    x0_pred = (x_t - (1 - alpha_bar).sqrt() * eps) / alpha_bar.sqrt()
    sigma = eta * ((1 - alpha_bar_prev) / (1 - alpha_bar) * (1 - alpha_bar / alpha_bar_prev)).sqrt()
    direction = (1 - alpha_bar_prev - sigma ** 2).clamp(min=0).sqrt() * eps
    x_prev = alpha_bar_prev.sqrt() * x0_pred + direction
    if eta > 0:
        x_prev = x_prev + sigma * (torch.randn_like(x_t) if noise is None else noise)
    return x_prev


def ddim_timesteps(T: int, steps: int) -> list[int]:
    """`steps` evenly spaced steps from high noise to low, e.g. T=1000, 4 -> [750, 500, 250, 0] (diffusers' 'leading')."""
    if not 1 <= steps <= T:
        raise ValueError(f"steps must be between 1 and T={T}, got {steps}.")
    return list(range(0, T, T // steps))[:steps][::-1]


@torch.no_grad()
def ddpm_sample(model: NoiseModel, shape: tuple[int, ...], context: torch.Tensor, schedule: NoiseSchedule, *,
                null_context: torch.Tensor | None = None, guidance_scale: float = 1.0,
                generator: torch.Generator | None = None, progress: bool = True,
                return_trajectory: bool = False) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
    """Start from pure noise x_T ~ N(0, I) and take all T ancestral steps; optionally every x_t on the way (CPU)."""
    device = context.device
    x = torch.randn(shape, generator=generator, device="cpu").to(device)
    schedule = schedule.to(device)
    trajectory = [x.cpu()]
    for t in tqdm(range(schedule.T - 1, -1, -1), desc="DDPM", disable=not progress, leave=False):
        steps = torch.full((shape[0],), t, device=device, dtype=torch.long)
        eps = guided_noise(model, x, steps, context, null_context, guidance_scale)
        noise = torch.randn(shape, generator=generator, device="cpu").to(device)
        x = ddpm_step(x, eps, t, schedule, noise)
        if return_trajectory:
            trajectory.append(x.cpu())
    return (x, trajectory) if return_trajectory else x


@torch.no_grad()
def ddim_sample(model: NoiseModel, shape: tuple[int, ...], context: torch.Tensor, schedule: NoiseSchedule, *,
                steps: int = 25, eta: float = 0.0, null_context: torch.Tensor | None = None,
                guidance_scale: float = 1.0, generator: torch.Generator | None = None,
                x_T: torch.Tensor | None = None, start_index: int = 0, progress: bool = True,
                return_trajectory: bool = False) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
    """DDIM with `steps` steps (deterministic for eta=0); x_T and start_index let image-to-image start part-way."""
    device = context.device
    schedule = schedule.to(device)
    timesteps = ddim_timesteps(schedule.T, steps)[start_index:]
    x = torch.randn(shape, generator=generator, device="cpu").to(device) if x_T is None else x_T.to(device)
    trajectory = [x.cpu()]
    for i, t in enumerate(tqdm(timesteps, desc=f"DDIM-{steps}", disable=not progress, leave=False)):
        t_prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
        batch_t = torch.full((shape[0],), t, device=device, dtype=torch.long)
        eps = guided_noise(model, x, batch_t, context, null_context, guidance_scale)
        noise = torch.randn(shape, generator=generator, device="cpu").to(device) if eta > 0 else None
        x = ddim_step(x, eps, t, t_prev, schedule, eta, noise)
        if return_trajectory:
            trajectory.append(x.cpu())
    return (x, trajectory) if return_trajectory else x


@torch.no_grad()
def img2img(model: NoiseModel, x0: torch.Tensor, context: torch.Tensor, schedule: NoiseSchedule, *,
            strength: float = 0.6, steps: int = 25, null_context: torch.Tensor | None = None,
            guidance_scale: float = 1.0, generator: torch.Generator | None = None,
            progress: bool = True) -> torch.Tensor:
    """Image-to-image: noise a starting image (latent) x0 to the level `strength` (0: unchanged, 1: pure noise), then denoise with DDIM."""
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength must be in (0, 1], got {strength}.")
    timesteps = ddim_timesteps(schedule.T, steps)
    start_index = min(int(round((1 - strength) * steps)), steps - 1)  # skip the noisiest steps
    t_start = torch.full((x0.shape[0],), timesteps[start_index], dtype=torch.long, device=x0.device)
    noise = torch.randn(x0.shape, generator=generator, device="cpu").to(x0.device)
    x_t = q_sample(x0, t_start, noise, schedule)
    return ddim_sample(model, tuple(x0.shape), context, schedule, steps=steps, null_context=null_context,
                       guidance_scale=guidance_scale, x_T=x_t, start_index=start_index, progress=progress)
