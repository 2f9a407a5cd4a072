"""The digits CNN, and lecture 3's claims: it beats linear classifiers; max-pooling sends gradients to the argmax."""

import nbformat
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn
from torch.nn import functional as F

from course_lib import seed_everything
from course_lib.conv_arithmetic import conv_param_count
from course_lib.metrics import classification_accuracy
from course_lib.models import DigitsCNN
from course_lib.train import classification_loss, train

LECTURE = "lectures/03_cnn_stride_padding.ipynb"


def lecture_parameters() -> dict:
    """The values of the lecture's `parameters` cell (its full-mode defaults)."""
    cell = next(c for c in nbformat.read(LECTURE, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
    params = {}
    exec(cell.source, params)
    return params


def test_cnn_shapes_from_rows_and_images():
    model = DigitsCNN((4, 8))
    rows = torch.rand(5, 64)
    assert model(rows).shape == (5, 10)
    assert torch.equal(model(rows), model(rows.reshape(5, 1, 8, 8)))
    maps = model.feature_maps(rows)
    assert {name: tuple(m.shape) for name, m in maps.items()} == {
        "conv1": (5, 4, 8, 8), "relu1": (5, 4, 8, 8), "pool1": (5, 4, 4, 4),
        "conv2": (5, 8, 4, 4), "relu2": (5, 8, 4, 4), "pool2": (5, 8, 2, 2)}
    assert (maps["relu1"] >= 0).all() and torch.equal(maps["relu1"], maps["conv1"].clamp(min=0))
    assert DigitsCNN(image_shape=(12, 16))(torch.rand(2, 1, 12, 16)).shape == (2, 10)


def test_cnn_rejects_bad_shapes():
    with pytest.raises(ValueError, match="divisible by 4"):
        DigitsCNN(image_shape=(10, 10))
    with pytest.raises(ValueError, match=r"Expected \(batch, 64\)"):
        DigitsCNN()(torch.rand(2, 3, 8, 8))


def test_cnn_parameter_count_follows_the_formula():
    model = DigitsCNN((16, 32))
    expected = conv_param_count(1, 16, 3) + conv_param_count(16, 32, 3) + (32 * 2 * 2) * 10 + 10
    assert sum(t.numel() for t in model.parameters()) == expected


def test_classification_loss_and_accuracy():
    model = nn.Linear(4, 3)
    x, y = torch.randn(20, 4), torch.randint(0, 3, (20,))
    assert torch.allclose(classification_loss(model, x, y), F.cross_entropy(model(x), y))
    with torch.no_grad():
        expected = (model(x).argmax(1) == y).double().mean().item()
    assert classification_accuracy(model, x, y) == pytest.approx(expected)
    with pytest.raises(ValueError, match="same length"):
        classification_accuracy(model, x, y[:5])


def test_cnn_beats_linear_classifiers_on_the_digits(digits):
    """The lecture's claim, trained from scratch with the lecture's own default parameters."""
    params = lecture_parameters()
    assert params["SMOKE"] is False
    xy = (digits.x_train, digits.y_train)
    seed_everything(params["SEED"])
    cnn = DigitsCNN(params["CNN_CHANNELS"])
    train(cnn, xy, classification_loss, epochs=params["CNN_EPOCHS"], lr=params["CNN_LR"],
          batch_size=params["CNN_BATCH_SIZE"], seed=params["SEED"], device="cpu", progress=False)
    seed_everything(params["SEED"])
    linear = nn.Linear(64, 10)
    train(linear, xy, classification_loss, epochs=params["LINEAR_EPOCHS"], lr=params["LINEAR_LR"], seed=params["SEED"],
          device="cpu", progress=False)
    sklearn_acc = LogisticRegression(max_iter=2000).fit(digits.x_train.numpy(), digits.y_train.numpy()).score(
        digits.x_test.numpy(), digits.y_test.numpy())
    cnn_acc = classification_accuracy(cnn, digits.x_test, digits.y_test)
    linear_acc = classification_accuracy(linear, digits.x_test, digits.y_test)
    assert cnn_acc > linear_acc and cnn_acc > sklearn_acc
    assert linear_acc > 0.9  # a fair opponent: the linear classifier is trained, not broken


def maxpool_backward_reference(grad_out, argmax, input_shape):
    """The rule, written out: add each output's gradient at its window's argmax (flat index into its channel)."""
    grad_in = torch.zeros(input_shape).flatten(-2)  # (batch, channels, h * w)
    return grad_in.scatter_add(-1, argmax.flatten(-2), grad_out.flatten(-2)).reshape(input_shape)


@pytest.mark.parametrize("shape, k, s", [((2, 3, 8, 8), 2, 2), ((1, 2, 7, 9), 3, 2), ((2, 1, 6, 6), 3, 1), ((1, 1, 5, 8), 2, 3)])
def test_maxpool_backward_sends_the_gradient_to_the_argmax(shape, k, s):
    """Lecture 3's rule equals autograd, for non-overlapping, overlapping and non-covering windows."""
    x = torch.randn(shape, requires_grad=True)
    out, argmax = F.max_pool2d(x, k, s, return_indices=True)
    grad_out = torch.randn(out.shape)
    out.backward(grad_out)
    assert torch.allclose(x.grad, maxpool_backward_reference(grad_out, argmax, shape))
    if k == s:  # windows do not overlap: unpooling places each gradient, as the lecture shows
        assert torch.equal(x.grad, F.max_unpool2d(grad_out, argmax, k, s, output_size=shape[-2:]))
    assert (x.grad != 0).sum() <= out.numel()  # only argmax positions receive anything


def test_avgpool_backward_spreads_the_gradient_evenly():
    x = torch.randn(1, 1, 6, 6, requires_grad=True)
    F.avg_pool2d(x, 3).sum().backward()
    assert torch.allclose(x.grad, torch.full_like(x, 1 / 9))
