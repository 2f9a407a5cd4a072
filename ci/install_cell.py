"""Every lecture's first code cell: install the course's library where it is missing (Colab, Binder, a fresh kernel).

The repository URL is written into the cell as a literal (a Colab kernel has no repository to read it from) and is
generated here from the one place that holds it, pyproject.toml, through ci/course_info.py's `course_url()`.
`python -m ci.slides` puts this cell into every lecture; tests/test_slides.py checks each lecture carries it.
"""

from __future__ import annotations

from ci.course_info import course_url

CELL_ID = "install-course"  # the cell's id in every lecture


def install_cell_source() -> str:
    """The source of the install cell, with the repository URL filled in."""
    return f'''\
# On Colab, Binder or in a fresh environment the course's library is missing: this cell installs it (once).
# Where `course_lib` imports already (a local set-up with `make`), it does nothing.
try:
    import course_lib
except ImportError:
    import importlib
    import os
    import subprocess
    import sys

    wheel = os.environ.get("COURSE_LIB_WHEEL")  # a local wheel file instead (the offline test)
    spec = f"{{wheel}}[hf]" if wheel else "course-lib[hf] @ git+{course_url()}"
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", spec])
    importlib.invalidate_caches()  # let Python see the newly installed package
    import course_lib'''
