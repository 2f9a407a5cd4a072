"""Every lecture's first code cell: install the course's library where it is missing (Colab, Binder, a fresh kernel).

The repository URL is written into the cell as a literal (a Colab kernel has no repository to read it from) and is
generated here from the one place that holds it, pyproject.toml, through ci/course_info.py's `course_url()`.
Where torch is already installed (Colab ships its own CUDA build), the cell keeps it: it installs course_lib
without dependencies and then the other dependencies by name (read from pyproject.toml here), so pip never swaps
Colab's torch for the course's pinned CPU build. `python -m ci.slides` puts this cell into every lecture;
tests/test_slides.py checks each lecture carries it.
"""

from __future__ import annotations

from ci.course_info import course_url, dependencies

CELL_ID = "install-course"  # the cell's id in every lecture


def install_cell_source() -> str:
    """The source of the install cell, with the repository URL and the dependencies filled in."""
    torch, *others = dependencies("hf")  # pyproject.toml lists torch first (a test checks)
    return f'''\
# On Colab, Binder or in a fresh environment the course's library is missing: this cell installs it (once).
# Where `course_lib` imports already (a local set-up with `make`), it does nothing.
try:
    import course_lib
except ImportError:
    import importlib
    import importlib.util
    import os
    import subprocess
    import sys

    # the course from its repository, or from a local wheel file (the offline test)
    package = os.environ.get("COURSE_LIB_WHEEL") or "course-lib @ git+{course_url()}"
    needs = "{' '.join(others)}".split()
    if importlib.util.find_spec("torch") is None:  # keep a torch already there (Colab's GPU build)
        needs.append("{torch}")
    pip = [sys.executable, "-m", "pip", "install", "--quiet"]
    subprocess.check_call(pip + ["--no-deps", package])  # the course itself, without its torch pin
    subprocess.check_call(pip + needs)
    importlib.invalidate_caches()  # let Python see the newly installed package
    import course_lib'''
