"""Shared fixtures. Figures are drawn off-screen; every test starts from the same seed."""

import os

import tempfile  # noqa: E402

os.environ.setdefault("MPLBACKEND", "Agg")
# Models the tests (and the notebooks they run) train are cached in a folder of this run only: nothing an earlier
# run left in build/ or ~/.cache is read. Stores made later (and the notebooks' kernels) read it from here.
os.environ["COURSE_CACHE_DIR"] = tempfile.mkdtemp(prefix="course-test-cache-")

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
