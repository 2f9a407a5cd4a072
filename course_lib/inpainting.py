"""Inpainting with a text-to-image diffusion model never trained for it (lecture 6): RePaint's replacement trick.

Lugmayr et al. (2022, RePaint): sample as usual, but before every step put back the region to keep, as the
forward process would have noised the original to that step's level; the model's prediction survives only in
the masked region, and at the end the kept region is the original exactly. The model sees, at every step, a
noisy image whose kept part is consistent with its noise level, so what it draws in the hole fits around it.
RePaint also resamples (jumps back up a step with fresh noise and redoes it, `resample` times) so that the hole
and its surroundings agree better. A sampler, like course_lib.diffusion's: any noise model works.

    filled = inpaint(unet, x0, mask, context, schedule, steps=25, null_context=null, guidance_scale=3.0,
                     generator=torch.Generator().manual_seed(0))   # mask True: redraw; False: keep x0
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from course_lib.diffusion import NoiseModel, NoiseSchedule, ddim_step, ddim_timesteps, guided_noise, q_sample
from course_lib.validation import describe, require_positive_int, require_tensor


def _check(x0: torch.Tensor, mask: torch.Tensor) -> None:
    require_tensor(x0=x0, mask=mask)
    if mask.dtype != torch.bool or mask.ndim != x0.ndim or mask.shape[0] not in (1, x0.shape[0]) \
            or mask.shape[2:] != x0.shape[2:] or mask.shape[1] not in (1, x0.shape[1]):
        raise ValueError(f"mask must be bool (B or 1, 1 or C, {', '.join(map(str, x0.shape[2:]))}) like x0 "
                         f"{tuple(x0.shape)}, True where to redraw; got {describe(mask)} {mask.dtype}.")


@torch.no_grad()
def inpaint(model: NoiseModel, x0: torch.Tensor, mask: torch.Tensor, context: torch.Tensor, schedule: NoiseSchedule,
            *, steps: int = 25, resample: int = 1, null_context: torch.Tensor | None = None,
            guidance_scale: float = 1.0, generator: torch.Generator | None = None,
            progress: bool = True) -> torch.Tensor:
    """Redraw x0 (B, C, H, W) where mask is True with DDIM-`steps`, keeping x0 elsewhere (RePaint's replacement)."""
    _check(x0, mask)
    require_positive_int(steps=steps, resample=resample)
    device, shape = x0.device, tuple(x0.shape)
    schedule = schedule.to(device)
    mask = mask.to(device)

    def draw() -> torch.Tensor:  # N(0, I) from the CPU generator: the same seed gives the same image anywhere
        return torch.randn(shape, generator=generator, device="cpu").to(device)

    timesteps = ddim_timesteps(schedule.T, steps)
    x = draw()  # x_T: pure noise
    for i, t in enumerate(tqdm(timesteps, desc=f"inpaint DDIM-{steps}", disable=not progress, leave=False)):
        t_prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
        batch_t = torch.full((shape[0],), t, device=device, dtype=torch.long)
        for round_ in range(resample if t_prev >= 0 else 1):
            known = q_sample(x0, batch_t, draw(), schedule)  # the original at step t's noise level
            x = torch.where(mask, x, known)  # keep: the noised original; redraw: the model's x_t
            eps = guided_noise(model, x, batch_t, context, null_context, guidance_scale)
            x_prev = ddim_step(x, eps, t, t_prev, schedule)
            if round_ < resample - 1:  # RePaint's resampling: back up to t's noise level with fresh noise
                ratio = schedule.alpha_bars[t] / schedule.alpha_bars[t_prev]  # alpha_bar_t / alpha_bar_(t_prev)
                x = ratio.sqrt() * x_prev + (1 - ratio).sqrt() * draw()
        x = x_prev
    return torch.where(mask, x, x0)  # at step -1 the 'noised' original is the original itself
