"""The course's commands without `make` (Windows, or any machine without it); run from the repository root.

    python -m ci course                  # = make course: every notebook in full mode, HTML, the site
    python -m ci test [PYTEST ARGS]      # = make test: the whole suite on every core (pytest -n auto)
    python -m ci test -- tests/test_pca.py -q   # any pytest arguments after --
    python -m ci test-fast               # = make test-fast: everything not marked slow
    python -m ci site                    # = make site: build/site/ from build/executed/, nothing re-run
    python -m ci lab                     # = make lab: JupyterLab with the course's settings

Each runs the same Python command as the Makefile target, with this interpreter and COURSE_CACHE_DIR set to
build/checkpoints unless it is set already. Install the course first (see README.md: pip install ...).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTEST_PARALLEL = ["-n", "auto", "--dist", "loadfile", "--no-loadscope-reorder"]


def commands(extra: list[str]) -> dict[str, tuple[list[str], Path]]:
    """Each command's argv (after `python`) and the folder it runs in, as the Makefile runs it."""
    lab_config = REPO / "ci" / "lab" / "jupyter_lab_config.py"
    is_root = hasattr(os, "getuid") and os.getuid() == 0  # containers run as root; Windows has no uid
    return {
        "course": (["-m", "ci.run_notebooks", "--mode", "full", *extra], REPO),
        "test": (["-m", "pytest", *PYTEST_PARALLEL, *extra], REPO),
        "test-fast": (["-m", "pytest", *PYTEST_PARALLEL, "-m", "not slow", *extra], REPO),
        "site": (["-m", "ci.build_site", *extra], REPO),
        "lab": (["-m", "jupyterlab", f"--notebook-dir={REPO}", f"--config={lab_config}",
                 *(["--allow-root"] if is_root else []), *extra], REPO / "grading"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ci", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=list(commands([])), help="what to run (as the make target of that name)")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="passed on (after --), e.g. pytest's arguments")
    args = parser.parse_args(argv)
    extra = args.args[1:] if args.args[:1] == ["--"] else args.args
    command, cwd = commands(extra)[args.command]
    env = {**os.environ, "COURSE_CACHE_DIR": os.environ.get("COURSE_CACHE_DIR", str(REPO / "build" / "checkpoints"))}
    return subprocess.run([sys.executable, *command], cwd=cwd, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
