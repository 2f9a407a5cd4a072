"""Regressions for the numeric edge cases an independent cross-check found, and the one-line errors for bad input."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from course_lib.contrastive import class_embeddings, recall_at_k
from course_lib.diffusion import ddim_step, ddpm_step, guided_noise, linear_schedule, cosine_schedule, q_sample
from course_lib.metrics import principal_angles, psnr
from course_lib.models import PCA
from course_lib.models.attention import padding_mask
from course_lib.models.transformer import sinusoidal_positions
from course_lib.models.vae import VAE


def test_pca_of_integer_pixels_computes_in_floating_point():
    x = torch.randint(0, 256, (40, 6))  # int64 pixels
    pca = PCA(2).fit(x)
    codes = pca.transform(x)
    assert codes.dtype == torch.float32 and codes.abs().max() > 1  # not truncated to 0
    torch.testing.assert_close(codes.double(), pca.transform(x.double()), rtol=1e-5, atol=1e-4)
    assert pca.inverse_transform(codes).dtype == torch.float32
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got ndarray"):
        PCA(2).fit(np.zeros((5, 3)))


@pytest.mark.parametrize("case", ["full rank", "a rank-deficient", "both rank-deficient", "nearly the same"])
def test_principal_angles_match_scipy_subspace_angles(case):
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(10, 3, generator=gen, dtype=torch.float64), torch.randn(10, 4, generator=gen, dtype=torch.float64)
    if case != "full rank":
        a = torch.cat([a[:, :2], a[:, :1] + a[:, 1:2]], dim=1)  # 3 columns, rank 2
    if case == "both rank-deficient":
        b = torch.cat([b[:, :2], 2 * b[:, :2]], dim=1)  # 4 columns, rank 2
    if case == "nearly the same":
        b = a[:, :2] + 1e-9 * torch.randn(10, 2, generator=gen, dtype=torch.float64)
    ours = principal_angles(a, b)
    theirs = np.sort(scipy.linalg.subspace_angles(a.numpy(), b.numpy()))
    assert ours.shape == (len(theirs),)
    np.testing.assert_allclose(ours.numpy(), theirs, atol=1e-10)


def test_psnr_checks_max_value_warns_on_the_wrong_scale_and_offers_per_image():
    clean = torch.zeros(2, 4)
    noisy = torch.full((2, 4), 0.1)
    assert psnr(clean, noisy) == pytest.approx(20.0)
    with pytest.warns(UserWarning, match="max_value=1.*255 for uint8"):
        psnr(torch.full((2, 4), 200, dtype=torch.uint8), torch.full((2, 4), 180, dtype=torch.uint8))
    assert psnr(torch.full((2, 4), 200.0), torch.full((2, 4), 180.0), max_value=255) == pytest.approx(
        10 * math.log10(255**2 / 400))
    for bad in (0, -1.0, "1"):
        with pytest.raises(ValueError, match="max_value must be a positive number"):
            psnr(clean, noisy, max_value=bad)
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got ndarray"):
        psnr(np.zeros((2, 4)), noisy)
    uneven = torch.stack([torch.full((4,), 0.1), torch.full((4,), 0.01)])  # image errors 0.1 and 0.01
    per_image = psnr(clean, uneven, per_image=True)
    torch.testing.assert_close(per_image, torch.tensor([20.0, 40.0], dtype=torch.float64))
    assert psnr(clean, uneven) == pytest.approx(10 * math.log10(1 / ((0.01 + 0.0001) / 2)))  # one global MSE
    assert psnr(clean, torch.stack([clean[0], uneven[1]]), per_image=True)[0] == math.inf


def test_class_embeddings_refuse_a_bare_string():
    def encode(prompts):
        return torch.randn(len(prompts), 4)

    with pytest.raises(TypeError, match="class_names must be a list of strings.*'cat'"):
        class_embeddings(encode, "cat")
    with pytest.raises(TypeError, match="templates must be a list"):
        class_embeddings(encode, ["cat"], "a photo of a {}")
    assert class_embeddings(encode, ["cat"], ["a {}"]).shape == (1, 4)


def test_recall_at_k_counts_ties_in_the_matchs_favour():
    similarity = torch.tensor([[0.5, 0.5, 0.1],  # a duplicate caption: column 1 ties with the match
                               [0.5, 0.5, 0.1],
                               [0.2, 0.9, 0.2]])
    for _ in range(3):  # whatever order topk would break the ties in
        assert recall_at_k(similarity, 1) == pytest.approx(2 / 3)
    assert recall_at_k(similarity, 2) == pytest.approx(1.0)
    for bad in (1.5, "2", True):
        with pytest.raises((TypeError, ValueError), match="k must be"):
            recall_at_k(similarity, bad)


def test_samplers_refuse_steps_that_would_wrap_or_go_backwards():
    schedule, x, eps = linear_schedule(10), torch.randn(2, 3), torch.randn(2, 3)
    with pytest.raises(ValueError, match=r"t must be an integer step in 0..9, got -1"):
        ddpm_step(x, eps, -1, schedule)  # would have been the last step
    with pytest.raises(ValueError, match="t must be an integer step"):
        ddpm_step(x, eps, 10, schedule)
    with pytest.raises(ValueError, match="t_prev must be below t=3"):
        ddim_step(x, eps, 3, 5, schedule)  # returned NaN
    assert torch.isfinite(ddim_step(x, eps, 5, 3, schedule)).all() and torch.isfinite(ddim_step(x, eps, 0, -1,
                                                                                                  schedule)).all()

    def model(x_t, t, context):
        return context.expand_as(x_t)

    with pytest.raises(ValueError, match="guidance_scale=3.0 needs a null_context"):
        guided_noise(model, x, torch.zeros(2, dtype=torch.long), torch.ones(2, 3), None, 3.0)
    torch.testing.assert_close(guided_noise(model, x, torch.zeros(2, dtype=torch.long), torch.ones(2, 3), None, 1.0),
                               torch.ones(2, 3))


def test_bad_inputs_get_one_line_errors_that_name_the_argument():
    schedule = linear_schedule(10)
    with pytest.raises(ValueError, match="t must be an integer tensor"):
        q_sample(torch.zeros(2, 3), torch.tensor([1.0, 2.0]), torch.zeros(2, 3), schedule)
    with pytest.raises(ValueError, match="x0 is an empty batch"):
        q_sample(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), torch.zeros(0, 3), schedule)
    for make in (linear_schedule, cosine_schedule):
        with pytest.raises(ValueError, match="T .* must be an integer >= 1, got 10.5"):
            make(10.5)
    with pytest.raises(ValueError, match="length must be a non-negative integer, got 4.0"):
        sinusoidal_positions(4.0, 8)
    with pytest.raises(ValueError, match="lengths must be a non-empty 1-D integer tensor"):
        padding_mask([])
    with pytest.raises(ValueError, match=r"images are torch.float64 but the VAE's weights are torch.float32"):
        VAE().encode(torch.zeros(1, 3, 8, 8, dtype=torch.float64))
