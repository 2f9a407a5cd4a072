import pytest
import torch
from torch import nn

from course_lib.checkpoints import load_checkpoint, read_metadata, save_checkpoint
from course_lib.models import make_autoencoder
from course_lib.train import train


def small_run(digits, seed=0, **kwargs):
    torch.manual_seed(seed)
    model = make_autoencoder("mlp", 64, 4)
    history = train(model, digits.x_train[:256], epochs=3, batch_size=32, progress=False, seed=seed, **kwargs)
    return model, history


def test_training_lowers_the_loss(digits):
    _, history = small_run(digits)
    assert len(history) == 3 and history[-1] < history[0]


def test_training_is_reproducible(digits):
    a, history_a = small_run(digits)
    b, history_b = small_run(digits)
    assert history_a == history_b
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    _, history_c = small_run(digits, seed=1)
    assert history_c != history_a


def test_training_takes_tuples_and_a_custom_loss():
    x = torch.randn(64, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    model = nn.Linear(3, 1)

    def regression(m, inputs, targets):
        return nn.functional.mse_loss(m(inputs), targets)

    history = train(model, (x, y), regression, epochs=200, batch_size=16, lr=0.05, progress=False)
    assert history[-1] < 1e-3
    assert torch.allclose(model.weight, torch.tensor([[1.0, -2.0, 0.5]]), atol=0.02)


def test_training_rejects_bad_settings(digits):
    with pytest.raises(ValueError, match="epochs"):
        train(make_autoencoder("linear", 64, 2), digits.x_train, epochs=0, progress=False)


def test_checkpoint_round_trip_keeps_weights_and_config(tmp_path, digits):
    model, _ = small_run(digits)
    path = save_checkpoint(model, tmp_path / "ae.safetensors", {"latent_dim": 4}, [0.5, 0.25])
    assert read_metadata(path) == {"config": {"latent_dim": 4}, "history": [0.5, 0.25]}
    assert [p.name for p in tmp_path.iterdir()] == ["ae.safetensors"]  # no partial file left behind
    fresh = load_checkpoint(make_autoencoder("mlp", 64, 4), path)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), fresh.parameters()))


def test_loading_into_the_wrong_model_is_a_clear_error(tmp_path, digits):
    model, _ = small_run(digits)
    path = save_checkpoint(model, tmp_path / "ae.safetensors")
    with pytest.raises(ValueError, match="does not fit MLPAutoencoder"):
        load_checkpoint(make_autoencoder("mlp", 64, 8), path)
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        load_checkpoint(model, tmp_path / "missing.safetensors")
