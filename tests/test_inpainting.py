"""RePaint-style inpainting (course_lib.inpainting): the kept region ends as the original; the model fills the hole."""

import pytest
import torch

from course_lib.diffusion import linear_schedule
from course_lib.inpainting import inpaint

SCHEDULE = linear_schedule(1000)


def oracle(target: torch.Tensor):
    """A perfect noise predictor for data that is always `target` (1, C, H, W): (x_t - sqrt(ab) x0) / sqrt(1 - ab)."""

    def predict(x_t, t, context):
        alpha_bar = SCHEDULE.alpha_bars[t].view(-1, 1, 1, 1)
        return (x_t - alpha_bar.sqrt() * target) / (1 - alpha_bar).sqrt()

    return predict


@pytest.fixture(scope="module")
def case():
    x0 = torch.full((2, 1, 4, 4), 3.0)  # the original: far from the model's target
    mask = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    mask[..., 2:] = True  # redraw the right half
    return x0, mask, oracle(torch.linspace(-1, 1, 16).view(1, 1, 4, 4)), torch.zeros(2)


@pytest.mark.parametrize("resample", [1, 3])
def test_the_kept_region_ends_as_the_original_and_the_hole_follows_the_model(case, resample):
    x0, mask, model, context = case
    out = inpaint(model, x0, mask, context, SCHEDULE, steps=10, resample=resample,
                  generator=torch.Generator().manual_seed(0), progress=False)
    assert out.shape == x0.shape
    assert torch.equal(out[~mask.expand_as(x0)], x0[~mask.expand_as(x0)])
    target = torch.linspace(-1, 1, 16).view(1, 1, 4, 4).expand_as(x0)
    torch.testing.assert_close(out[mask.expand_as(x0)], target[mask.expand_as(x0)], atol=1e-3, rtol=0)


def test_the_same_seed_gives_the_same_fill_and_another_seed_another(case):
    x0, mask, _, context = case
    no_clue = lambda x, t, c: torch.zeros_like(x)  # noqa: E731  predicts no noise: the hole keeps its random start
    fills = [inpaint(no_clue, x0, mask, context, SCHEDULE, steps=5, generator=torch.Generator().manual_seed(seed),
                     progress=False) for seed in (0, 0, 1)]
    assert torch.equal(fills[0], fills[1]) and not torch.equal(fills[0], fills[2])


def test_a_mask_of_the_wrong_kind_is_refused(case):
    x0, mask, model, context = case
    for bad in (mask.float(), mask[..., :3], mask[:, :, None]):
        with pytest.raises(ValueError, match="mask"):
            inpaint(model, x0, bad, context, SCHEDULE, steps=2, progress=False)
    with pytest.raises(ValueError, match="resample"):
        inpaint(model, x0, mask, context, SCHEDULE, steps=2, resample=0, progress=False)
