import pytest
import scipy.linalg
import torch

from course_lib.metrics import knn_accuracy, principal_angles, psnr, reconstruction_mse
from course_lib.models import LinearAutoencoder, MLPAutoencoder, make_autoencoder


@pytest.mark.parametrize("kind", ["linear", "mlp"])
@pytest.mark.parametrize("k", [2, 8])
def test_autoencoder_shapes(kind, k):
    model = make_autoencoder(kind, 64, k)
    x = torch.rand(5, 64)  # (batch, n_features)
    z = model.encode(x)
    assert z.shape == (5, k)
    assert model.decode(z).shape == (5, 64)
    assert torch.equal(model(x), model.decode(model.encode(x)))


def test_reconstruct_needs_no_grad_and_keeps_the_input_device():
    model = make_autoencoder("mlp", 64, 4)
    x = torch.rand(3, 64)
    out = model.reconstruct(x)
    assert not out.requires_grad and out.device == x.device and torch.allclose(out, model(x))


def test_mlp_autoencoder_outputs_pixels_in_unit_range():
    out = MLPAutoencoder(64, 4)(torch.randn(10, 64) * 100)
    assert out.min() >= 0 and out.max() <= 1


def test_linear_autoencoder_is_linear():
    model = LinearAutoencoder(64, 3)
    a, b = torch.randn(2, 64), torch.randn(2, 64)
    bias = model(torch.zeros(1, 64))
    assert torch.allclose(model(a + b) - bias, (model(a) - bias) + (model(b) - bias), atol=1e-5)


def test_make_autoencoder_rejects_bad_input():
    with pytest.raises(ValueError, match="Unknown autoencoder kind 'conv'"):
        make_autoencoder("conv", 64, 8)
    with pytest.raises(ValueError, match="latent_dim"):
        make_autoencoder("mlp", 64, 0)


def test_principal_angles_match_scipy():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(20, 3, generator=gen), torch.randn(20, 4, generator=gen)
    expected = sorted(scipy.linalg.subspace_angles(a.numpy(), b.numpy()))
    assert torch.allclose(principal_angles(a, b), torch.tensor(expected, dtype=torch.float64), atol=1e-8)
    mixed = a @ torch.randn(3, 3, generator=gen)  # same column space, other basis
    assert principal_angles(a, mixed).max() < 1e-6


def test_psnr_matches_scikit_image():
    from skimage.metrics import peak_signal_noise_ratio

    gen = torch.Generator().manual_seed(0)
    clean = torch.rand(4, 64, generator=gen)
    noisy = (clean + 0.1 * torch.randn(4, 64, generator=gen)).clamp(0, 1)
    expected = peak_signal_noise_ratio(clean.double().numpy(), noisy.double().numpy(), data_range=1.0)
    assert psnr(clean, noisy) == pytest.approx(expected, abs=1e-9)
    assert psnr(clean, clean) == float("inf")


def test_knn_accuracy_and_mse():
    codes = torch.tensor([[0.0], [0.1], [5.0], [5.1]])
    labels = torch.tensor([0, 0, 1, 1])
    assert knn_accuracy(codes, labels, torch.tensor([[0.05], [5.05]]), torch.tensor([0, 1]), k=1) == 1.0
    assert reconstruction_mse(torch.zeros(2, 3), torch.ones(2, 3)) == 1.0
    with pytest.raises(ValueError, match="Shapes differ"):
        reconstruction_mse(torch.zeros(2, 3), torch.zeros(3, 2))
