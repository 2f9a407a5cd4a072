"""Exercise 2 (denoising): what the trusted checker runs, the classic mistakes, and the rules it reads.

The noise functions are random, so their results are not compared with the solution's number for number (a right
answer drawing its random numbers in another order must pass): the probe sends the raw noisy images back and the
comparisons below compute the statistics here, on the trusted side, from those images and from the clean inputs
the solution's run sends (`want`), never from a statistic the student's kernel computed. The random checks seed
the global generator too, so that a classic mistake (its result) is the same in every run and can be recognised.
A result equal to the one compared with is always right: that is how a classic mistake is recognised, and the
solution's own result has every property. Part 6 compares the PSNR of the student's trained DAE on fresh noisy
test digits with that of the noisy digits themselves, both computed here.

The table needs the training cell, so the reference run trains the DAE again for the solution and for every classic
mistake (about 3 s each): the list keeps the most common mistake of each part and the three of part 5.
"""

import math

import torch

from classgrade.table import Check, Forbid, Mistake, Raised, Table, Unsupported, close, equal

SAME = close(atol=1e-6)  # the very result compared with (a classic mistake is recognised by its result)
SHAPE = close(atol=math.inf)  # the same structure, shapes and kinds of numbers; values not compared
Z = 6.0  # a statistic is wrong when more than 6 standard errors away: a right answer fails once in ~10^9 runs


def judged(properties):
    """Right when `properties(got, want)` finds nothing wrong, or when got is want's very result. When want is a
    wrong result itself (a classic mistake: its properties do not hold), only that very result matches it."""

    def compare(got, want):
        if SAME(got, want) is None:
            return None
        if isinstance(got, (Raised, Unsupported)) or isinstance(want, (Raised, Unsupported)):
            return SAME(got, want)
        why = SHAPE(got, want) or properties(got, want)
        if why is None and not right(want):
            return "not the result it is compared with"
        return why

    def right(want) -> bool:
        try:
            return properties(want, want) is None
        except Exception:  # noqa: BLE001 (a classic mistake's result the properties cannot even read)
            return False

    return compare


def normal_cdf(z):
    return 0.5 * (1.0 + torch.special.erf(z / math.sqrt(2.0)))


def off(observed: float, expected: float, error: float) -> bool:
    return abs(observed - expected) > Z * error + 1e-12


# Part 1: Gaussian noise -------------------------------------------------------------------------------------

def gaussian_statistics(got, want):
    """(x, sigma, noisy): noisy - x is i.i.d. N(0, sigma^2) (x is far from 0 and 1: no clipping)."""
    x, sigma = want[0].double(), want[1]
    z = ((got[2].double() - x) / sigma).flatten(1)  # standard normal, one row per image
    n = z.numel()
    mean, std = z.mean().item(), z.std().item()
    if off(mean, 0.0, 1 / math.sqrt(n)) or off(std, 1.0, 1 / math.sqrt(2 * n)):
        return f"sigma={sigma:.4f}: the noise (noisy - x) has mean {mean * sigma:.4f} and standard deviation " \
               f"{std * sigma:.4f}, it should have mean 0 and standard deviation sigma"
    for k, p in ((1.0, 0.682689), (2.0, 0.954500)):
        inside = (z.abs() < k).double().mean().item()
        if off(inside, p, math.sqrt(p * (1 - p) / n)):
            return f"sigma={sigma:.4f}: {inside:.3f} of the noise values lie within {k:g} sigma of 0, a Gaussian " \
                   f"has {p:.3f} there: draw standard normal numbers (torch.randn)"
    for name, a, b in (("neighbouring pixels", z[:, 1:], z[:, :-1]), ("consecutive images", z[1:], z[:-1])):
        correlation = (a * b).mean().item()
        if off(correlation, 0.0, 1 / math.sqrt(a.numel())):
            return f"the noise of {name} is correlated ({correlation:.3f}): draw an independent number per pixel"
    return None


def gaussian_clipping(got, want):
    """(x, sigma, noisy), sigma large: in [0, 1], and as many pixels clipped to exactly 0 and 1 as expected."""
    x, sigma, y = want[0].double(), want[1], got[2].double()
    if y.min() < 0 or y.max() > 1:
        return f"values from {y.min().item():.3f} to {y.max().item():.3f}: the noisy image must be clipped back " \
               "to [0, 1]"
    if ((y - x).abs() > 7 * sigma).any():
        return "some pixels moved more than 7 sigma away from their clean value"
    for value, p in ((0.0, normal_cdf(-x / sigma)), (1.0, normal_cdf((x - 1) / sigma))):
        observed, expected = (y == value).double().mean().item(), p.mean().item()
        if off(observed, expected, math.sqrt((p * (1 - p)).mean().item() / y.numel())):
            return f"sigma={sigma:.3f}: {observed:.3f} of the pixels are exactly {value:g}, expected about " \
                   f"{expected:.3f} for x + sigma * (standard normal noise), clipped to [0, 1]"
    return None


