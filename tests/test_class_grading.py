"""Whole-class grading (grading/classgrade): hostile and broken submissions in ONE parallel run.

A tiny nbgrader assignment (tests/class_grading_notebooks/tiny: square 2 points, cube 1, add 1) keeps each
kernel fast; one module-scoped run grades every student on a 2-worker Dask LocalCluster.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "grading"))

from classgrade.autograde import autograde  # noqa: E402
from classgrade.collect import collect_zip  # noqa: E402
from classgrade.course import Course, Settings, bwrap_works  # noqa: E402
from classgrade.feedback import feedback, hidden_lines  # noqa: E402
from classgrade.worker import submission_hash  # noqa: E402

TINY = REPO / "tests" / "class_grading_notebooks" / "tiny"
SANDBOXED = bwrap_works()
needs_bwrap = pytest.mark.skipif(not SANDBOXED, reason="bubblewrap is not available: files are not isolated")
SETTINGS = Settings(cell_timeout=3, notebook_timeout=60, memory_mb=1024)


def cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def students(course: Path) -> dict[str, object]:
    """student -> notebook (NotebookNode), or raw bytes, or a dict {filename: bytes}."""
    solution = lambda: nbformat.read(course / "solutions" / "tiny" / "tiny.ipynb", as_version=4)  # noqa: E731
    release = lambda: nbformat.read(course / "exercises" / "tiny" / "tiny.ipynb", as_version=4)  # noqa: E731
    made = {"correct": solution(), "unchanged": release()}

    def edit(name, grade_id, new):
        nb = solution()
        cell(nb, grade_id).source = new
        made[name] = nb
        return nb

    edit("syntax-error", "square", "def square(x) return x * x")
    edit("runtime-error", "add", "def add(a, b):\n    return a + b + undefined_name")
    edit("infinite-loop", "cube", "while True:\n    pass\ndef cube(x):\n    return x ** 3")
    edit("memory-bomb", "square",
         "def _bomb():\n    hog = []\n    while True:\n        hog.append(bytearray(64 * 1024 * 1024))\n"
         "_bomb()\ndef square(x):\n    return x * x")
    edit("sys-exit", "cube", "import sys\nsys.exit(3)\ndef cube(x):\n    return x ** 3")
    edit("os-exit", "add", "import os\nos._exit(1)")
    nb = edit("edited-test-cell", "square", "def square(x):\n    return x + x")  # right at 2, wrong elsewhere
    cell(nb, "test_square").source = "pass"
    nb = edit("edited-locked-cell", "cube", "def cube(x):\n    return x * 3")
    cell(nb, "helpers").source = "def check(got, want):\n    pass"
    nb = edit("overrides-helper", "add", "check = lambda got, want: None\ndef add(a, b):\n    return a - b")
    nb = solution()
    nb.cells.remove(cell(nb, "test_cube"))
    made["deleted-test-cell"] = nb
    nb = solution()
    cell(nb, "test_square").metadata["nbgrader"]["points"] = 100
    made["tampered-points"] = nb
    made["invalid-json"] = b'{"cells": [ this is not json'
    made["missing-notebook"] = {"tiny (1).ipynb": nbformat.writes(solution()).encode()}
    targets = [course / "grading" / "gradebook.db", course / "solutions" / "tiny" / "tiny.ipynb",
               REPO / "solutions" / "pca_autoencoders" / "pca_autoencoders.ipynb"]
    edit("reads-secrets", "square",
         "import glob, os\nfound = [p for p in " + repr([str(t) for t in targets]) + " if os.path.exists(p)]\n"
         "found += glob.glob('/tmp/**/gradebook.db', recursive=True) + glob.glob('/tmp/**/solutions/**', recursive=True)\n"
         "for p in found:\n    open(p, 'rb').read(10)\n"
         "print('LEAKED' if found else 'NOTHING-FOUND', found)\n"
         "def square(x):\n    return x * x")
    outside = [course / "grading" / "pwned.txt", course / "pwned.txt", Path.home() / "pwned-classgrade.txt",
               Path("/tmp/pwned-classgrade.txt"), "../../../../pwned.txt"]
    edit("writes-outside", "square",
         "for target in " + repr([str(t) for t in outside]) + ":\n"
         "    try:\n        open(target, 'w').write('x')\n        print('WROTE', target)\n"
         "    except OSError as error:\n        print('BLOCKED', target, type(error).__name__)\n"
         "def square(x):\n    return x * x")
    return made


EXPECTED = {  # student -> autograded score out of 4 (square 2, cube 1, add 1)
    "correct": 4, "unchanged": 0, "syntax-error": 2, "runtime-error": 3, "infinite-loop": 3, "memory-bomb": 2,
    "sys-exit": 3, "edited-test-cell": 2, "edited-locked-cell": 3, "overrides-helper": 3,
    "deleted-test-cell": 3, "tampered-points": 4, "reads-secrets": 4, "writes-outside": 4,
}
FAILED = {"os-exit": "kernel died", "invalid-json": "not a valid notebook", "missing-notebook": "missing notebook"}


def write_submission(folder: Path, content) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        (folder / "tiny.ipynb").write_bytes(content)
    elif isinstance(content, dict) and not isinstance(content, nbformat.NotebookNode):
        for name, data in content.items():
            (folder / name).write_bytes(data)
    else:
        nbformat.write(content, folder / "tiny.ipynb")


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("classgrade") / "course"
    shutil.copytree(TINY, root / "solutions" / "tiny")
    (root / "grading").mkdir(parents=True)
    c = Course(root)
    c.nbgrader("generate_assignment", "tiny", "--force")
    for student, content in students(root).items():
        write_submission(root / "grading" / "submitted" / student / "tiny", content)
    return c


@pytest.fixture(scope="module")
def run(course):
    summary = autograde("tiny", course, SETTINGS, n_workers=2, progress=False)
    print(summary.text())
    yield summary
    for leftover in (Path.home() / "pwned-classgrade.txt", Path("/tmp/pwned-classgrade.txt")):
        leftover.unlink(missing_ok=True)


def scores(course: Course) -> dict[str, dict]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course.gradebook}") as gradebook:
        return {s.student.id: {"score": s.score, "max": s.max_score,
                               "grades": {g.name: g.score for nb in s.notebooks for g in nb.grades}}
                for s in gradebook.find_assignment("tiny").submissions}


def output_text(course: Course, student: str) -> str:
    nb = json.loads((course.grading / "autograded" / student / "tiny" / "tiny.ipynb").read_text())
    return "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))


def test_every_student_gets_the_expected_grade(run, course):
    got = scores(course)
    assert {s: got[s]["score"] for s in EXPECTED} == EXPECTED
    assert all(got[s]["max"] == 4 for s in EXPECTED)  # tampered points are restored from the gradebook
    assert set(run.graded) == set(EXPECTED)


@pytest.mark.parametrize("student, why", sorted(FAILED.items()))
def test_broken_submissions_fail_clearly_and_are_not_in_the_gradebook(run, course, student, why):
    assert why in run.failed[student] + " ".join(run.problems.get(student, []))
    assert student not in scores(course)


def test_the_report_names_each_problem(run):
    report = run.text()
    for student, expected in {"syntax-error": "SyntaxError", "runtime-error": "NameError",
                              "infinite-loop": "timed out", "memory-bomb": "MemoryError",
                              "sys-exit": "sys.exit()", "os-exit": "kernel died"}.items():
        assert any(expected in line and student in line for line in report.splitlines()), (student, report)
    assert "3 failed" in report and not run.timed_out


def test_one_broken_answer_leaves_the_other_parts_graded(run, course):
    got = scores(course)
    assert got["infinite-loop"]["grades"] == {"test_square": 2, "test_cube": 0, "test_add": 1}
    assert got["memory-bomb"]["grades"] == {"test_square": 0, "test_cube": 1, "test_add": 1}
    assert got["deleted-test-cell"]["grades"]["test_cube"] == 0
    assert "test_cube: deleted" in " ".join(run.problems["deleted-test-cell"])


def test_edited_tests_and_helpers_are_restored(run, course):
    got = scores(course)
    assert got["edited-test-cell"]["grades"]["test_square"] == 0  # graded with the original (hidden) test
    assert got["edited-locked-cell"]["grades"]["test_cube"] == 0  # the real check() came back
    assert got["overrides-helper"]["grades"]["test_add"] == 0  # the hidden assert does not use check()


@needs_bwrap
def test_student_code_cannot_read_hidden_tests_or_the_gradebook(run, course):
    assert "NOTHING-FOUND" in output_text(course, "reads-secrets")


@needs_bwrap
def test_student_code_cannot_write_outside_its_folder(run, course):
    """Writes outside the notebook's folder fail (read-only) or land in a tmpfs that vanishes with the kernel."""
    printed = output_text(course, "writes-outside")
    assert f"BLOCKED {course.root / 'grading' / 'pwned.txt'}" in printed  # the real course is not even visible
    assert not list(course.root.rglob("pwned.txt"))
    assert not (Path.home() / "pwned-classgrade.txt").exists() and not Path("/tmp/pwned-classgrade.txt").exists()


