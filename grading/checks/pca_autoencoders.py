"""Exercise 1 (pca_autoencoders): what the trusted checker runs, the classic mistakes, and the rules it reads.

Part 1 compares the student's principal directions with the solution's row by row, each up to its sign (an SVD
gives a direction or its opposite), on data whose spectrum has clear gaps (so every correct method, SVD, eigh
of the covariance or a full-rank pca_lowrank, finds the same directions). Part 4 compares what a model *does*
rather than its numbers (its initial weights are random; another architecture is welcome): shapes, whether it
is non-linear, and, once trained, whether its reconstruction error on the test digits is below that of a PCA
with the same k. Its error is computed here, on the trusted side, from the raw reconstructions the probe returns
and the test digits of the reference run (`want`), and compared with the reference run's own PCA error: no
number the student's kernel computed is trusted. The intro's rule (no sklearn PCA in the answers) is read from
the source.
"""

import torch

from classgrade.table import Check, Forbid, Mistake, Raised, Table, Unsupported, close, equal

# ----------------------------------------------------------------------------------------------- part 1


def components_up_to_sign(atol_mean: float = 1e-4, atol_cos: float = 1e-3, atol_gram: float = 1e-4):
    """(mean, components) as the hidden tests compare them: the mean within atol_mean; each row of components
    along the solution's row or its opposite (the sign of a singular vector is arbitrary): |cosine| within
    atol_cos of 1; and the rows as orthonormal as the solution's (their Gram matrix within atol_gram)."""
    tensor = close(atol_mean)

    def compare(got, want):
        if isinstance(want, Raised) or isinstance(got, (Raised, Unsupported)):
            return tensor(got, want)
        if not isinstance(got, tuple) or len(got) != 2:
            return tensor(got, want)  # says what is wrong with its structure
        why = tensor(got[0], want[0], "mean")
        if why:
            return why
        g, w = got[1], want[1]
        why = tensor(g, w, "components")  # type and shape first; values are compared up to sign below
        if why is None or not why.startswith("components: values"):
            return why
        g, w = g.double(), w.double()
        cosines = (g * w).sum(dim=1).abs()
        wrong = [i for i, (c, n) in enumerate(zip(cosines.tolist(), (w * w).sum(dim=1).tolist()))
                 if not abs(c - n) <= atol_cos]
        if wrong:
            shown = ", ".join(f"{cosines[i].item():.3f}" for i in wrong[:4])
            return (f"components: row(s) {wrong[:6]} are not the right principal directions, even up to sign "
                    f"(|cosine| with the right direction: {shown}, expected 1)")
        if not torch.all((g @ g.T - w @ w.T).abs() <= atol_gram):
            return "components: the rows are not orthonormal (unit length, perpendicular to each other)"
        return None

    return compare


ROTATION = """\
gen = torch.Generator().manual_seed(SEED)
rotation = torch.linalg.qr(torch.randn({d}, {d}, generator=gen, dtype=torch.float64))[0].float()"""

TALL = ROTATION + """
scales = 4.0 * 0.7 ** torch.arange({d}, dtype=torch.float32)  # clear gaps between the directions' variances
offset = 5.0 + torch.randn({d}, generator=gen)                  # far from centred
x = (torch.randn({n}, {d}, generator=gen) * scales) @ rotation + offset"""

WIDE = ROTATION + """
scales = 3.0 * 0.55 ** torch.arange({d}, dtype=torch.float32)
x = (torch.randn({n}, {d}, generator=gen) * scales) @ rotation + torch.rand({d}, generator=gen) * 4.0"""

DIGITS = """\
rows = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(SEED))"""  # all of them: clear gaps


def fit_checks() -> list[Check]:
    cases = [  # (what, given, x, k)
        ("200 points in 10-d, far from the origin", TALL.format(n=200, d=10), "x", 3),
        ("500 points in 6-d, all k = d = 6 directions", TALL.format(n=500, d=6), "x", 6),
        ("a wide matrix, 30 points in 50-d (n < d)", WIDE.format(n=30, d=50), "x", 4),
        ("the training digits (64-d), shuffled", DIGITS, "x_train[rows]", 5),
        ("the training digits (64-d), shuffled", DIGITS, "x_train[rows]", 8),
    ]
    return [Check("test_pca_fit", f"pca_fit(x, {k}) on {what}", f"pca_fit({x}, {k})", given, components_up_to_sign())
            for what, given, x, k in cases]


