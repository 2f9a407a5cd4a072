"""Shared fixtures. Figures are drawn off-screen; every test starts from the same seed."""

import os
import tempfile

# Session-wide settings, once: figures off-screen, no network for Hugging Face (nothing here may touch it; set
# before any test module imports transformers), and one CPU thread: the course's models are tiny, one thread is
# as fast and far faster when other programs share the machine.
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ["HF_HUB_OFFLINE"] = "1"
# Models the tests (and the notebooks they run) train are cached in a folder of this run only: nothing an earlier
# run left in build/ or ~/.cache is read. Stores made later (and the notebooks' kernels) read it from here.
os.environ["COURSE_CACHE_DIR"] = tempfile.mkdtemp(prefix="course-test-cache-")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_lib import seed_everything  # noqa: E402
from course_lib.data import load_digits  # noqa: E402
from course_lib.recipes.store import Store, shipped_dir  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed_and_close_figures():
    seed_everything(0)
    yield
    plt.close("all")


@pytest.fixture(scope="session")
def digits():
    return load_digits()


@pytest.fixture
def tmp_store(tmp_path):
    """A CPU store that trains into this test's own folder (nothing shipped or cached is read)."""
    return Store(torch.device("cpu"), False, None, tmp_path)


@pytest.fixture(scope="session")
def shipped_store():
    """A CPU store that only loads the shipped checkpoints: a missing one is an error, never a training run."""
    return Store(torch.device("cpu"), False, shipped_dir(), None, train_missing=False)
