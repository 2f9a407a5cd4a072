"""Schedules, the forward process and the samplers: properties, and diffusers' schedulers as the reference."""

import pytest
import torch

from course_lib.diffusion import (cosine_schedule, ddim_sample, ddim_step, ddim_timesteps, ddpm_sample, ddpm_step,
                                  diffusion_loss, guided_noise, img2img, linear_schedule, q_sample)

diffusers = pytest.importorskip("diffusers", reason="diffusers is part of the [hf] extra that `make test` installs")


def test_schedules_match_diffusers():
    ours = linear_schedule(1000)
    theirs = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    torch.testing.assert_close(ours.betas, theirs.betas)
    torch.testing.assert_close(ours.alpha_bars, theirs.alphas_cumprod)
    cosine = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2")
    torch.testing.assert_close(cosine_schedule(1000).betas, cosine.betas)


def test_alpha_bar_decreases_from_almost_one_to_almost_zero():
    for schedule in (linear_schedule(), cosine_schedule()):
        alpha_bars = schedule.alpha_bars
        assert (alpha_bars.diff() < 0).all() and alpha_bars[0] > 0.99 and alpha_bars[-1] < 1e-3
    with pytest.raises(ValueError, match="beta_start"):
        linear_schedule(10, 0.5, 0.1)


def test_q_sample_matches_diffusers_add_noise_and_the_step_by_step_process():
    schedule = linear_schedule(1000)
    x0, noise = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)
    t = torch.tensor([0, 10, 500, 999])
    theirs = diffusers.DDPMScheduler(num_train_timesteps=1000).add_noise(x0, noise, t)
    torch.testing.assert_close(q_sample(x0, t, noise, schedule), theirs)
    # the closed form has the statistics of t+1 small steps x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps
    x = torch.full((20000,), 2.0)
    for beta in schedule.betas[:300]:
        x = (1 - beta).sqrt() * x + beta.sqrt() * torch.randn_like(x)
    closed = q_sample(torch.full((20000, 1), 2.0), torch.full((20000,), 299), torch.randn(20000, 1), schedule)
    assert abs(x.mean() - closed.mean()) < 0.03 and abs(x.std() - closed.std()) < 0.03
    with pytest.raises(ValueError, match="0..999"):
        q_sample(x0, torch.tensor([0, 1, 2, 1000]), noise, schedule)


@pytest.mark.parametrize("t", [999, 500, 1, 0])
def test_ddpm_step_matches_diffusers(t):
    schedule = linear_schedule(1000)
    scheduler = diffusers.DDPMScheduler(num_train_timesteps=1000, clip_sample=False, variance_type="fixed_small")
    x_t, eps = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    noise = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(7))
    theirs = scheduler.step(eps, t, x_t, generator=torch.Generator().manual_seed(7)).prev_sample
    # diffusers goes through a predicted x_0 (dividing by sqrt(alpha_bar_t) ~ 0.006 at t = 999): float32 noise ~1e-4
    torch.testing.assert_close(ddpm_step(x_t, eps, t, schedule, noise), theirs, atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize("steps", [50, 25, 10])
def test_ddim_timesteps_and_steps_match_diffusers(steps):
    schedule = linear_schedule(1000)
    scheduler = diffusers.DDIMScheduler(num_train_timesteps=1000, clip_sample=False, set_alpha_to_one=True,
                                        steps_offset=0, timestep_spacing="leading")
    scheduler.set_timesteps(steps)
    timesteps = ddim_timesteps(1000, steps)
    assert timesteps == scheduler.timesteps.tolist()
    x = torch.randn(2, 4, 8, 8)
    ours, theirs = x.clone(), x.clone()
    for i, t in enumerate(timesteps):  # a fixed fake noise prediction, so both walk the same path
        eps = torch.sin(ours * (t + 1) / 1000)
        ours = ddim_step(ours, eps, t, timesteps[i + 1] if i + 1 < len(timesteps) else -1, schedule)
        theirs = scheduler.step(torch.sin(theirs * (t + 1) / 1000), t, theirs, eta=0.0).prev_sample
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)


class Oracle(torch.nn.Module):
    """A perfect noise predictor for data that is always the same image `target`: eps = (x_t - sqrt(ab) x0) / sqrt(1 - ab)."""

    def __init__(self, target, schedule, text_shift=0.0):
        super().__init__()
        self.target, self.schedule, self.text_shift = target, schedule, text_shift

    def forward(self, x_t, t, context):
        alpha_bar = self.schedule.alpha_bars[t].view(-1, 1, 1, 1)
        x0 = self.target + self.text_shift * context.view(-1, 1, 1, 1)  # the 'text' moves the target
        return (x_t - alpha_bar.sqrt() * x0) / (1 - alpha_bar).sqrt()


