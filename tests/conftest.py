"""Shared fixtures. Figures are drawn off-screen; every test starts from the same seed."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from course_lib import seed_everything  # noqa: E402
from course_lib.data import load_digits  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_and_close_figures():
    seed_everything(0)
    yield
    plt.close("all")


@pytest.fixture(scope="session")
def digits():
    return load_digits()
