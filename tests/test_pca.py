import pytest
import torch
from sklearn.decomposition import PCA as SkPCA

from course_lib.metrics import reconstruction_mse
from course_lib.models import PCA


@pytest.mark.parametrize("k", [1, 2, 8, 30])
def test_reconstruction_error_matches_scikit_learn(digits, k):
    ours = PCA(k).fit(digits.x_train)
    ref = SkPCA(n_components=k, svd_solver="full").fit(digits.x_train.double().numpy())
    ref_hat = torch.from_numpy(ref.inverse_transform(ref.transform(digits.x_test.double().numpy())))
    ours_err = reconstruction_mse(digits.x_test, ours.reconstruct(digits.x_test))
    ref_err = reconstruction_mse(digits.x_test.double(), ref_hat)
    assert abs(ours_err - ref_err) < 1e-5


def test_components_and_variance_match_scikit_learn(digits):
    ours = PCA(5).fit(digits.x_train)
    ref = SkPCA(n_components=5, svd_solver="full").fit(digits.x_train.double().numpy())
    cosines = (ours.components_ * torch.from_numpy(ref.components_)).sum(dim=1).abs()
    assert torch.allclose(cosines, torch.ones(5, dtype=torch.float64), atol=1e-6)
    assert torch.allclose(ours.explained_variance_, torch.from_numpy(ref.explained_variance_), rtol=1e-6)
    assert torch.allclose(ours.explained_variance_ratio_, torch.from_numpy(ref.explained_variance_ratio_), rtol=1e-6)


def test_codes_are_ordered_orthonormal_and_reproducible(digits):
    pca = PCA(8).fit(digits.x_train)
    assert torch.allclose(pca.components_ @ pca.components_.T, torch.eye(8, dtype=torch.float64), atol=1e-10)
    assert torch.all(pca.explained_variance_[:-1] >= pca.explained_variance_[1:])
    z = pca.transform(digits.x_test)
    assert z.shape == (360, 8) and z.dtype == torch.float32
    assert torch.equal(PCA(8).fit(digits.x_train).components_, pca.components_)  # signs are fixed


def test_one_fit_serves_every_k(digits):
    pca_all, pca_3 = PCA(64).fit(digits.x_train), PCA(3).fit(digits.x_train)
    assert torch.allclose(pca_all.transform(digits.x_test, k=3), pca_3.transform(digits.x_test))
    assert torch.allclose(pca_all.reconstruct(digits.x_test, k=3), pca_3.reconstruct(digits.x_test), atol=1e-6)
    with pytest.raises(ValueError, match="k must be between 1 and n_components=3"):
        pca_3.transform(digits.x_test, k=4)


def test_all_components_reconstruct_exactly(digits):
    pca = PCA(64).fit(digits.x_train)
    assert torch.allclose(pca.reconstruct(digits.x_test), digits.x_test, atol=1e-5)
    assert pca.explained_variance_ratio_.sum().item() == pytest.approx(1.0)


def test_bad_input_gives_clear_errors(digits):
    with pytest.raises(ValueError, match="positive integer"):
        PCA(0)
    with pytest.raises(ValueError, match="2-D tensor"):
        PCA(2).fit(digits.x_train.reshape(-1, 8, 8))
    with pytest.raises(ValueError, match="exceeds"):
        PCA(65).fit(digits.x_train)
    with pytest.raises(RuntimeError, match="not fitted"):
        PCA(2).transform(digits.x_test)
