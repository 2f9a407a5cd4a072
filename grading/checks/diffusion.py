"""Exercise 6 (diffusion): what the trusted checker runs, the classic mistakes, and the rules it reads.

Every input is made from SEED. ddpm_step takes its noise z as an argument, so nothing here depends on how a
function draws random numbers. Part 2b compares what a step adds for a noise z (the step with z minus the step
with z = 0, computed here on the trusted side), so that a mistake in the mean costs no points there, as in the
hidden tests. Part 3b swaps the student's cfg_combine for a stand-in while guided_predict runs (in the namespace
guided_predict reads its globals from, as the notebook's recording_cfg_combine does), so that a mistake in part 3a
costs no points there; the number of images the model saw is checked on the trusted side (one call of 2 B or two
calls of B are both right). Part 4b draws at random, so its results are not compared number for number: the
probe sends back z, the gradients of sum(weights * z) with respect to mu and logvar, and z drawn again from the
same seed, and `reparameterised` checks here the properties every right answer has (z = mu + sigma eps with eps
standard normal, gradients 1 and (z - mu) / 2, the same z from the same seed), from the inputs of the solution's run.
"""

import math

from classgrade.table import Check, Forbid, Mistake, Raised, Table, Unsupported, close

# ---------------------------------------------------------------------------------------------------- schedules
SCHEDULES = {  # name: code binding `schedule` (a generator `gen` seeded from SEED is available)
    "linear schedule, T = 1000": "schedule = linear_schedule(1000)",
    "cosine schedule, T = 50": "schedule = cosine_schedule(50)",
    "random schedule, T = 20": "schedule = NoiseSchedule(torch.sort(0.3 * torch.rand(20, generator=gen)).values + 1e-3)",
}
GEN = "gen = torch.Generator().manual_seed(SEED)"
FLOAT64_SCHEDULE = "schedule = NoiseSchedule(linear_schedule(1000).betas.double())"  # alphas, alpha_bars in float64 too


def schedule_tensors(schedule: str) -> tuple[str, str]:
    """(code binding the tensors, the arguments betas, alphas, alpha_bars). Inputs a check binds come back with its
    result (to see that they were not changed in place): the short schedules' tensors do, those of T = 1000 are
    passed straight from the schedule object (3000 numbers a check would make the student's results heavy)."""
    if "1000" in schedule:
        return "", "schedule.betas, schedule.alphas, schedule.alpha_bars"
    return "betas, alphas, alpha_bars = schedule.betas, schedule.alphas, schedule.alpha_bars\n", "betas, alphas, alpha_bars"


def scale_of(want, floor: float = 1.0) -> float:
    """The largest expected value (at least `floor`): rounding errors grow with the numbers."""
    import torch

    tensors = [w for w in (want if isinstance(want, tuple) else (want,)) if isinstance(w, torch.Tensor) and w.numel()]
    return max([floor] + [w.double().abs().max().item() for w in tensors])


def scaled(atol: float, rtol: float = 0.0):
    """close(), with atol in units of the largest expected value (at least 1)."""

    def compare(got, want):
        return close(atol * scale_of(want), rtol)(got, want)

    return compare


# Float32 schedules: correct formulas differ by rounding. 1 - alpha_bar_t at small t cancels (alpha_bar_0 = 1 - 1e-4),
# so the mean through x_0 (Ho et al.'s equation 7, diffusers' route) or beta~_t as 1 / (alpha_t / beta_t +
# 1 / (1 - alpha_bar_(t-1))) differ from the solution's by up to about 2e-4 of the largest value there. A tolerance
# of 1e-3 of the largest value accepts them and still fails every classic mistake by far at the larger steps.
FLOAT32_SCHEDULE = 1e-3


# ---------------------------------------------------------------------------------------------------- part 1
Q_SHAPES = ((5, 3, 4, 5), (6, 2, 3, 6), (3, 7), (2, 1, 3, 3, 2), (1, 2, 8, 8), (6, 1))  # 2nd, 5th: width = batch


