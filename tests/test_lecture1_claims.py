"""Every number lecture 1 shows as a claim, asserted on the shipped models of the lecture's recipes."""

import nbformat
import pytest
import torch
from torch.nn import functional as F

from course_lib.data import load_faces
from course_lib.metrics import knn_accuracy, knn_predict, principal_angles, reconstruction_mse
from course_lib.models import PCA, make_autoencoder
from course_lib.recipes import AutoencoderRecipe, Source, Store
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


# The lecture's comparisons across latent sizes (sections 5 and 6, the questions and the quiz), on every shipped model.

@pytest.fixture(scope="module")
def by_size(shipped_store, digits):
    """{kind: {k: loaded model}} for every latent size the lecture compares, and PCA with all 64 components."""
    loaded = {kind: {k: shipped_store.load(AutoencoderRecipe.default(kind, k)) for k in LECTURE1_LATENT_SIZES}
              for kind in ("linear", "mlp")}
    return loaded, PCA(digits.n_features).fit(digits.x_train)


@pytest.fixture(scope="module")
def errors(by_size, digits):
    """{(model, split): {k: MSE per pixel}} for PCA, the linear AE and the MLP AE, on the training and test digits."""
    loaded, pca = by_size
    table = {}
    for split in ("train", "test"):
        x = getattr(digits, f"x_{split}")
        table["PCA", split] = {k: reconstruction_mse(x, pca.reconstruct(x, k)) for k in LECTURE1_LATENT_SIZES}
        for kind in ("linear", "mlp"):
            with torch.no_grad():
                table[kind, split] = {k: reconstruction_mse(x, loaded[kind][k].model(x)) for k in LECTURE1_LATENT_SIZES}
    return table


def test_the_linear_autoencoder_sits_on_the_pca_curve_and_lags_only_at_k32(errors, by_size):
    pca, linear = errors["PCA", "test"], errors["linear", "test"]
    for k in (2, 4, 8, 16):
        assert 0 <= linear[k] / pca[k] - 1 < 0.01, k  # 'within 1 %' (measured 0.2-0.9 %)
    assert 0.05 < linear[32] / pca[32] - 1 < 0.15  # 'about 10 % above' (measured 10.9 %)
    assert errors["linear", "train"][32] > 1.05 * errors["PCA", "train"][32]  # not converged: above PCA on training too
    loaded, _ = by_size  # section 4's curves: the linear AE comes down to PCA's training error, the MLP AE below it
    assert 1 <= loaded["linear"][8].history[-1] / errors["PCA", "train"][8] < 1.02
    assert loaded["mlp"][8].history[-1] < errors["PCA", "train"][8]


def test_the_mlp_autoencoder_leads_most_at_k8_and_pca_wins_at_k32(errors):
    pca, mlp = errors["PCA", "test"], errors["mlp", "test"]
    ratio = {k: mlp[k] / pca[k] for k in LECTURE1_LATENT_SIZES}
    assert all(ratio[k] < 0.65 for k in (2, 4, 8))  # 'at most about 60 % of PCA's' (measured 61, 52, 48 %)
    assert min(ratio, key=ratio.get) == 8 and 0.4 < ratio[8] < 0.6  # 'largest at k = 8', 'about half'
    assert [k for k in LECTURE1_LATENT_SIZES if pca[k] <= mlp[k]] == [32]  # PCA wins at the largest k, only there
    assert pca[16] / pca[32] > 4  # 'falls more than fourfold' (measured 4.4)
    assert 0 < 1 - mlp[32] / mlp[16] < 0.15  # 'by barely a tenth' (measured 11 %)
    assert errors["mlp", "train"][32] > pca[32]  # the question at k=32: under-trained ...
    assert mlp[32] > 1.5 * errors["mlp", "train"][32]  # ... and over-fitting (measured 1.65)


def test_explained_variance_and_two_number_codes_answer_the_first_question(by_size, digits):
    _, pca = by_size
    cumulative = pca.explained_variance_ratio_.cumsum(0)
    assert [int((cumulative < target).sum()) + 1 for target in (0.5, 0.9, 0.95)] == [5, 21, 28]
    assert len(digits.x_train) in range(1350, 1450)  # 'about 1,400 training images' (1,437)


