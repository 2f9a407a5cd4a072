"""A synthetic class for the grading bench: N students of the tests' tiny assignment, hostile ones included.

The synthetic class (tests/class_grading_notebooks/tiny, 4 points) cycles through KINDS: the solution, the
release unchanged, a wrong answer, an infinite loop (the cell timeout), a memory bomb (the memory limit),
os._exit(1) (the kernel dies), a fork bomb (capped: see FORK_DOUBLINGS), a 50 MB print flood and 10 MB
written into /tmp. It is graded through `autograde(..., scheduler=address)`, as on several machines
(benchmarks/local_cluster.py). The run fails if a student is missing, a solution scores other than 4 or a
release other than 0; it reports every other outcome that differs from EXPECTED, the processes left behind
and whether the host's /tmp was written. 200 students take about 11 minutes on 2 cores.

    python benchmarks/grading_throughput.py --synthetic [--n 200] [--workers 2]
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "grading"))

from benchmarks.local_cluster import start_cluster  # noqa: E402
from classgrade.autograde import autograde  # noqa: E402
from classgrade.course import Course, Settings  # noqa: E402

TINY = REPO / "tests" / "class_grading_notebooks" / "tiny"
TMP_CANARY = "/tmp/classgrade-bench-wrote-here.txt"  # a student writes it; the sandbox's /tmp is a tmpfs
FORK_DOUBLINGS = 7  # the fork bomb stops at 2**7 = 128 processes: an uncapped one would take the whole machine down

# kind -> the answer cell it replaces (grade_id) and its new source; None: the notebook as it is
KINDS: dict[str, tuple[str, str] | None] = {
    "solution": None,
    "release": None,
    "wrong": ("cube", "def cube(x):\n    return x * 3"),
    "infinite-loop": ("cube", "while True:\n    pass\ndef cube(x):\n    return x ** 3"),
    "memory-bomb": ("square", "hog = []\nwhile True:\n    hog.append(bytearray(64 * 1024 * 1024))\n"
                              "def square(x):\n    return x * x"),
    "os-exit": ("add", "import os\nos._exit(1)"),
    "fork-bomb": ("add", "import os, time\nif os.fork() == 0:  # a child that forks, and every process forks again\n"
                         f"    try:\n        for _ in range({FORK_DOUBLINGS}):\n            os.fork()\n"
                         "        time.sleep(600)\n    finally:\n        os._exit(0)\n"
                         "def add(a, b):\n    return a + b"),
    "print-flood": ("square", "for _ in range(50):  # 50 MB of output\n    print(('x' * 1023 + '\\n') * 1024, end='')\n"
                              "def square(x):\n    return x * x"),
    "writes-tmp": ("square", f"open({TMP_CANARY!r}, 'w').write('x' * 10**7)\n"
                             "def square(x):\n    return x * x"),
}
# kind -> the autograded score (square 2, cube 1, add 1), a tuple of the scores allowed, or the words the
# failure's reason must contain
EXPECTED: dict[str, float | tuple | str] = {
    "solution": 4, "release": 0, "wrong": 3, "infinite-loop": 3, "memory-bomb": 2,
    "os-exit": 3,  # the kernel died in `add`: graded again without that cell, the rest keeps its points
    "fork-bomb": (4, 3),  # 4: `add` finished first; 3: the grader stopped the tree (its process cap) within `add`
    "print-flood": 4, "writes-tmp": 4,
}



def synthetic_class(root: Path, n: int, kinds: tuple[str, ...] = tuple(KINDS)) -> tuple[Course, dict[str, str]]:
    """A scratch course of the tiny assignment whose n students cycle through `kinds`; and student -> kind."""
    shutil.copytree(TINY, root / "solutions" / "tiny")
    (root / "grading" / "checks").mkdir(parents=True)  # with its check table: points from the trusted checker
    shutil.copy(TINY.parent / "checks" / "tiny.py", root / "grading" / "checks" / "tiny.py")
    course = Course(root)
    course.nbgrader("generate_assignment", "tiny", "--force")
    students = {}
    for i in range(n):
        kind = kinds[i % len(kinds)]
        nb = nbformat.read(root / ("exercises" if kind == "release" else "solutions") / "tiny" / "tiny.ipynb",
                           as_version=4)
        if KINDS[kind]:
            grade_id, source = KINDS[kind]
            next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id).source = source
        student = f"s{i:03d}-{kind}"
        folder = root / "grading" / "submitted" / student / "tiny"
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / "tiny.ipynb")
        students[student] = kind
    return course, students


def outcome(summary, student: str) -> float | str:
    """What happened to one student: the score, or 'failed: why' / 'timed out: why' / 'missing'."""
    if student in summary.graded:
        return summary.graded[student]
    if student in summary.failed:
        return f"failed: {summary.failed[student]}"
    if student in summary.timed_out:
        return f"timed out: {summary.timed_out[student]}"
    return "missing"


def as_expected(kind: str, got: float | str) -> bool:
    want = EXPECTED[kind]
    if isinstance(want, str):
        return isinstance(got, str) and want in got
    return got in want if isinstance(want, tuple) else got == want


def expected_text(kind: str) -> str:
    want = EXPECTED[kind]
    return " or ".join(map(str, want)) if isinstance(want, tuple) else str(want)


def grade_synthetic_class(n: int = 200, workers: int | None = None, settings: Settings | None = None,
                          progress: bool = True) -> dict:
    """Grade a synthetic class of n students on a scheduler and `workers` separately started worker processes.

    Returns seconds, submissions per minute, counts (graded, failed, timed out), one row per kind, what differed
    from EXPECTED, processes left behind and whether the real /tmp was written. Raises RuntimeError if a
    student is missing, a solution did not score 4 or a release did not score 0.
    """
    workers = workers or os.cpu_count() or 1
    settings = settings or Settings(cell_timeout=5, notebook_timeout=120, memory_mb=1024)
    Path(TMP_CANARY).unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="classgrade-bench-") as tmp:
        course, students = synthetic_class(Path(tmp) / "course", n)
        with start_cluster(Path(tmp) / "cluster", workers) as cluster:
            start = time.perf_counter()
            summary = autograde("tiny", course, settings, scheduler=cluster.address, progress=progress)
            seconds = time.perf_counter() - start
            strays = cluster.strays()
    got = {student: outcome(summary, student) for student in students}
    seconds_each = getattr(summary, "seconds", {}) or {}  # student -> seconds its grading took on a worker
    rows = []
    for kind in dict.fromkeys(students.values()):
        mine = [s for s, k in students.items() if k == kind]
        seen = Counter(str(got[s]) if not isinstance(got[s], str) else got[s].split(":")[0] for s in mine)
        took = [seconds_each[s] for s in mine if s in seconds_each]
        rows.append({"kind": kind, "students": len(mine), "expected": expected_text(kind),
                     "seconds": sum(took) / len(took) if took else float("nan"),
                     "as_expected": sum(as_expected(kind, got[s]) for s in mine),
                     "got": ", ".join(f"{k} x{v}" for k, v in seen.most_common())})
    unexpected = {s: got[s] for s, k in students.items() if not as_expected(k, got[s])}
    result = {"n": n, "workers": workers, "seconds": seconds, "per_minute": n / seconds * 60,
              "graded": len(summary.graded), "failed": len(summary.failed), "timed_out": len(summary.timed_out),
              "kinds": rows, "unexpected": unexpected, "strays": strays,
              "tmp_written": Path(TMP_CANARY).exists(), "summary": summary.text()}
    Path(TMP_CANARY).unlink(missing_ok=True)
    wrong = {s: g for s, g in unexpected.items() if students[s] in ("solution", "release") or g == "missing"}
    if wrong:
        raise RuntimeError(f"the synthetic class was graded wrongly: {wrong}\n{summary.text()}")
    return result


def synthetic_report(result: dict) -> list[str]:
    """The synthetic run as printable lines."""
    lines = [f"{result['n']} students on {result['workers']} worker processes: {result['seconds']:.0f} s, "
             f"{result['per_minute']:.1f} submissions/minute; {result['graded']} graded, {result['failed']} failed, "
             f"{result['timed_out']} timed out"]
    lines += [f"  {r['kind']:>14}: {r['as_expected']}/{r['students']} as expected ({r['expected']}); got {r['got']}; "
              f"{r['seconds']:.1f} s each" for r in result["kinds"]]
    lines += [f"  UNEXPECTED {s}: {g}" for s, g in sorted(result["unexpected"].items())]
    lines.append(f"  processes left behind: {result['strays']}; the real /tmp written: {result['tmp_written']}")
    return lines