def q_sample_checks() -> list[Check]:
    checks = []
    for name, schedule in SCHEDULES.items():
        for shape in Q_SHAPES:
            bind, args = schedule_tensors(schedule)
            given = (f"{GEN}\n{schedule}\n{bind}"
                     f"x0, noise = torch.randn({shape}, generator=gen), torch.randn({shape}, generator=gen)\n"
                     f"t = torch.randint(0, schedule.T, ({shape[0]},), generator=gen)\n"
                     "t[0] = schedule.T - 1")
            checks.append(Check("test_q_sample", f"q_sample, {name}, x0 {shape}, a random step per image (the first "
                                "at T - 1)", f"q_sample(x0, t, noise, {args.split(', ')[-1]})", given,
                                scaled(1e-6, 1e-5)))
    checks.append(Check(
        "test_q_sample", "q_sample, linear schedule, float64 images (3, 2, 4, 4), t = (2, 999, 400)",
        "q_sample(x0, t, noise, linear_schedule(1000).alpha_bars)",
        f"{GEN}\n"
        "x0, noise = (torch.randn(3, 2, 4, 4, generator=gen, dtype=torch.float64) for _ in range(2))\n"
        "t = torch.tensor([2, 999, 400])", scaled(1e-6, 1e-5)))
    return checks


# ---------------------------------------------------------------------------------------------------- part 2
MEAN_STEPS = (("T - 1", (2, 3, 4, 4)), ("T // 2", (3, 5)), ("2", (1, 2, 3, 3, 3)), ("1", (4, 1, 6, 4)),
              ("0", (2, 3, 4, 4)), ("a random t >= 1", (3, 2, 5, 5)))  # the steps of the hidden tests
NOISE_STEPS = (("1", (2, 3, 4, 4)), ("2", (3, 5)), ("3", (1, 2, 3, 3, 3)), ("T // 2", (4, 1, 6, 4)),
               ("T - 1", (2, 3, 4, 4)), ("a random t >= 1", (3, 2, 5, 5)))
STEP_CODE = {"T - 1": "schedule.T - 1", "T // 2": "schedule.T // 2",
             "a random t >= 1": "int(torch.randint(1, schedule.T, (1,), generator=gen))"}


def at(step: str) -> str:
    return step if step.startswith("a ") else f"t = {step}"


def step_check(part: str, what: str, schedule: str, step: str, shape: tuple, compare, dtype: str = "torch.float64",
               both: bool = True) -> Check:
    """ddpm_step at `step` on x_t, eps, z of `shape`: with noise 0 (both=False), or (with z, with 0)."""
    bind, args = schedule_tensors(schedule)
    given = (f"{GEN}\n{schedule}\n{bind}step = {STEP_CODE.get(step, step)}\n"
             f"x_t, eps, z = (torch.randn({shape}, generator=gen, dtype={dtype}) for _ in range(3))\n"
             "zero = torch.zeros_like(x_t)")
    mean = f"ddpm_step(x_t, eps, step, {args}, zero)"
    call = f"(ddpm_step(x_t, eps, step, {args}, z), {mean})" if both else mean
    return Check(part, what, call, given, compare)


def mean_checks() -> list[Check]:
    checks = []
    for name, schedule in SCHEDULES.items():
        for step, shape in MEAN_STEPS:
            checks.append(step_check("test_ddpm_mean", f"ddpm_step with noise = 0 (the mean), {name}, {at(step)}, "
                                     f"x_t {shape}", schedule, step, shape, scaled(FLOAT32_SCHEDULE), both=False))
    for step in (999, 500, 10, 1, 0):
        checks.append(step_check("test_ddpm_mean", f"ddpm_step with noise = 0 (the mean), linear schedule in float64, "
                                 f"t = {step}, x_t (2, 3, 4, 4)", FLOAT64_SCHEDULE, str(step), (2, 3, 4, 4),
                                 scaled(1e-5), both=False))
    return checks