@pytest.fixture(scope="module")
def map_predictions(trained, digits):
    """Section 7: the 5-NN labels of the test digits from PCA's and the MLP AE's 2-D codes."""
    pca = PCA(2).fit(digits.x_train)
    with torch.no_grad():
        codes = {"PCA": (pca.transform(digits.x_train), pca.transform(digits.x_test)),
                 "MLP AE": (trained["mlp", 2].encode(digits.x_train), trained["mlp", 2].encode(digits.x_test))}
    return {name: knn_predict(train, digits.y_train, test, k=5) for name, (train, test) in codes.items()}


def test_two_number_codes_name_most_digits_and_which_survive(map_predictions, digits):
    accuracy = {name: (p == digits.y_test).double().mean().item() for name, p in map_predictions.items()}
    assert 0.75 < accuracy["MLP AE"] < 0.85 and 0.55 < accuracy["PCA"] < 0.65  # 'four in five', 'three in five'
    assert accuracy["MLP AE"] - accuracy["PCA"] > 0.15  # 'much better' (measured 82 % vs 62 %)
    per_digit = {name: torch.tensor([(p[digits.y_test == j] == j).double().mean().item() for j in range(10)])
                 for name, p in map_predictions.items()}
    ae, pca = per_digit["MLP AE"], per_digit["PCA"]
    assert ae[0] > 0.95 and ae[6] > 0.95 and ae.argmin() == 8 and 0.5 < ae[8] < 0.7  # '97 %', '8 ... about 60 %'
    assert pca[0] > 0.9 and pca[5] < 0.3 and pca[8] < 0.3  # PCA keeps the 0s, loses most 5s and 8s


def test_the_mlp_decoder_holds_about_90_times_the_numbers_of_pca(digits):
    decoder = make_autoencoder("mlp", digits.n_features, 8).decoder
    pca = PCA(8).fit(digits.x_train)
    ratio = sum(p.numel() for p in decoder.parameters()) / (pca.components_.numel() + pca.mean_.numel())
    assert 80 < ratio < 100  # measured 50,624 / 576 = 88


def test_pca_beats_the_mlp_autoencoder_on_the_tiny_faces_set(tmp_path_factory):
    """Section 6: trained here as the lecture trains it (the recipe is not shipped; about 2 s on one CPU thread)."""
    faces = load_faces()
    assert faces.x_train.shape == (160, 625)  # 'fewer training images than pixels: 160 against 625'
    store = Store(torch.device("cpu"), False, None, tmp_path_factory.mktemp("faces"))
    model = store.load(AutoencoderRecipe.default("mlp", 16, dataset="faces")).model
    assert sum(p.numel() for p in model.parameters()) > 1000 * len(faces.x_train)  # 'far more parameters than faces'
    pca_mse = reconstruction_mse(faces.x_test, PCA(16).fit(faces.x_train).reconstruct(faces.x_test))
    with torch.no_grad():
        assert pca_mse < reconstruction_mse(faces.x_test, model(faces.x_test))


def test_pca_inside_the_linear_autoencoders_subspace_gives_the_principal_components(trained, digits):
    """The answer to 'how could you get the components out of a linear autoencoder?': QR, then a small SVD."""
    q, _ = torch.linalg.qr(trained["linear", 8].decoder.weight.detach().double())  # (64, 8) orthonormal basis
    centred = digits.x_train.double() - digits.x_train.double().mean(0)
    _, _, r = torch.linalg.svd(centred @ q, full_matrices=False)  # (8, 8) rotation into the principal directions
    v_k = PCA(8).fit(digits.x_train).components_.T.double()  # (64, 8)
    assert ((q @ r.T) * v_k).sum(0).abs().min() > 0.99  # each column equals a principal direction up to its sign


def test_a_perfect_reconstruction_has_zero_mse_but_not_zero_bce(digits):
    x = digits.x_train[:256]
    assert F.mse_loss(x, x) == 0 and F.binary_cross_entropy(x, x) > 0.05  # grey pixels keep some entropy
    with torch.no_grad():
        untrained = make_autoencoder("mlp", digits.n_features, 8)(x)
    assert (untrained - 0.5).abs().max() < 0.1  # 'roughly 0.5 everywhere, from the sigmoid'
