"""Shared fixtures. Figures are drawn off-screen; every test starts from the same seed."""

import atexit
import os
import shutil
import tempfile

# Session-wide settings, once: figures off-screen, no network for Hugging Face (nothing here may touch it; set
# before any test module imports transformers), and one CPU thread: the course's models are tiny, one thread is
# as fast and far faster when other programs share the machine.
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ["HF_HUB_OFFLINE"] = "1"
# Every temporary file of this run (pytest's tmp_path, the grader's scratch folders, the kernels' files) goes into
# one folder of this process, removed when it ends: nothing is read from or left in the machine's /tmp.
RUN_TMP = tempfile.mkdtemp(prefix="course-test-")
os.environ["TMPDIR"] = tempfile.tempdir = RUN_TMP
atexit.register(shutil.rmtree, RUN_TMP, ignore_errors=True)
# Models the tests (and the notebooks they run) train are cached in a folder of this run only: nothing an earlier
# run left in build/ or ~/.cache is read. Stores made later (and the notebooks' kernels) read it from here.
os.environ["COURSE_CACHE_DIR"] = tempfile.mkdtemp(prefix="cache-")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_lib import seed_everything  # noqa: E402
from course_lib.data import load_digits  # noqa: E402
from course_lib.recipes.store import Store  # noqa: E402

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
    return Store.shipped_only()


@pytest.fixture(scope="session")
def minilm_path():
    """The packaged all-MiniLM-L6-v2 folder (the test is skipped, with why, where that optional package is missing)."""
    from course_lib import hub

    if hub.minilm_path() is None:
        pytest.skip(f"the optional packaged model is not installed ({hub.INSTALL_HINT})")
    return hub.minilm_path()


@pytest.fixture(scope="module")
def minilm(minilm_path):
    """(tokenizer, model) of the packaged MiniLM, loaded offline."""
    from course_lib import hub

    return hub.load_minilm()


# The slow groups: `make test-fast` (pytest -m "not slow") leaves them out for the inner loop; `make test` runs
# everything. Listed here, in the order `make test` starts them: the longest first, so that the two workers of
# pytest-xdist (--dist loadfile) finish together instead of one waiting on a long module started last.
SLOW_MODULES = {
    "test_class_grading.py": "grading", "test_grading_mutants.py": "grading", "test_trusted_grading.py": "grading",
    "test_class_grading_cluster.py": "grading", "test_class_grading_sandbox.py": "grading",
    "test_notebooks.py": "notebooks", "test_grading.py": "grading", "test_trusted_checks.py": "grading",
    "test_feedback_all_assignments.py": "grading", "test_lecture2_claims.py": "training",
    "test_lecture6_claims.py": "sampling", "test_browser.py": "browser", "test_lecture7_llava_claims.py": "answers",
    "test_lora_diffusion.py": "sampling", "test_site.py": "notebooks", "test_wheel.py": "packaging",
}


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: the slow groups (grading, notebooks, training, browser); "
                                       "make test-fast leaves them out")


def pytest_collection_modifyitems(config, items):
    order = list(SLOW_MODULES)
    for item in items:
        if item.path.name in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: order.index(item.path.name) if item.path.name in SLOW_MODULES else len(order))