def noise_added(relative: float):
    """Compare (step with z, step with z = 0) by their difference, the noise added (the mean cancels), within
    `relative` times the largest noise the solution adds."""

    def compare(got, want):
        import torch

        plain = close(relative * scale_of(want, 0.0))
        if not (isinstance(got, tuple) and len(got) == 2 and all(isinstance(g, torch.Tensor) for g in got)):
            return plain(got, want)
        if got[0].shape != got[1].shape or not got[0].is_floating_point() or not got[1].is_floating_point():
            return plain(got, want)
        added, expected = got[0].double() - got[1].double(), want[0].double() - want[1].double()
        why = close(relative * scale_of(expected, 0.0))(added, expected)
        if why and added.shape == expected.shape and expected.abs().max() > 0:
            ratio = (added / expected).mean().item()
            return f"the noise added (step with noise z minus step with noise 0): {why}; on average {ratio:.4g} " \
                   "times sqrt(beta~_t) z, beta~_t = beta_t (1 - alpha_bar_(t-1)) / (1 - alpha_bar_t)"
        return f"the noise added (step with noise z minus step with noise 0): {why}" if why else None

    return compare


def noise_checks() -> list[Check]:
    checks = []
    for name, schedule in SCHEDULES.items():
        for step, shape in NOISE_STEPS:
            checks.append(step_check("test_ddpm_noise", f"ddpm_step with noise z and with noise 0, {name}, {at(step)}, "
                                     f"x_t {shape}", schedule, step, shape, noise_added(FLOAT32_SCHEDULE)))
        checks.append(step_check("test_ddpm_noise", f"the last step (t = 0) with noise z and with noise 0, {name}: "
                                 "both the mean, no noise added", schedule, "0", (3, 2, 4, 4), scaled(FLOAT32_SCHEDULE),
                                 dtype="torch.float32"))
    for step in (999, 10, 1, 0):
        checks.append(step_check("test_ddpm_noise", f"ddpm_step with noise z and with noise 0, linear schedule in "
                                 f"float64, t = {step}" + (": no noise added" if step == 0 else ""), FLOAT64_SCHEDULE,
                                 str(step), (2, 3, 4, 4), noise_added(1e-3) if step else scaled(1e-5)))
    return checks


# ---------------------------------------------------------------------------------------------------- part 3a
def cfg_checks() -> list[Check]:
    checks = []
    for shape in ((3, 4, 4, 4), (1, 2), (2, 1, 3, 3, 3)):
        for w in ("7.5", "0.0", "1.0", "2.0", "0.3", "-1.5", "torch.tensor(4.0)"):
            given = (f"{GEN}\neps_cond, eps_uncond = (3 * torch.randn({shape}, generator=gen) for _ in range(2))\n"
                     f"w = {w}")
            checks.append(Check("test_cfg_combine", f"cfg_combine, predictions {shape}, w = {w}",
                                "cfg_combine(eps_cond, eps_uncond, w)", given, scaled(1e-6, 1e-5)))
    checks.append(Check("test_cfg_combine", "cfg_combine, float64 predictions (2, 3), w = 3.0",
                        "cfg_combine(eps_cond, eps_uncond, 3.0)",
                        f"{GEN}\neps_cond, eps_uncond = (torch.randn(2, 3, generator=gen, dtype=torch.float64) "
                        "for _ in range(2))", scaled(1e-6, 1e-5)))
    checks.append(Check("test_cfg_combine", "cfg_combine, one pixel: eps_cond = 1, eps_uncond = 0.5, w = 7.5",
                        "cfg_combine(eps_cond, eps_uncond, 7.5)",
                        "eps_cond, eps_uncond = torch.tensor([1.0]), torch.tensor([0.5])", close(atol=1e-6)))
    return checks


