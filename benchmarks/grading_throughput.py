"""Grading throughput: N copies of one assignment's solution, graded serially and then on a Dask LocalCluster.

    python benchmarks/grading_throughput.py                       # 200 copies of pca_autoencoders
    python benchmarks/grading_throughput.py --n 8 --tiny          # the tests' tiny assignment: fast kernels
    python benchmarks/grading_throughput.py --n 8 --workers 2 --assignment convolutions

Each run uses its own scratch course (the instructor's files are never touched); both go through the same
sandbox (bubblewrap where it works) and the same serial merge into a fresh gradebook. Prints submissions
per minute for each, and checks that every copy scored full autograded marks.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "grading"))

from classgrade.autograde import autograde  # noqa: E402
from classgrade.course import Course, Settings, bwrap_works  # noqa: E402


def class_of(source: Path, assignment: str, n: int, root: Path) -> Course:
    """A scratch course whose N students all submitted the instructor's solution."""
    shutil.copytree(source, root / "solutions" / assignment)
    (root / "grading").mkdir(parents=True)
    course = Course(root)
    course.nbgrader("generate_assignment", assignment, "--force")
    for i in range(n):
        folder = root / "grading" / "submitted" / f"student{i:03d}" / assignment
        folder.mkdir(parents=True)
        for notebook in (root / "solutions" / assignment).glob("*.ipynb"):
            shutil.copy(notebook, folder / notebook.name)
    return course


def throughput(n: int, assignment: str = "pca_autoencoders", workers: int | None = None,
               serial: bool = True) -> dict[str, float]:
    """Submissions per minute for n copies of the solution: serial (if asked) and on `workers` Dask workers."""
    workers = workers or os.cpu_count()
    tiny = REPO / "tests" / "class_grading_notebooks" / "tiny"
    source = tiny if assignment == "tiny" else REPO / "solutions" / assignment
    settings = Settings(cell_timeout=300, notebook_timeout=900)
    rates = {}
    runs = ([("serial", 0)] if serial else []) + [(f"parallel ({workers} workers)", workers)]
    for label, n_workers in runs:
        with tempfile.TemporaryDirectory(prefix="classgrade-bench-") as tmp:
            course = class_of(source, assignment, n, Path(tmp) / "course")
            start = time.perf_counter()
            summary = autograde(assignment, course, settings, n_workers=n_workers)
            seconds = time.perf_counter() - start
        if len(summary.graded) != n or len(set(summary.graded.values())) != 1:
            raise RuntimeError(f"Not every copy of the solution got the same score:\n{summary.text()}")
        rates[label] = n / seconds * 60
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="submissions (copies of the solution)")
    parser.add_argument("--assignment", default="pca_autoencoders")
    parser.add_argument("--tiny", action="store_true", help="tests/class_grading_notebooks/tiny instead")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="Dask worker processes")
    parser.add_argument("--skip-serial", action="store_true")
    args = parser.parse_args()
    assignment = "tiny" if args.tiny else args.assignment
    print(f"{args.n} x {assignment}; sandbox: {'bubblewrap + rlimits' if bwrap_works() else 'rlimits only'}; "
          f"{os.cpu_count()} cores")
    rates = throughput(args.n, assignment, args.workers, serial=not args.skip_serial)
    for label, rate in rates.items():
        print(f"{label:>24}: {rate:6.1f} submissions/minute")
    if len(rates) == 2:
        serial, parallel = rates.values()
        print(f"speed-up: {parallel / serial:.2f}x")


if __name__ == "__main__":
    main()