# ----------------------------------------------------------------------------------------------- part 2

PROJECT = """\
gen = torch.Generator().manual_seed(SEED)
x = torch.rand({n}, {d}, generator=gen) * 3 + 2.0
mean = torch.rand({d}, generator=gen) * 3 + 2.0
components = torch.linalg.qr(torch.randn({d}, {d}, generator=gen, dtype=torch.float64))[0].T[:{k}].float()"""

PROJECT_DIGITS = """\
gen = torch.Generator().manual_seed(SEED)
x = x_test[torch.randperm(len(x_test), generator=gen)[:{n}]]
mean = x_train.mean(dim=0)
components = torch.linalg.svd(x_train - mean, full_matrices=False)[2][:{k}]"""


def project_checks() -> list[Check]:
    cases = [  # (what, given, k)
        ("120 points in 12-d, k = 4", PROJECT.format(n=120, d=12, k=4), 4),
        ("50 points in 7-d, k = 1", PROJECT.format(n=50, d=7, k=1), 1),
        ("80 points in 9-d, all k = d = 9 directions (exact reconstruction)", PROJECT.format(n=80, d=9, k=9), 9),
        ("100 test digits with the training digits' first 8 directions", PROJECT_DIGITS.format(n=100, k=8), 8),
    ]
    call = "(pca_transform(x, mean, components), pca_reconstruct(x, mean, components))"
    return [Check("test_pca_project", f"(pca_transform, pca_reconstruct) of {what}", call, given, close(atol=1e-4))
            for what, given, _ in cases]


# ----------------------------------------------------------------------------------------------- part 3


def a_float(atol: float = 1e-7, rtol: float = 1e-5):
    """A Python float (not a tensor), close to the solution's."""
    number = close(atol, rtol)

    def compare(got, want):
        if isinstance(want, float) and isinstance(got, torch.Tensor):
            return f"returned a tensor of shape {tuple(got.shape)}: return a Python float (use .item())"
        if isinstance(want, float) and type(got) is int:
            return f"returned the int {got}: return a Python float"
        return number(got, want)

    return compare


PAIRS = """\
gen = torch.Generator().manual_seed(SEED)
a = torch.randn({n}, {d}, generator=gen)
b = {b}"""


def mse_checks() -> list[Check]:
    cases = [  # (what, n, d, b)
        ("17 x 9 random tensors", 17, 9, "torch.randn(17, 9, generator=gen)"),
        ("5 images of 64 pixels", 5, 64, "torch.rand(5, 64, generator=gen)"),
        ("one row of 3", 1, 3, "a + torch.randn(1, 3, generator=gen)"),
        ("a tensor and itself (exactly 0.0)", 6, 4, "a.clone()"),
    ]
    return [Check("test_mse", f"reconstruction_mse on {what}", "reconstruction_mse(a, b)",
                  PAIRS.format(n=n, d=d, b=b), a_float()) for what, n, d, b in cases]


# ----------------------------------------------------------------------------------------------- part 4a


def _mismatch(got, want, names) -> str | None:
    """Compare two summaries (dicts of plain values, same keys), naming the first difference."""
    for key, describe in names:
        if got[key] != want[key]:
            return describe(got[key], want[key])
    return None


def _shape(t) -> tuple | None:
    return tuple(t.shape) if isinstance(t, torch.Tensor) and t.is_floating_point() else None