# ---------------------------------------------------------------------------------------------------- part 3b
MODELS = '''\
def model_3d(x_t, t, context):
    # contexts (B, L, d): each image's output depends on its own x_t, t and context only
    assert len(x_t) == len(t) == len(context), "one x_t, one t and one context per image"
    return x_t * context.mean(dim=(1, 2)).view(-1, 1, 1, 1) + t.view(-1, 1, 1, 1) / 1000


def model_2d(x_t, t, context):
    # contexts (B, d): each image's output depends on its own x_t, t and context only
    assert len(x_t) == len(t) == len(context), "one x_t, one t and one context per image"
    return torch.sin(x_t * context.sum(dim=1).view(-1, *[1] * (x_t.dim() - 1))) + \\
        t.view(-1, *[1] * (x_t.dim() - 1)).float().sqrt()


def guided_run(model, x, t, context, null_context, w):
    # guided_predict with a model that counts the images it sees, and a stand-in for cfg_combine (in the namespace
    # guided_predict reads, put back afterwards) that records the guidance scale and returns its two inputs stacked
    images, scales = [], []

    def counting(x_t, t, context):
        images.append(len(x_t))
        return model(x_t, t, context)

    def stand_in(eps_cond, eps_uncond, guidance_scale):
        scales.append(float(guidance_scale))
        return torch.stack([eps_cond, eps_uncond])

    where = guided_predict.__globals__
    missing = object()
    yours = where.get("cfg_combine", missing)
    where["cfg_combine"] = stand_in
    try:
        out = guided_predict(counting, x, t, context, null_context, w)
    finally:
        if yours is missing:
            del where["cfg_combine"]
        else:
            where["cfg_combine"] = yours
    return {"out": out, "scales": tuple(scales), "images": tuple(images)}
'''


def guided(got, want) -> str | None:
    """{'out', 'scales', 'images'}: cfg_combine called once with w, its two arguments (the prediction with and
    without text), and at most 2 B images through the model; with w = 1, skipping cfg_combine and the prediction
    without text is fine (the prediction with text)."""
    plain = close(atol=1e-5, rtol=1e-6)
    if not isinstance(got, dict) or set(got) != {"out", "scales", "images"}:
        return plain(got, want)
    images, scales, w = got["images"], got["scales"], want["scales"][0]
    if not isinstance(images, tuple) or not all(type(n) is int for n in images) or \
            not isinstance(scales, tuple) or not all(type(s) is float for s in scales):
        return "cannot read what the model and cfg_combine were given"
    if sum(images) > sum(want["images"]):
        return (f"the model saw {sum(images)} images in {len(images)} calls; both predictions need at most "
                f"2 B = {sum(want['images'])} (one call on a batch of 2 B, or two calls of B)")
    if not scales:
        if w != 1.0:
            return f"guided_predict should return cfg_combine(eps_cond, eps_uncond, {w:g}); it never called cfg_combine"
        why = plain(got["out"], want["out"][0])
        return f"with w = 1 and no cfg_combine, the prediction with text: {why}" if why else None
    if scales != want["scales"]:
        return f"cfg_combine should be called once, with the guidance scale {w:g}; it was called with {list(scales)}"
    out = got["out"]
    why = plain(out, want["out"])
    if why is None:
        return None
    import torch

    if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(want["out"].shape):
        return f"guided_predict should return what cfg_combine returns: {why}"
    for i, which in enumerate(("first argument should be the prediction with text",
                               "second argument should be the prediction without text")):
        part = plain(out[i], want["out"][i])
        if part:
            return f"cfg_combine's {which}: {part}"
    return why


GUIDED = ((("model_3d", (4, 2, 3, 3), (4, 6, 5)), ("model_2d", (2, 3, 6, 6), (2, 7)), ("model_2d", (1, 5), (1, 3)),
           ("model_3d", (5, 3, 2, 2), (5, 1, 4))))


def guided_checks() -> list[Check]:
    checks = []
    for model, x_shape, context_shape in GUIDED:
        for w in ("3.0", "0.0", "torch.tensor(7.5)", "1.0"):
            given = (f"{MODELS}\n{GEN}\nx = torch.randn({x_shape}, generator=gen)\n"
                     f"t = torch.randint(0, 1000, ({x_shape[0]},), generator=gen)\n"
                     f"text = torch.randn({context_shape}, generator=gen) + 0.5\n"
                     f"null = torch.randn({context_shape}, generator=gen) - 0.5  # a learned 'no text', not zeros\n"
                     f"w = {w}")
            checks.append(Check("test_guided_predict", f"guided_predict, x_t {x_shape}, contexts {context_shape}, "
                                f"w = {w}", f"guided_run({model}, x, t, text, null, w)", given, guided))
    given = (f"{MODELS}\n{GEN}\nx = torch.randn(3, 1, 4, 4, generator=gen)\nt = torch.tensor([999, 500, 3])\n"
             "text, null = torch.randn(3, 5, 8, generator=gen) + 1.0, torch.zeros(3, 5, 8)")
    checks.append(Check("test_guided_predict", "guided_predict, x_t (3, 1, 4, 4), contexts (3, 5, 8), no text = zeros, "
                        "w = 7.5", "guided_run(model_3d, x, t, text, null, 7.5)", given, guided))
    return checks