def test_samplers_reach_the_data_with_a_perfect_noise_predictor():
    schedule = linear_schedule(1000)
    target = torch.linspace(-1, 1, 16).view(1, 1, 4, 4)
    oracle = Oracle(target, schedule)
    context = torch.zeros(3)
    generator = torch.Generator().manual_seed(0)
    for sample in (ddpm_sample(oracle, (3, 1, 4, 4), context, schedule, generator=generator, progress=False),
                   ddim_sample(oracle, (3, 1, 4, 4), context, schedule, steps=10, generator=generator, progress=False)):
        torch.testing.assert_close(sample, target.expand(3, -1, -1, -1), atol=1e-3, rtol=0)
    final, trajectory = ddim_sample(oracle, (3, 1, 4, 4), context, schedule, steps=5, progress=False,
                                    return_trajectory=True)
    assert len(trajectory) == 6 and torch.equal(trajectory[-1], final)


def test_ddim_is_deterministic_and_img2img_keeps_more_of_the_start_at_low_strength():
    schedule = linear_schedule(1000)
    oracle = Oracle(torch.zeros(1, 1, 4, 4), schedule, text_shift=1.0)
    x_T = torch.randn(2, 1, 4, 4)
    context = torch.tensor([0.5, -0.5])
    a = ddim_sample(oracle, (2, 1, 4, 4), context, schedule, steps=10, x_T=x_T, progress=False)
    b = ddim_sample(oracle, (2, 1, 4, 4), context, schedule, steps=10, x_T=x_T, progress=False)
    assert torch.equal(a, b)
    torch.testing.assert_close(a[:, 0, 0, 0], context, atol=1e-3, rtol=0)  # the 'text' decided the image
    start = torch.full((2, 1, 4, 4), 3.0)
    no_clue = lambda x, t, c: torch.zeros_like(x)  # noqa: E731  predicts no noise: keeps whatever it is given
    weak = img2img(no_clue, start, context, schedule, strength=0.05, steps=20, progress=False)
    strong = img2img(no_clue, start, context, schedule, strength=1.0, steps=20, progress=False)
    assert (weak - start).abs().mean() < 0.05 < (strong - start).abs().mean()
    with pytest.raises(ValueError, match="strength"):
        img2img(oracle, start, context, schedule, strength=0.0)


def test_guidance_combines_the_two_predictions_and_the_loss_drops_the_text():
    calls = []

    def model(x, t, context):
        calls.append(len(x))
        return context.view(-1, 1, 1, 1).expand_as(x).clone()  # 'predicts' its text

    x, t = torch.zeros(2, 1, 2, 2), torch.tensor([5, 5])
    text, null = torch.tensor([1.0, 2.0]), torch.tensor([0.5])
    guided = guided_noise(model, x, t, text, null, guidance_scale=3.0)
    torch.testing.assert_close(guided[:, 0, 0, 0], 0.5 + 3.0 * (text - 0.5))  # eps_u + w (eps_c - eps_u)
    assert calls == [4], "both predictions in one batched call"
    torch.testing.assert_close(guided_noise(model, x, t, text, null, 1.0)[:, 0, 0, 0], text)

    seen = []

    def recording(x, t, context):
        seen.append(context.clone())
        return torch.zeros_like(x)

    diffusion_loss(recording, torch.zeros(2000, 1, 1, 1), torch.ones(2000), linear_schedule(), p_uncond=0.2,
                   null_context=torch.zeros(1))
    dropped = (seen[0] == 0).float().mean().item()
    assert 0.15 < dropped < 0.25
    with pytest.raises(ValueError, match="null_context"):
        diffusion_loss(recording, torch.zeros(2, 1, 1, 1), torch.ones(2), linear_schedule(), p_uncond=0.1)


def test_trajectory_explorer_scrubs_through_the_steps(monkeypatch):
    from course_lib.widgets import draw_trajectory_step, trajectory_explorer

    frames = [torch.full((2, 3, 4, 4), v) for v in (0.0, 0.5, 1.0)]
    shown = []
    monkeypatch.setattr("course_lib.widgets.display", lambda fig: shown.append(fig._suptitle.get_text()))
    explorer = trajectory_explorer(frames, labels=["noise", "half", "image"])
    explorer.children[0].value = 0
    assert shown == ["image", "noise"]
    with pytest.raises(ValueError, match="steps 0..2"):
        draw_trajectory_step(frames, 3)