def reproducible(got, want):
    """(a, b, c): a and b drawn with generators seeded alike after different global seeds, c with another seed."""
    if not torch.equal(got[0], got[1]):
        return "two generators seeded alike gave different results: the result depends on the global random " \
               "state, pass generator=generator to every random call"
    if torch.equal(got[0], got[2]):
        return "two different generator seeds gave the same result"
    return None


def draws(function: str, args: str, shape: tuple[int, ...]) -> str:
    """`given` code: a random input x, then a function drawing twice with one generator seed, once with another."""
    return f"""\
x = torch.rand({", ".join(map(str, shape))}, generator=torch.Generator().manual_seed(SEED))
def draws():
    torch.manual_seed(SEED + 1)
    a = {function}(x, {args}, torch.Generator().manual_seed(SEED))
    torch.manual_seed(SEED + 2)
    b = {function}(x, {args}, torch.Generator().manual_seed(SEED))
    torch.manual_seed(SEED + 3)
    c = {function}(x, {args}, torch.Generator().manual_seed(SEED + 4))
    return a, b, c"""


SEEDED = "torch.manual_seed(SEED)\ngen = torch.Generator().manual_seed(SEED)\n"

GAUSSIAN = [
    Check("test_gaussian_noise", "gaussian_noise on 10,000 pixels from 0.31 to 0.69, sigma from 0.03 to 0.06: the "
          "noise's mean, standard deviation, distribution and independence", "noisy()", SEEDED + """\
def noisy():
    x = (5 + torch.randint(0, 7, (50, 200), generator=gen)) / 16
    sigma = 0.03 + 0.03 * torch.rand((), generator=gen).item()
    return x, sigma, gaussian_noise(x, sigma, gen)""", judged(gaussian_statistics)),
    Check("test_gaussian_noise", "gaussian_noise on 10,000 pixels from 0 to 1, sigma from 0.5 to 1: clipped to [0, 1]",
          "noisy()", SEEDED + """\
def noisy():
    x = torch.randint(0, 17, (25, 20, 20), generator=gen) / 16
    sigma = 0.5 + 0.5 * torch.rand((), generator=gen).item()
    return x, sigma, gaussian_noise(x, sigma, gen)""", judged(gaussian_clipping)),
    Check("test_gaussian_noise", "gaussian_noise(x, 0.3) on x (10, 64) with generators seeded alike (after different "
          "global seeds) and with different seeds; x unchanged", "draws()",
          draws("gaussian_noise", "0.3", (10, 64)), judged(reproducible)),
]


# Part 2: salt and pepper ------------------------------------------------------------------------------------

def salt_and_pepper_fraction(fraction: float):
    """The noisy version of a grey (0.5) image: pixels 0, 0.5 or 1; a fraction `fraction` hit, half of them white."""

    def properties(got, want):
        y = got.double()
        if not ((y == 0) | (y == 0.5) | (y == 1)).all():
            return "hit pixels must become exactly 0 or 1, the others keep their value"
        hit = y != 0.5
        observed = hit.double().mean().item()
        if off(observed, fraction, math.sqrt(fraction * (1 - fraction) / y.numel())):
            return f"fraction={fraction}: {observed:.3f} of the pixels were hit, expected about {fraction} " \
                   "(in total, white and black together)"
        white = (y[hit] == 1).double().mean().item()
        if off(white, 0.5, math.sqrt(0.25 / max(int(hit.sum()), 1))):
            return f"fraction={fraction}: {white:.3f} of the hit pixels are white, half of them should be"
        return None

    return judged(properties)


def salt_and_pepper_kept(got, want):
    """(x, noisy): every pixel is 0, 1 or its clean value, and about 30% were hit."""
    x, y = want[0].double(), got[1].double()
    kept = (y != 0) & (y != 1)
    if not torch.equal(y[kept], x[kept]):
        return "a pixel that is not hit should keep its clean value"
    hit = (y != x).double().mean().item()
    if off(hit, 0.3, math.sqrt(0.21 / y.numel())):
        return f"fraction=0.3: {hit:.3f} of the pixels were hit"
    return None


