import random

import numpy as np
import pytest
import torch

from course_lib.device import DEVICE_ENV_VAR, get_device, seed_everything


def test_default_device_is_the_best_available(monkeypatch):
    monkeypatch.delenv(DEVICE_ENV_VAR, raising=False)
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert get_device().type == expected


def test_environment_variable_overrides_the_default(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV_VAR, "cpu")
    assert get_device() == torch.device("cpu")


def test_explicit_choice_beats_the_environment(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV_VAR, "not-a-device")
    assert get_device("cpu") == torch.device("cpu")


def test_unknown_device_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown device 'tpu'"):
        get_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown on machines without a GPU")
def test_missing_cuda_is_a_clear_error():
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        get_device("cuda")


def test_seed_everything_repeats_python_numpy_and_torch():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3).tolist()

    seed_everything(123)
    first = draw()
    seed_everything(123)
    assert draw() == first
    seed_everything(124)
    assert draw() != first


def test_loading_a_recipe_leaves_the_callers_generators_alone(tmp_path):
    """Loaders seed their recipe inside `seeded` (forked generators): the caller's draws after loading a shipped
    model (or training a tiny one) are the draws it would have made without loading anything."""
    import random

    import numpy as np
    import torch

    from course_lib.data import load_digits
    from course_lib.device import seeded
    from course_lib.zoo import AutoencoderRecipe, autoencoder
    from course_lib.zoo_scenes import visual_attention
    from course_lib.zoo_seq2seq import Seq2SeqRecipe, seq2seq

    def draws():
        return torch.rand(1).item(), np.random.rand(), random.random()

    def inside():
        with seeded(123):
            return draws()

    digits = load_digits()
    loaders = [inside,
               lambda: autoencoder(AutoencoderRecipe.default("mlp", 2), digits, device="cpu", progress=False),
               lambda: visual_attention(device="cpu", progress=False),
               lambda: seq2seq(Seq2SeqRecipe(attention="dot", max_phrases=2, n_train=32, n_test=4, emb_dim=8,
                                             hidden_dim=8, epochs=1), device="cpu", progress=False,
                               directories=(), save_to=None)]  # trains: its own draws stay inside
    torch.manual_seed(7), np.random.seed(7), random.seed(7)
    expected = draws()
    for load in loaders:
        torch.manual_seed(7), np.random.seed(7), random.seed(7)
        load()
        assert draws() == expected, load
    assert inside() == inside()  # the block itself is seeded


def test_only_the_caller_seeds_the_global_generators():
    """No library module calls seed_everything (which resets the global generators) except through `seeded`."""
    from pathlib import Path

    import course_lib

    root = Path(course_lib.__file__).parent
    calls = [f"{p.relative_to(root)}:{n}" for p in root.rglob("*.py") if p.name != "device.py"
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if "seed_everything(" in line]
    assert calls == []