def _model_summary(value) -> dict | str:
    """What a fresh model does with (x, y): shapes, whether forward is decoder(encoder(.)), whether it is
    non-linear (an affine map sends the midpoint of x and y to the midpoint of their images)."""
    if isinstance(value, Raised):
        return f"raised {value.name}"
    if isinstance(value, Unsupported):
        return f"returned a {value.kind}, not tensors"
    if not isinstance(value, tuple) or len(value) != 5 or not all(_shape(v) for v in value):
        return "did not return tensors"
    code, out_x, out_y, out_mid, chained = (v.double() for v in value)
    finite = all(bool(torch.isfinite(v).all()) for v in (code, out_x, out_y, out_mid, chained))
    same_shape = out_x.shape == out_y.shape == out_mid.shape
    return {
        "code": tuple(code.shape), "output": tuple(out_x.shape), "finite": finite,
        "chained": out_x.shape == chained.shape and bool(torch.allclose(out_x, chained, atol=1e-5, rtol=1e-4)),
        "non-linear": same_shape and finite and bool(((out_x + out_y) / 2 - out_mid).abs().max() > 1e-4),
    }


def fresh_model(n: int, k: int, batch: int):
    def compare(got, want):
        g, w = _model_summary(got), _model_summary(want)
        if isinstance(w, str):  # a classic mistake's result
            return None if g == w else f"expected a result that {w}"
        if isinstance(g, str):
            return g + (f": {got.message}" if isinstance(got, Raised) and got.message else "")
        return _mismatch(g, w, (
            ("code", lambda a, b: f"the encoder maps a batch of shape ({batch}, {n}) to {a}, expected {b}"),
            ("output", lambda a, b: f"forward maps a batch of shape ({batch}, {n}) to {a}, expected {b}"),
            ("finite", lambda a, b: "the outputs hold NaN or infinite values"),
            ("chained", lambda a, b: "forward(x) should be decoder(encoder(x))" if b else
             "forward(x) is decoder(encoder(x))"),
            ("non-linear", lambda a, b: "the model is linear (affine): put a non-linear activation (a ReLU, say) "
             "between its layers" if b else "the model is non-linear"),
        ))

    return compare


MODEL = """\
torch.manual_seed(SEED)
gen = torch.Generator().manual_seed(SEED)
x = torch.randn({batch}, {n}, generator=gen) * 2.0  # spread out, for a clear non-linearity
y = torch.randn({batch}, {n}, generator=gen) * 2.0
model = SmallAutoencoder({n}, {k}).eval()  # eval(): the same output twice even with dropout"""


def shape_checks() -> list[Check]:
    checks = []
    for n, k, batch in ((20, 3, 4), (37, 5, 6), (64, 8, 5), (50, 2, 3)):
        call = "(model.encoder(x), model(x), model(y), model((x + y) / 2), model.decoder(model.encoder(x)))"
        checks.append(Check("test_autoencoder_shapes", f"SmallAutoencoder({n}, {k}) on a batch of shape ({batch}, {n})",
                            call, MODEL.format(n=n, k=k, batch=batch), fresh_model(n, k, batch)))
    return checks


# ----------------------------------------------------------------------------------------------- part 4b