# ---------------------------------------------------------------------------------------------------- part 4a
def kl_checks() -> list[Check]:
    checks = []
    for shape in ((5, 4, 8, 8), (3, 7), (2, 1, 3, 3, 2), (1, 6), (4, 2, 5)):
        for spread in ("0.1", "1.0", "3.0"):
            given = (f"{GEN}\nmu = 2 * torch.randn({shape}, generator=gen)\n"
                     f"logvar = {spread} * torch.randn({shape}, generator=gen)")
            checks.append(Check("test_kl_diag_gaussian", f"kl_diag_gaussian, mu and logvar {shape}, logvar = "
                                f"{spread} x N(0, 1)", "kl_diag_gaussian(mu, logvar)", given, scaled(1e-5, 1e-5)))
    checks.append(Check("test_kl_diag_gaussian", "kl_diag_gaussian, float64 mu and logvar (3, 2, 4)",
                        "kl_diag_gaussian(mu, logvar)",
                        f"{GEN}\nmu, logvar = (torch.randn(3, 2, 4, generator=gen, dtype=torch.float64)\n"
                        "              for _ in range(2))",
                        scaled(1e-6, 1e-6)))
    return checks


# ---------------------------------------------------------------------------------------------------- part 4b
REPARAM_RUN = '''\
def reparameterise_run(mu, logvar, weights, seed):
    # z, the gradients of sum(weights * z) with respect to mu and logvar, and z again from the same seed
    mu_, logvar_ = mu.clone().requires_grad_(True), logvar.clone().requires_grad_(True)
    z = reparameterise(mu_, logvar_, torch.Generator().manual_seed(seed))
    (weights * z).sum().backward()
    again = reparameterise(mu.clone(), logvar.clone(), torch.Generator().manual_seed(seed))
    return (mu, logvar, weights, z.detach(), mu_.grad, logvar_.grad, again)
'''
SAME = close(atol=1e-6)  # the very result compared with (a classic mistake is recognised by its result)
Z = 6.0  # a statistic more than 6 standard errors off is wrong: a right answer fails once in ~10^9 runs


def reparameterised(got, want) -> str | None:
    """(mu, logvar, weights, z, grad mu, grad logvar, z again): right when z = mu + exp(logvar / 2) eps with eps
    standard normal, the gradients are weights and weights (z - mu) / 2, and the same seed gives the same z; or
    when it is want's very result. The inputs are the solution run's (want), never the student's."""
    if SAME(got, want) is None:
        return None
    if isinstance(got, (Raised, Unsupported)) or isinstance(want, (Raised, Unsupported)):
        return SAME(got, want)
    why = _reparameterised(got, want)
    if why is None and _reparameterised(want, want) is not None:  # want is a classic mistake's result
        return "not the result it is compared with"
    return why


