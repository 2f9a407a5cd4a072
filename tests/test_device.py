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


def test_loading_a_recipe_leaves_the_callers_generators_alone():
    """The zoo seeds each recipe (seed_everything inside @keeps_random_state) without resetting the caller's."""
    import random

    import numpy as np
    import torch

    from course_lib.device import keeps_random_state, seed_everything

    @keeps_random_state
    def recipe():
        seed_everything(123)
        return torch.rand(1).item(), np.random.rand(), random.random()

    torch.manual_seed(7), np.random.seed(7), random.seed(7)
    expected = (torch.rand(1).item(), np.random.rand(), random.random())
    torch.manual_seed(7), np.random.seed(7), random.seed(7)
    first = recipe()
    assert (torch.rand(1).item(), np.random.rand(), random.random()) == expected
    assert recipe() == first  # the recipe itself is still seeded
    from course_lib.zoo_scenes import visual_attention

    assert visual_attention.__wrapped__  # the zoo's loaders carry it