SALT_AND_PEPPER = [
    *(Check("test_salt_and_pepper", f"salt_and_pepper on 20,000 grey pixels, fraction={f}",
            f"salt_and_pepper(torch.full((50, 20, 20), 0.5), {f}, gen)", SEEDED, salt_and_pepper_fraction(f))
      for f in (0.05, 0.3, 0.7)),
    Check("test_salt_and_pepper", "salt_and_pepper(x, 0.3) on random images (20, 8, 8): untouched pixels unchanged, "
          "x unchanged", "(x, salt_and_pepper(x, 0.3, gen))", SEEDED + "x = torch.rand(20, 8, 8, generator=gen)",
          judged(salt_and_pepper_kept)),
    Check("test_salt_and_pepper", "salt_and_pepper(x, 0.3) on x (20, 8, 8) with generators seeded alike (after "
          "different global seeds) and with different seeds", "draws()",
          draws("salt_and_pepper", "0.3", (20, 8, 8)),
          judged(reproducible)),
]


# Part 3: an occluding block ---------------------------------------------------------------------------------

def blocks(painted, size: int):
    """(why not one size x size square per image, tops, lefts) of a boolean (n, h, w) mask."""
    if not (painted.sum(dim=(1, 2)) == size * size).all():
        return f"each image should have exactly size * size = {size * size} pixels painted with `value`", None, None
    rows, cols = painted.any(dim=2), painted.any(dim=1)
    if not ((rows.sum(1) == size) & (cols.sum(1) == size)).all():
        return "the painted pixels of an image should form one size x size square", None, None
    tops, lefts = rows.double().argmax(1), cols.double().argmax(1)
    last_rows = rows.shape[1] - 1 - rows.flip(1).double().argmax(1)
    last_cols = cols.shape[1] - 1 - cols.flip(1).double().argmax(1)
    if not ((last_rows - tops == size - 1) & (last_cols - lefts == size - 1)).all():
        return "the painted pixels of an image should form one size x size square", None, None
    return None, tops.long(), lefts.long()


def occlude_grey(size: int, value: float):
    """Blocks painted on grey (0.5) images: one square per image, every position possible and about as frequent."""

    def properties(got, want):
        y = got.double()
        n, height, width = y.shape
        if not ((y == 0.5) | (y == value)).all():
            return f"pixels should be {value:g} (in the block) or keep their value 0.5"
        why, tops, lefts = blocks(y == value, size)
        if why:
            return why
        for name, found, extent, limit in (("top row", tops, "height", height - size),
                                           ("left column", lefts, "width", width - size)):
            if set(found.tolist()) != set(range(limit + 1)):
                return f"the block's {name} took the values {sorted(set(found.tolist()))}, it should take every " \
                       f"value from 0 to {extent} - size = {limit}"
            counts, p = torch.bincount(found, minlength=limit + 1).double(), 1 / (limit + 1)
            if (counts - n * p).abs().max().item() > Z * math.sqrt(n * p * (1 - p)):
                return f"the block's {name} is not uniform over 0 to {limit}: counts {counts.long().tolist()}"
        return None

    return judged(properties)


def occlude_random(got, want):
    """(images, blocked) with random images in [0, 1) and value 1: one 3x3 square each, the rest unchanged."""
    x, y = want[0].double(), got[1].double()
    painted = y == 1.0
    why, _, _ = blocks(painted, 3)
    if why:
        return why
    if not torch.equal(y[~painted], x[~painted]):
        return "every pixel outside the block should keep its value"
    return None


OCCLUDE = [
    Check("test_occlude_block", "occlude_block(images, 4, value=0.0) on 300 grey images 7 x 10",
          "occlude_block(torch.full((300, 7, 10), 0.5), 4, gen, value=0.0)", SEEDED, occlude_grey(4, 0.0)),
    Check("test_occlude_block", "occlude_block(images, 2) (value by default) on 200 grey images 9 x 5",
          "occlude_block(torch.full((200, 9, 5), 0.5), 2, gen)", SEEDED, occlude_grey(2, 1.0)),
    Check("test_occlude_block", "occlude_block(images, 5, value=0.25) on 100 grey images 5 x 8 (as tall as the block)",
          "occlude_block(torch.full((100, 5, 8), 0.5), 5, gen, value=0.25)", SEEDED, occlude_grey(5, 0.25)),
    Check("test_occlude_block", "occlude_block(images, 3) on random images (20, 8, 8): the rest unchanged, the "
          "images unchanged", "(images, occlude_block(images, 3, gen))",
          SEEDED + "images = torch.rand(20, 8, 8, generator=gen)", judged(occlude_random)),
    Check("test_occlude_block", "occlude_block(x, 3) on x (20, 8, 8) with generators seeded alike (after different "
          "global seeds) and with different seeds", "draws()",
          draws("occlude_block", "3", (20, 8, 8)), judged(reproducible)),
]


