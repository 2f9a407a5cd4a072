"""Every number lecture 1 shows as a claim, asserted on the shipped models of the lecture's recipes."""

import nbformat
import pytest
import torch

from course_lib.metrics import knn_accuracy, principal_angles, reconstruction_mse
from course_lib.models import PCA
from course_lib.recipes import AutoencoderRecipe, Source
from course_lib.recipes.autoencoders import LECTURE1_LATENT_SIZES

LECTURE = "lectures/01_pca_vs_autoencoders.ipynb"


@pytest.fixture(scope="module")
def trained(shipped_store):
    """The lecture's models: the shipped checkpoints of its recipes, which training reproduces bit for bit
    (tests/test_recipes.py::test_train_rebuilds_a_shipped_checkpoint_bit_for_bit)."""
    return {(kind, k): shipped_store.load(AutoencoderRecipe.default(kind, k)).model
            for kind, k in [("mlp", 8), ("mlp", 2), ("linear", 8)]}


def test_autoencoder_reconstructs_test_digits_better_than_pca_at_k8(trained, digits):
    with torch.no_grad():
        ae_mse = reconstruction_mse(digits.x_test, trained["mlp", 8](digits.x_test))
    pca_mse = reconstruction_mse(digits.x_test, PCA(8).fit(digits.x_train).reconstruct(digits.x_test))
    assert ae_mse < pca_mse


def test_2d_autoencoder_codes_separate_digits_better_than_pca(trained, digits):
    pca = PCA(2).fit(digits.x_train)
    pca_acc = knn_accuracy(pca.transform(digits.x_train), digits.y_train, pca.transform(digits.x_test), digits.y_test)
    ae = trained["mlp", 2]
    with torch.no_grad():
        ae_acc = knn_accuracy(ae.encode(digits.x_train), digits.y_train, ae.encode(digits.x_test), digits.y_test)
    assert ae_acc > pca_acc


def test_linear_autoencoder_spans_the_pca_subspace(trained, digits):
    angles = principal_angles(trained["linear", 8].decoder.weight, PCA(8).fit(digits.x_train).components_.T)
    assert torch.rad2deg(angles).max() < 5.0  # degrees: 'near zero'
    weights = trained["linear", 8].decoder.weight.detach()
    gram = weights.T @ weights
    assert not torch.allclose(gram, torch.eye(8), atol=0.1)  # same subspace, but not the orthonormal components


def test_shipped_checkpoints_cover_the_lecture(shipped_store):
    for kind in ("linear", "mlp"):
        for k in LECTURE1_LATENT_SIZES:
            loaded = shipped_store.load(AutoencoderRecipe.default(kind, k))  # a missing one fails, never trains
            assert loaded.source == Source.SHIPPED
            assert len(loaded.history) == AutoencoderRecipe.default(kind, k).epochs
            assert loaded.history[-1] < loaded.history[0]


def test_lecture_defaults_use_the_shipped_recipes():
    """The lecture's full mode must load, not retrain: its parameters equal the shipped recipes."""
    nb = nbformat.read(LECTURE, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params = {}
    exec(cell.source, params)
    assert tuple(params["LATENT_SIZES"]) == LECTURE1_LATENT_SIZES
    assert params["MLP_EPOCHS"] == AutoencoderRecipe.default("mlp", 8).epochs
    assert params["LINEAR_EPOCHS"] == AutoencoderRecipe.default("linear", 8).epochs
    assert params["SMOKE"] is False and params["USE_CHECKPOINTS"] is True