def _reparameterised(got, want) -> str | None:
    import torch

    if not isinstance(got, tuple) or len(got) != 7:
        return "cannot read the results"
    mu, logvar, weights = (w.double() for w in want[:3])
    z, grad_mu, grad_logvar, again = got[3:]
    if not isinstance(z, torch.Tensor) or tuple(z.shape) != tuple(mu.shape) or not z.is_floating_point():
        return f"z should be a float tensor shaped like mu {tuple(mu.shape)}"
    z = z.double()
    if not torch.isfinite(z).all():
        return "z holds NaN or infinite values: sigma = exp(logvar / 2) is defined for every logvar"
    if not isinstance(again, torch.Tensor) or tuple(again.shape) != tuple(z.shape) or \
            not torch.equal(again.double(), z):
        return "the same seed should give the same z: draw eps from the generator"
    if not isinstance(grad_mu, torch.Tensor) or not isinstance(grad_logvar, torch.Tensor):
        return "no gradient reached mu or logvar"
    if grad_mu.abs().max() == 0 and grad_logvar.abs().max() == 0:
        return "the gradients reaching mu and logvar are zero: z was sampled, not computed as mu + sigma * eps"
    scale = weights.abs().max().item()
    if tuple(grad_mu.shape) != tuple(mu.shape) or not torch.allclose(grad_mu.double(), weights, atol=1e-5 * scale):
        return "the gradient of z with respect to mu should be 1 for every number"
    expected = 0.5 * (z - mu) * weights
    if tuple(grad_logvar.shape) != tuple(mu.shape) or \
            not torch.allclose(grad_logvar.double(), expected, rtol=1e-4, atol=1e-5 * max(1.0, scale)):
        ratio = (grad_logvar.double() / expected).nanmean().item() if tuple(grad_logvar.shape) == tuple(mu.shape) \
            else math.nan
        return f"the gradient of z with respect to logvar should be (z - mu) / 2 = sigma eps / 2 (on average yours " \
               f"is {ratio:.3g} times that): sigma = exp(logvar / 2)"
    eps = ((z - mu) / (0.5 * logvar).exp()).flatten()
    n = eps.numel()
    if n >= 1000 and (abs(eps.mean().item()) > Z / math.sqrt(n) or abs(eps.std().item() - 1) > Z / math.sqrt(2 * n)):
        return f"(z - mu) / sigma has mean {eps.mean().item():.3f} and standard deviation {eps.std().item():.3f}; " \
               "eps should be standard normal (torch.randn) and sigma = exp(logvar / 2)"
    return None


def reparameterise_checks() -> list[Check]:
    checks = []
    for shape, dtype in (((8, 4, 8, 8), "torch.float32"), ((3, 5), "torch.float32"),
                         ((2, 1, 3, 3, 2), "torch.float32"), ((200, 6), "torch.float64"), ((1, 4), "torch.float64")):
        given = (f"{REPARAM_RUN}\n{GEN}\nmu = 2 * torch.randn({shape}, generator=gen, dtype={dtype})\n"
                 f"logvar = 4 * torch.rand({shape}, generator=gen, dtype={dtype}) - 3  # sigma from 0.22 to 1.6\n"
                 f"weights = torch.randn({shape}, generator=gen, dtype={dtype})  # a loss sum(weights * z)")
        checks.append(Check("test_reparameterise", f"reparameterise, mu and logvar {shape}, {dtype.split('.')[1]}: z, "
                            "its gradients, and z again from the same seed",
                            "reparameterise_run(mu, logvar, weights, SEED)", given, reparameterised))
    return checks


# ---------------------------------------------------------------------------------------------------- mistakes
Q_SAMPLE = "    return alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise"
RESHAPE = "    alpha_bar = alpha_bar.view(-1, *[1] * (x0.dim() - 1))    # (B, 1, 1, ...): broadcasts over each image\n"
LAST_STEP = ("    if t == 0:\n        return mean                                                 "
             "# the finished image: no noise at the last step\n")
CFG = "eps_uncond + guidance_scale * (eps_cond - eps_uncond)"
KL = "mu ** 2 + logvar.exp() - logvar - 1"
STD = "std = (0.5 * logvar).exp()"
TRICK = ("    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype)  # the randomness, free of parameters\n"
         "    return mu + std * eps                                             "
         "# a formula: gradients reach mu and std")  # the two lines that make the trick

# Rules of the intro: not course_lib.diffusion's q_sample, ddpm_step, guided_noise or samplers, nor diffusers'
# schedulers (the schedules are fine).
COURSE = ("q_sample", "ddpm_step", "ddim_step", "guided_noise", "ddpm_sample", "ddim_sample", "img2img")
DIFFUSERS = ("diffusers", "schedulers", "scheduling_ddpm", "scheduling_ddim", "DDPMScheduler", "DDIMScheduler",
             "DDPMParallelScheduler", "DDIMParallelScheduler", "DDPMWuerstchenScheduler", "SchedulerMixin", "add_noise")
WHY = "not course_lib.diffusion's q_sample, ddpm_step, guided_noise or samplers, nor diffusers' schedulers"
VAE = ("distributions", "Normal", "Independent", "MultivariateNormal", "kl_divergence", "rsample", "models", "vae")
WHY_VAE = "not torch.distributions, nor course_lib.models.vae"