# Part 4: PSNR -----------------------------------------------------------------------------------------------

FLOAT = "number = lambda r: float(r) if isinstance(r, float) else r  # a float subclass (numpy's) is a float\n"


def psnr_pair(max_value: float) -> str:
    return FLOAT + f"""\
gen = torch.Generator().manual_seed(SEED)
a = torch.rand(5, 9, 9, generator=gen) * {max_value}
b = (a + torch.randn(5, 9, 9, generator=gen) * 0.1 * {max_value}).clamp(0, {max_value})"""


PSNR = [
    Check("test_psnr", "psnr(zeros, 0.1 everywhere): an MSE of 0.01 is 20 dB", "number(psnr(torch.zeros(2, 4), "
          "torch.full((2, 4), 0.1)))", FLOAT, close(atol=1e-3)),
    *(Check("test_psnr", f"psnr(a, b, max_value={m}) on images (5, 9, 9) in [0, {m}]",
            f"number(psnr(a, b, max_value={m}))", psnr_pair(m), close(atol=1e-3)) for m in (1.0, 255.0, 2.0)),
    Check("test_psnr", "psnr(a, b) and psnr(b, a) on rows (3, 64), max_value by default",
          "(number(psnr(a, b)), number(psnr(b, a)))",
          FLOAT + "gen = torch.Generator().manual_seed(SEED)\na, b = torch.rand(3, 64, generator=gen), "
                  "torch.rand(3, 64, generator=gen)", close(atol=1e-3)),
]


# Part 5: one denoising step ---------------------------------------------------------------------------------

def step(features: int, batch: int, optimizer: str, lr: float) -> str:
    return FLOAT + f"""\
gen = torch.Generator().manual_seed(SEED)
torch.manual_seed(SEED)
model = nn.Sequential(nn.Linear({features}, 16), nn.Tanh(), nn.Linear(16, {features}), nn.Sigmoid())
optimizer = torch.optim.{optimizer}(model.parameters(), lr={lr})
for parameter in model.parameters():
    parameter.grad = torch.ones_like(parameter)  # stale gradients of an earlier step: to be cleared
del parameter
clean = torch.rand({batch}, {features}, generator=gen)
offset = torch.rand({batch}, {features}, generator=gen) * 0.5
noise_fn = lambda batch: (batch + offset).clamp(0, 1)  # a fixed corruption: the solution's run repeats it"""


STEP_CALL = "(number(denoising_step(model, optimizer, clean, noise_fn)), " \
            "tuple(p.detach().clone() for p in model.parameters()))"

STEP = [
    Check("test_denoising_step", f"denoising_step with {optimizer}, lr {lr}, {d} features, batch {b} (stale "
          "gradients left by an earlier step): the loss returned and the parameters after the step",
          STEP_CALL, step(d, b, optimizer, lr), close(atol=1e-6, rtol=1e-5))
    for optimizer, lr, d, b in (("SGD", 0.5, 12, 8), ("SGD", 0.3, 20, 16), ("Adam", 0.01, 10, 6))
]


# Part 6: the DAE beats doing nothing ------------------------------------------------------------------------

def psnr_db(x, x_hat) -> float:
    mse = ((x.double() - x_hat.double()) ** 2).mean().item()
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def beats_doing_nothing(got, want):
    """(clean, noisy at 0.3, DAE output, noisy at 0.4, DAE output): the DAE's PSNR above the noisy digits'."""
    if not all(torch.equal(got[i], want[i]) for i in (0, 1, 3)):
        return "the test digits or their noisy versions are not what the checker made (was x_test changed?)"
    for sigma, i in ((0.3, 1), (0.4, 3)):
        nothing, yours = psnr_db(want[0], want[i]), psnr_db(want[0], got[i + 1])
        if not yours > nothing:
            return f"sigma={sigma}: PSNR of the DAE's output {yours:.2f} dB, of the noisy digits (doing nothing) " \
                   f"{nothing:.2f} dB"
    return None


DENOISE = """\
def denoised():
    gen = torch.Generator().manual_seed(SEED)
    clean = x_test[torch.randperm(len(x_test), generator=gen)[:180]]
    results = [clean]
    for sigma in (0.3, 0.4):
        noisy = (clean + sigma * torch.randn(clean.shape, generator=gen)).clamp(0, 1)
        with torch.no_grad():
            results += [noisy, dae(noisy)]
    return tuple(results)"""