def beats_pca(got, want):
    """(reconstructions of the test digits x, code of 2 of them, reconstructions of the midpoints of pairs of
    them, x, PCA's error). The autoencoder's error is computed here, with the x of the reference run (want), and
    compared with PCA's error from the reference run; of the student's side only the model's outputs are used.
    Right: the shapes, and an error below PCA's. A classic mistake's result (one that does not beat PCA) is
    matched on whether the model is linear too, so that a merely weak model is not diagnosed as one."""

    def summary(value, x, pca):
        if isinstance(value, Raised):
            return f"raised {value.name}"
        if isinstance(value, Unsupported):
            return f"returned a {value.kind}, not tensors"
        if not isinstance(value, tuple) or len(value) != 5 or not all(_shape(v) for v in value[:3]):
            return "did not return tensors"
        recon, code, mid = value[0].double(), value[1], value[2].double()
        fits = recon.shape == x.shape
        mse = ((recon - x) ** 2).mean().item() if fits else float("nan")
        half = len(x) // 2
        linear = fits and mid.shape == (half, x.shape[1]) and bool(
            ((recon[:half] + recon[half:2 * half]) / 2 - mid).abs().max() <= 1e-4)
        return {"output": tuple(recon.shape), "code": tuple(code.shape), "beats": mse < pca, "linear": linear,
                "mse": mse, "pca": pca}

    if isinstance(want, Raised):  # a classic mistake's result
        return None if isinstance(got, Raised) and got.name == want.name else f"should raise {want.name}"
    x, pca = want[3].double(), want[4]
    g, w = summary(got, x, pca), summary(want, x, pca)
    if isinstance(w, str):
        return None if g == w else f"expected a result that {w}"
    if isinstance(g, str):
        return g + (f": {got.message}" if isinstance(got, Raised) and got.message else "")
    return _mismatch(g, w, (
        ("output", lambda a, b: f"the trained autoencoder maps the test digits to shape {a}, expected {b}"),
        ("code", lambda a, b: f"its encoder maps 2 digits to a code of shape {a}, expected {b}"),
        ("beats", lambda a, b: f"on the test digits its mean squared error is {g['mse']:.5f}, PCA's at k = 8 is "
                               f"{g['pca']:.5f}: " + ("it does not beat PCA" if b else "it beats PCA")),
        *((("linear", lambda a, b: "the trained model is " + ("linear" if a else "not linear")),) if not w["beats"]
          else ()),
    ))


TRAINED = """\
rows = torch.randperm(len(x_test), generator=torch.Generator().manual_seed(SEED))  # held-out digits, fresh order
half = len(rows) // 2

def run(module, inputs):
    try:  # where the model lives (the course's train() may have moved it to a GPU)
        inputs = inputs.to(next(iter(autoencoder.parameters())).device)
    except Exception:
        pass
    with torch.no_grad():
        return module(inputs)

def pca_error(inputs, k=8):  # PCA's test error, of the reference run's own PCA (only want's is used)
    mu = x_train.double().mean(dim=0)
    v = torch.linalg.svd(x_train.double() - mu, full_matrices=False)[2][:k]
    return ((inputs.double() - mu) @ v.T @ v + mu - inputs.double()).pow(2).mean().item()"""


def trained_checks() -> list[Check]:
    call = ("(run(autoencoder, x_test[rows]), run(autoencoder.encoder, x_test[rows[:2]]), "
            "run(autoencoder, (x_test[rows[:half]] + x_test[rows[half:2 * half]]) / 2), x_test[rows], "
            "pca_error(x_test[rows]))")
    return [Check("test_autoencoder_beats_pca", "the trained autoencoder against PCA (k = 8) on the test digits",
                  call, TRAINED, beats_pca)]


# ----------------------------------------------------------------------------------------------- the table

SKLEARN_PCA = ("PCA", "IncrementalPCA", "KernelPCA", "SparsePCA", "MiniBatchSparsePCA", "TruncatedSVD",
               "randomized_svd", "decomposition", "sklearn.decomposition")