def test_rerun_skips_unchanged_and_regrades_a_new_submission(run, course):
    before = scores(course)
    again = autograde("tiny", course, SETTINGS, n_workers=0, students=["correct", "unchanged"], progress=False)
    assert sorted(again.skipped) == ["correct", "unchanged"] and not again.graded
    folder = course.grading / "submitted" / "unchanged" / "tiny"
    old_hash = submission_hash(folder)
    nbformat.write(nbformat.read(course.root / "solutions" / "tiny" / "tiny.ipynb", as_version=4), folder / "tiny.ipynb")
    assert submission_hash(folder) != old_hash
    regraded = autograde("tiny", course, SETTINGS, n_workers=0, students=["unchanged"], progress=False)
    assert regraded.graded == {"unchanged": 4}
    after = scores(course)
    assert after["unchanged"]["score"] == 4 and after["correct"] == before["correct"]
    assert len(after) == len(before)  # no duplicate submissions


def test_feedback_never_shows_hidden_tests(run, course):
    # nbgrader puts the hidden tests back into every autograded notebook, and a failing one quotes its message:
    assert "HIDDEN-CANARY-square" in (course.grading / "autograded" / "edited-test-cell" / "tiny" / "tiny.ipynb").read_text()
    leaks = feedback("tiny", course, progress=False)
    assert leaks == {}
    secret = hidden_lines(course, "tiny")
    assert any("HIDDEN-CANARY" in line for line in secret)
    pages = {p.parent.parent.name: p.read_text() for p in (course.grading / "feedback").rglob("*.html")}
    assert set(EXPECTED) <= set(pages)
    for student, page in pages.items():
        assert "HIDDEN-CANARY" not in page and "square(-3)" not in page, student
    assert "check" in pages["edited-test-cell"] and "hidden tests: not shown" in pages["edited-test-cell"]