DAE = [
    Check("test_dae_beats_doing_nothing", "your trained DAE on 180 test digits with fresh Gaussian noise, sigma = 0.3 "
          "and 0.4: a higher PSNR than the noisy digits (doing nothing)", "denoised()", DENOISE,
          judged(beats_doing_nothing)),
]


# The rules ---------------------------------------------------------------------------------------------------

COURSE_LIB = ("course_lib.noise", "course_lib.metrics", "gaussian_noise", "salt_and_pepper_noise", "block_noise",
              "add_noise", "NOISES", "denoising_loss", "denoising_psnr", "psnr", "reconstruction_mse")
RULE = "the rules: don't use course_lib.noise or course_lib.metrics in your answers"

TABLE = Table(
    assignment="denoising",
    checks=[*GAUSSIAN, *SALT_AND_PEPPER, *OCCLUDE, *PSNR, *STEP, *DAE,
            Check("test_quiz", "the quiz", "quiz_answer", "", equal)],
    needs=("train_dae",),
    mistakes={
        "gaussian-no-clip": Mistake(
            "gaussian_noise", ((".clamp(0.0, 1.0)", ""),), frozenset({"test_gaussian_noise"}),
            "The noisy pixels leave [0, 1]: clip the result back to the pixel range (`.clamp(0.0, 1.0)`)."),
        "gaussian-global-generator": Mistake(
            "gaussian_noise", (("torch.randn(x.shape, generator=generator)", "torch.randn_like(x)"),),
            frozenset({"test_gaussian_noise"}),
            "Your noise comes from the global random state, not from `generator`: use "
            "torch.randn(x.shape, generator=generator) (torch.randn_like takes no generator)."),
        "salt-and-pepper-twice": Mistake(
            "salt_and_pepper", (("    hit = torch.rand(x.shape, generator=generator) < fraction\n"
                                 "    white = torch.rand(x.shape, generator=generator) < 0.5\n"
                                 "    return torch.where(hit, white.to(x.dtype), x)",
                                 "    u = torch.rand(x.shape, generator=generator)\n"
                                 "    out = x.clone()\n"
                                 "    out[u < fraction] = 0.0\n"
                                 "    out[u > 1 - fraction] = 1.0\n"
                                 "    return out"),),
            frozenset({"test_salt_and_pepper"}),
            "You made a fraction `fraction` of the pixels black and another `fraction` white: pick each pixel with "
            "probability `fraction` in total, then make each picked pixel white or black with probability 1/2."),
        "occlude-misses-last-position": Mistake(
            "occlude_block", (("height - size + 1", "height - size"), ("width - size + 1", "width - size")),
            frozenset({"test_occlude_block"}),
            "The block never touches the bottom or right edge: torch.randint(low, high) never returns high, so draw "
            "the top from randint(0, height - size + 1) and the left from randint(0, width - size + 1)."),
        "psnr-max-not-squared": Mistake(
            "psnr", (("max_value**2 / mse", "max_value / mse"),), frozenset({"test_psnr"}),
            "The peak enters squared: PSNR = 10·log10(MAX² / MSE) (it only looked right with MAX = 1)."),
        "step-noisy-target": Mistake(
            "denoising_step", (("model(noisy), clean_batch)", "model(noisy), noisy)"),),
            frozenset({"test_denoising_step"}),
            "Your loss compares the output with the noisy batch, which trains a plain autoencoder: the target is "
            "the clean batch, F.mse_loss(model(noisy), clean_batch)."),
        "step-clean-input": Mistake(
            "denoising_step", (("model(noisy), clean_batch)", "model(clean_batch), clean_batch)"),),
            frozenset({"test_denoising_step"}),
            "You gave the model the clean batch: corrupt it first and feed the noisy batch, "
            "F.mse_loss(model(noise_fn(clean_batch)), clean_batch)."),
        "step-no-zero-grad": Mistake(
            "denoising_step", (("    optimizer.zero_grad()\n", ""),),
            frozenset({"test_denoising_step", "test_dae_beats_doing_nothing"}),
            "You did not clear the gradients of the previous step, so they add up: call optimizer.zero_grad() "
            "before loss.backward()."),
    },
    forbid=[Forbid(part, COURSE_LIB, cell, RULE) for part, cell in (
        ("test_gaussian_noise", "gaussian_noise"), ("test_salt_and_pepper", "salt_and_pepper"),
        ("test_occlude_block", "occlude_block"), ("test_psnr", "psnr"), ("test_denoising_step", "denoising_step"))],
)