TABLE = Table(
    assignment="pca_autoencoders",
    checks=[
        *fit_checks(),
        *project_checks(),
        *mse_checks(),
        *shape_checks(),
        *trained_checks(),
        Check("test_quiz", "the quiz", "quiz_answer", "", equal),
    ],
    needs=("train_autoencoder",),
    mistakes={
        # Part 1
        "forgot-to-centre": Mistake(
            "pca_fit", (("torch.linalg.svd(x - mean", "torch.linalg.svd(x"),), frozenset({"test_pca_fit"}),
            "Your components are those of uncentred data: subtract the mean of each feature (x - mean) before "
            "the SVD."),
        "components-as-columns": Mistake(
            "pca_fit", (("components = vt[:k]", "components = vt[:k].T"),), frozenset({"test_pca_fit"}),
            "components should hold one direction per row, shape (k, d): take the first k rows of Vᵀ (vt[:k]), "
            "without transposing them."),
        "last-k-directions": Mistake(
            "pca_fit", (("components = vt[:k]", "components = vt[-k:]"),), frozenset({"test_pca_fit"}),
            "The SVD sorts the singular values in decreasing order: the principal directions are the first k rows "
            "of Vᵀ (vt[:k]), not the last k."),
        "u-instead-of-v": Mistake(
            "pca_fit", (("_, _, vt = torch.linalg.svd", "vt, _, _ = torch.linalg.svd"),), frozenset({"test_pca_fit"}),
            "You took the directions from U, which holds one row per data point: the principal directions "
            "(vectors of d features) are the rows of Vᵀ, the third result of torch.linalg.svd."),
        # Part 2
        "transform-not-centred": Mistake(
            "pca_project", (("return (x - mean) @ components.T", "return x @ components.T"),),
            frozenset({"test_pca_project"}),
            "The code is the coordinates of the centred point: subtract the mean before projecting, "
            "z = (x - mean) @ components.T."),
        "reconstruct-forgets-mean": Mistake(
            "pca_project", (("@ components + mean", "@ components"),), frozenset({"test_pca_project"}),
            "z @ components is a centred point: add the mean back to reconstruct, x_hat = z @ components + mean."),
        "transform-without-transpose": Mistake(
            "pca_project", (("(x - mean) @ components.T", "(x - mean) @ components"),),
            frozenset({"test_pca_project"}),
            "components has one direction per row, shape (k, d): project with its transpose, "
            "(x - mean) @ components.T, to get codes of shape (n, k)."),
        # Part 3
        "mse-sum": Mistake(
            "mse", (("torch.mean((x - x_hat) ** 2)", "torch.sum((x - x_hat) ** 2)"),), frozenset({"test_mse"}),
            "You summed the squared errors: take their mean over every pixel of every image (torch.mean)."),
        "mse-per-image-sum": Mistake(
            "mse", (("torch.mean((x - x_hat) ** 2)", "((x - x_hat) ** 2).sum(dim=1).mean()"),),
            frozenset({"test_mse"}),
            "You averaged the per-image sums of squared errors: the error is per pixel, the mean over every pixel "
            "of every image."),
        "mse-returns-tensor": Mistake(
            "mse", ((".item()", ""),), frozenset({"test_mse"}),
            "You returned a 0-dimensional tensor: return a Python float, with .item()."),
        # Part 4
        "linear-autoencoder": Mistake(
            "autoencoder", (("nn.Linear(n_features, 128), nn.ReLU(), nn.Linear(128, k)",
                             "nn.Linear(n_features, 128), nn.Linear(128, k)"),
                            ("nn.Linear(k, 128), nn.ReLU(), nn.Linear(128, n_features), nn.Sigmoid()",
                             "nn.Linear(k, 128), nn.Linear(128, n_features)")),
            frozenset({"test_autoencoder_shapes", "test_autoencoder_beats_pca"}),
            "Your autoencoder has no non-linear activation: stacked linear layers are one linear map, which cannot "
            "do better than PCA. Put a ReLU between the layers (and a sigmoid at the output)."),
        "bottleneck-fixed-at-8": Mistake(
            "autoencoder", (("nn.Linear(128, k)", "nn.Linear(128, 8)"), ("nn.Linear(k, 128)", "nn.Linear(8, 128)")),
            frozenset({"test_autoencoder_shapes"}),
            "The code size is fixed at 8: use the argument k for the bottleneck (and n_features for the input and "
            "output sizes), so that SmallAutoencoder(n_features, k) works for any sizes."),
        "forward-returns-code": Mistake(
            "autoencoder", (("return self.decoder(self.encoder(x))", "return self.encoder(x)"),),
            frozenset({"test_autoencoder_shapes", "test_autoencoder_beats_pca"}),
            "forward returns the code: it should return the reconstruction, self.decoder(self.encoder(x))."),
    },
    forbid=[
        Forbid("test_pca_fit", SKLEARN_PCA, "pca_fit",
               "the intro's rule: PCA from torch.linalg.svd, not sklearn.decomposition (except to check yourself)"),
        Forbid("test_pca_project", SKLEARN_PCA, "pca_project",
               "the intro's rule: project with PyTorch, not sklearn.decomposition (except to check yourself)"),
    ],
)