def test_without_bubblewrap_the_resource_limits_still_hold(run, course):
    """The fallback (macOS, containers without user namespaces): the memory bomb still meets RLIMIT_AS."""
    plain = Settings(cell_timeout=3, notebook_timeout=60, memory_mb=1024, bwrap=False)
    again = autograde("tiny", course, plain, n_workers=0, students=["memory-bomb"], force=True, progress=False)
    assert again.graded == {"memory-bomb": 2}
    assert "square: MemoryError (memory limit)" in again.problems["memory-bomb"]


def test_export_csv(run, course, tmp_path):
    course.nbgrader("export", "--to", str(tmp_path / "grades.csv"))
    rows = {r["student_id"]: r for r in csv.DictReader(open(tmp_path / "grades.csv"))}
    assert float(rows["correct"]["raw_score"]) == 4 and float(rows["syntax-error"]["raw_score"]) == 2


def test_collect_from_an_lms_zip(tmp_path, course):
    archive = tmp_path / "canvas.zip"
    release = (course.root / "exercises" / "tiny" / "tiny.ipynb").read_bytes()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("jdoe_12345_678_tiny-1.ipynb", release)
        zf.writestr("asmith_late_222_333_tiny.ipynb", release)
        zf.writestr("bkim/tiny.ipynb", release)
    target = Course(tmp_path / "course")
    shutil.copytree(course.root / "exercises", target.root / "exercises")
    problems = collect_zip("tiny", archive, target, progress=False)
    assert problems == {"asmith": [], "bkim": [], "jdoe": []}
    for student in problems:
        assert (target.grading / "submitted" / student / "tiny" / "tiny.ipynb").read_bytes() == release


def test_the_command_line_prints_a_summary(run, course):
    """`python -m classgrade autograde` from grading/: graded students are skipped, a failed one is retried."""
    import subprocess

    env = {**os.environ, "COURSE_ROOT": str(course.root), "PYTHONPATH": str(REPO / "grading")}
    done = subprocess.run([sys.executable, "-m", "classgrade", "autograde", "tiny", "--workers", "0",
                           "--student", "correct", "--student", "os-exit", "--cell-timeout", "3",
                           "--memory-mb", "1024"], cwd=REPO / "grading", env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "0 graded, 1 unchanged (skipped), 1 failed" in done.stdout
    assert "FAILED     os-exit: the kernel died" in done.stdout
    assert ("bubblewrap" in done.stdout) == SANDBOXED