TABLE = Table(
    assignment="diffusion",
    checks=[*q_sample_checks(), *mean_checks(), *noise_checks(), *cfg_checks(), *guided_checks(), *kl_checks(),
            *reparameterise_checks()],
    mistakes={
        "q-no-sqrt": Mistake(
            "q_sample", ((Q_SAMPLE, "    return alpha_bar * x0 + (1 - alpha_bar) * noise"),),
            frozenset({"test_q_sample"}),
            "The coefficients are the square roots sqrt(alpha_bar_t) and sqrt(1 - alpha_bar_t), not alpha_bar_t and "
            "1 - alpha_bar_t: take .sqrt() of both."),
        "q-coefficients-swapped": Mistake(
            "q_sample", ((Q_SAMPLE, "    return (1 - alpha_bar).sqrt() * x0 + alpha_bar.sqrt() * noise"),),
            frozenset({"test_q_sample"}),
            "The coefficients are swapped: the image x0 is multiplied by sqrt(alpha_bar_t) and the noise by "
            "sqrt(1 - alpha_bar_t) (at large t almost nothing of the image is left)."),
        "q-cumulative-product-again": Mistake(
            "q_sample", (("alpha_bars.to(x0.device)[t]", "alpha_bars.cumprod(0).to(x0.device)[t]"),),
            frozenset({"test_q_sample"}),
            "alpha_bars already holds the cumulative products alpha_bar_t: index it with t directly, without "
            "another cumprod."),
        "q-not-reshaped": Mistake(
            "q_sample", ((RESHAPE, ""),), frozenset({"test_q_sample"}),
            "alpha_bars[t] has shape (B,) and lines up with the last dimension of x0, not with the batch: reshape "
            "it to (B, 1, 1, ...) with .view(-1, *[1] * (x0.dim() - 1)) before multiplying."),
        "ddpm-alpha-bar-in-the-mean": Mistake(
            "ddpm_step", (("/ alpha.sqrt()", "/ alpha_bar.sqrt()"),), frozenset({"test_ddpm_mean"}),
            "The mean undoes the shrinking of one step only: divide by sqrt(alpha_t), not by sqrt(alpha_bar_t)."),
        "ddpm-alpha-in-the-noise-share": Mistake(
            "ddpm_step", (("beta / (1 - alpha_bar).sqrt()", "beta / (1 - alpha).sqrt()"),), frozenset({"test_ddpm_mean"}),
            "eps stands for all the noise in x_t, so the share removed is beta_t / sqrt(1 - alpha_bar_t), with the "
            "bar, not beta_t / sqrt(1 - alpha_t)."),
        "ddpm-variance-not-sqrt": Mistake(
            "ddpm_step", (("variance.sqrt() * noise", "variance * noise"),), frozenset({"test_ddpm_noise"}),
            "beta~_t is a variance: multiply the noise by its square root, sqrt(beta~_t) * noise."),
        "ddpm-beta-not-beta-tilde": Mistake(
            "ddpm_step", (("variance = beta * (1 - alpha_bars[t - 1]) / (1 - alpha_bar)", "variance = beta"),),
            frozenset({"test_ddpm_noise"}),
            "The exercise asks for the posterior variance beta~_t = beta_t (1 - alpha_bar_(t-1)) / (1 - alpha_bar_t), "
            "not beta_t."),
        "ddpm-noise-at-t0": Mistake(
            "ddpm_step", ((LAST_STEP, ""),), frozenset({"test_ddpm_noise"}),
            "At t = 0 return the mean and add no noise: alpha_bars[t - 1] at t = 0 is the last alpha_bar (almost 0), "
            "not alpha_bar_(-1) = 1."),
        "cfg-wrong-branch": Mistake(
            "cfg_combine", ((CFG, "eps_cond + guidance_scale * (eps_uncond - eps_cond)"),), frozenset({"test_cfg_combine"}),
            "Guidance starts from the prediction without text and moves towards the one with text: "
            "eps_uncond + w (eps_cond - eps_uncond), not eps_cond + w (eps_uncond - eps_cond)."),
        "cfg-without-w": Mistake(
            "cfg_combine", ((CFG, "eps_uncond + (eps_cond - eps_uncond)"),), frozenset({"test_cfg_combine"}),
            "The guidance scale is missing: multiply the difference (eps_cond - eps_uncond) by guidance_scale."),
        "cfg-in-place": Mistake(
            "cfg_combine", ((CFG, "eps_uncond.add_(guidance_scale * (eps_cond - eps_uncond))"),),
            frozenset({"test_cfg_combine"}),
            "The value is right, but add_ changes eps_uncond in place (the caller's tensor): use + to make a new "
            "tensor and leave the inputs untouched."),
        "guided-swapped": Mistake(
            "guided_predict", (("eps_cond, eps_uncond = both.chunk(2)", "eps_uncond, eps_cond = both.chunk(2)"),),
            frozenset({"test_guided_predict"}),
            "The two predictions are swapped: .chunk(2) gives the halves in the order you concatenated them, the "
            "context's half (with text) first, then the null context's."),
        "guided-text-twice": Mistake(
            "guided_predict", (("torch.cat([context, null_context])", "torch.cat([context, context])"),),
            frozenset({"test_guided_predict"}),
            "Both predictions were made with the text: the second half of the batch must get null_context, the "
            "'no text' conditioning."),
        "guided-t-not-repeated": Mistake(
            "guided_predict", (("torch.cat([t, t])", "t"),), frozenset({"test_guided_predict"}),
            "With one call on a batch of 2 B images the model needs 2 B steps too: repeat t (torch.cat([t, t])) "
            "as you repeat x_t and the contexts."),
        "kl-missing-half": Mistake(
            "kl_diag_gaussian", (("0.5 * (" + KL, "(" + KL),), frozenset({"test_kl_diag_gaussian"}),
            "The factor 1/2 is missing: KL = 1/2 sum(mu^2 + sigma^2 - log sigma^2 - 1)."),
        "kl-logvar-as-variance": Mistake(
            "kl_diag_gaussian", ((KL, "mu ** 2 + logvar - logvar.log() - 1"),), frozenset({"test_kl_diag_gaussian"}),
            "logvar is log sigma^2, not sigma^2: sigma^2 = exp(logvar) and log sigma^2 = logvar itself."),
        "kl-mean-over-latents": Mistake(
            "kl_diag_gaussian", ((".sum(dim=1)", ".mean(dim=1)"),), frozenset({"test_kl_diag_gaussian"}),
            "The KL of an example is the sum over its latent numbers (the ELBO adds them all), not their mean."),
        "reparam-variance-as-std": Mistake(
            "reparameterise", ((STD, "std = logvar.exp()"),), frozenset({"test_reparameterise"}),
            "exp(logvar) is the variance sigma^2: the standard deviation is exp(logvar / 2) (the 1/2 is missing)."),
        "reparam-logvar-as-variance": Mistake(
            "reparameterise", ((STD, "std = logvar.sqrt()"),), frozenset({"test_reparameterise"}),
            "logvar is log sigma^2, not sigma^2: sigma = exp(logvar / 2), which is defined for every logvar."),
        "reparam-no-trick": Mistake(
            "reparameterise", ((TRICK, "    return torch.normal(mu, std, generator=generator)"),),
            frozenset({"test_reparameterise"}),
            "torch.normal draws the right numbers but passes a gradient of zero back to mu and std: write the "
            "sample as a formula, mu + std * eps with eps = torch.randn(..., generator=generator)."),
    },
    forbid=[
        Forbid(part, COURSE + DIFFUSERS, cell, WHY)
        for part, cell in (("test_q_sample", "q_sample"), ("test_ddpm_mean", "ddpm_step"),
                           ("test_ddpm_noise", "ddpm_step"), ("test_cfg_combine", "cfg_combine"),
                           ("test_guided_predict", "guided_predict"))
    ] + [Forbid(part, VAE, cell, WHY_VAE) for part, cell in (("test_kl_diag_gaussian", "kl_diag_gaussian"),
                                                             ("test_reparameterise", "reparameterise"))],
)
