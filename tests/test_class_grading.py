"""Whole-class grading (grading/classgrade): honest, broken and hostile submissions in ONE parallel run.

A tiny nbgrader assignment (tests/class_grading_notebooks/tiny: square 2 points, cube 1, add 1) keeps each
kernel fast; one module-scoped run grades every student on a 2-worker Dask LocalCluster. The hostile ones
(tests/classgrade_students.py) are the security review's cases; tests/test_class_grading_sandbox.py has the
runs that need their own settings (no bubblewrap, regrades, the lock).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "grading"))

from classgrade.autograde import autograde  # noqa: E402
from classgrade.collect import collect_zip  # noqa: E402
from classgrade.course import Course, Settings, bwrap_works  # noqa: E402
from classgrade.feedback import feedback, hidden_lines  # noqa: E402
from classgrade.files import submission_hash  # noqa: E402
from classgrade_students import (HOSTILE_SCORES, REFUSED_FOLDERS, SECRET_ENV, SECRET_VALUE, cell,  # noqa: E402
                                 hostile, make_course, write_submission)

SANDBOXED = bwrap_works()
needs_bwrap = pytest.mark.skipif(not SANDBOXED, reason="bubblewrap is not available: files are not isolated")
# cell_timeout: long enough for any honest cell on a busy machine, short for the infinite loop
SETTINGS = Settings(cell_timeout=5, notebook_timeout=90, memory_mb=1024, disk_mb=64, output_mb=1, trust_submissions=True)


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
    edit("os-exit", "add", "import os\nos._exit(1)\ndef add(a, b):\n    return a + b")
    nb = edit("edited-test-cell", "square", "def square(x):\n    return x + x")  # right at 2, wrong elsewhere
    cell(nb, "test_square").source = "pass"
    edit("square-doubles", "square", "def square(x):\n    return x * 2")  # classic mistakes of the check table
    edit("add-subtracts", "add", "def add(a, b):\n    return a - b")
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
    targets = [course / "grading" / "gradebook.db", course / "solutions" / "tiny" / "tiny.ipynb", course / "secret.txt",
               REPO / "solutions" / "pca_autoencoders" / "pca_autoencoders.ipynb", Path("/etc/shadow")]
    edit("reads-secrets", "square",
         "import glob, os\nfound = [p for p in " + repr([str(t) for t in targets]) + " if os.path.exists(p)]\n"
         # the folder around the scratch course (small: this test's own): not the whole of /tmp, whose size
         # (and so the cell's time, unsandboxed) depends on the machine
         f"found += glob.glob({str(course.parent) + '/**/gradebook.db'!r}, recursive=True)"
         f" + glob.glob({str(course.parent) + '/**/solutions/**'!r}, recursive=True)\n"
         "for p in found:\n    try:\n        open(p, 'rb').read(10)\n    except OSError:\n        pass\n"
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


SANDBOX_ONLY = {"root-escape", "tmpfs-flood", "reads-exchange"}
EXPECTED = {  # student -> autograded score out of 4 (square 2, cube 1, add 1)
    "correct": 4, "unchanged": 0, "syntax-error": 2, "runtime-error": 3, "infinite-loop": 3, "memory-bomb": 2,
    "sys-exit": 3, "edited-test-cell": 2, "edited-locked-cell": 3, "overrides-helper": 3,
    "deleted-test-cell": 4, "tampered-points": 4, "square-doubles": 2, "add-subtracts": 3, "reads-secrets": 4, "writes-outside": 4,
    "os-exit": 3,  # the kernel died in `add`: graded again without that cell, the rest keeps its points
    **{s: score for s, score in HOSTILE_SCORES.items() if score is not None and (SANDBOXED or s not in SANDBOX_ONLY)},
}
FAILED = {"invalid-json": "not a valid notebook", "missing-notebook": "missing notebook"}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("classgrade") / "course"
    c = make_course(root)
    exchange = root.parent / "exchange" / "inbound" / "bob+tiny+2026"
    exchange.mkdir(parents=True)
    (exchange / "tiny.ipynb").write_text("{}")
    attacks = hostile(root, exchange)
    if not SANDBOXED:  # on the host itself these would really try (as root: remount /); their tests skip
        attacks = {s: c for s, c in attacks.items() if s not in SANDBOX_ONLY}
    for student, content in {**students(root), **attacks}.items():
        write_submission(root / "grading" / "submitted" / student / "tiny", content)
    for name in REFUSED_FOLDERS:  # reserved or unusable ids: reported, never graded, nobody else affected
        write_submission(root / "grading" / "submitted" / name / "tiny", solution_bytes(root))
    return c


def solution_bytes(root: Path) -> bytes:
    return (root / "solutions" / "tiny" / "tiny.ipynb").read_bytes()


@pytest.fixture(scope="module")
def run(course):
    os.environ[SECRET_ENV] = SECRET_VALUE  # an instructor's token: must never reach a kernel
    try:
        summary = autograde("tiny", course, SETTINGS, n_workers=2, progress=False)
    finally:
        os.environ.pop(SECRET_ENV, None)
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
    assert all(got[s]["max"] == 4 for s in EXPECTED)  # tampered and extra points are not counted
    assert set(run.graded) == set(EXPECTED) | {"fork-bomb"}  # its score: test_a_fork_bomb_is_stopped


@pytest.mark.parametrize("student, why", sorted(FAILED.items()))
def test_broken_submissions_fail_clearly_and_score_zero_in_the_gradebook(run, course, student, why):
    assert why in run.failed[student] + " ".join(run.problems.get(student, []))
    assert scores(course)[student]["score"] == 0  # in the gradebook (and the CSV), not silently absent


def test_the_report_names_each_problem(run):
    report = run.text()
    for student, expected in {"syntax-error": "SyntaxError", "runtime-error": "NameError",
                              "infinite-loop": "timed out", "memory-bomb": "MemoryError",
                              "sys-exit": "sys.exit()", "os-exit": "add: stopped the kernel"}.items():
        assert any(expected in line and student in line for line in report.splitlines()), (student, report)
    assert "2 failed" in report and not run.timed_out


def test_one_broken_answer_leaves_the_other_parts_graded(run, course):
    got = scores(course)
    assert got["infinite-loop"]["grades"] == {"test_square": 2, "test_cube": 0, "test_add": 1}
    assert got["memory-bomb"]["grades"] == {"test_square": 0, "test_cube": 1, "test_add": 1}
    assert got["deleted-test-cell"]["grades"]["test_cube"] == 1  # the trusted checker scores the answer itself
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
    assert "check" in pages["edited-test-cell"]  # the visible test, as the release shows it


def test_without_bubblewrap_the_resource_limits_still_hold(run, course):
    """The fallback (macOS, containers without user namespaces): the memory bomb still meets RLIMIT_AS."""
    plain = Settings(cell_timeout=3, notebook_timeout=60, memory_mb=1024, bwrap=False, trust_submissions=True)
    again = autograde("tiny", course, plain, n_workers=0, students=["memory-bomb"], force=True, progress=False)
    assert again.graded == {"memory-bomb": 2}
    assert "square: MemoryError (memory limit)" in again.problems["memory-bomb"]


def test_export_csv(run, course, tmp_path):
    course.nbgrader("export", "--to", str(tmp_path / "grades.csv"))  # nbgrader's own export still works
    rows = {r["student_id"]: r for r in csv.DictReader(open(tmp_path / "grades.csv"))}
    assert float(rows["correct"]["raw_score"]) == 4 and float(rows["syntax-error"]["raw_score"]) == 2
    from classgrade.gradebook import State, export_csv

    export_csv(course.gradebook, State(course.grading / ".classgrade" / "state.json"), tmp_path / "status.csv")
    rows = {r["student_id"]: r for r in csv.DictReader(open(tmp_path / "status.csv", encoding="utf-8"))}
    assert rows["correct"]["status"] == "graded" and float(rows["correct"]["score"]) == 4
    assert rows["invalid-json"]["status"] == "failed" and "not a valid notebook" in rows["invalid-json"]["reason"]


def test_collect_from_an_lms_zip(tmp_path, course):
    import zipfile

    archive = tmp_path / "canvas.zip"
    release = (course.root / "exercises" / "tiny" / "tiny.ipynb").read_bytes()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("jdoe_12345_678_tiny-1.ipynb", release)
        zf.writestr("asmith_late_222_333_tiny.ipynb", release)
        zf.writestr("bkim/tiny.ipynb", release)
    target = Course(tmp_path / "course")
    shutil.copytree(course.root / "exercises", target.root / "exercises")
    collected = collect_zip("tiny", archive, target, progress=False)
    assert collected.students == {"asmith": ["tiny.ipynb"], "bkim": ["tiny.ipynb"], "jdoe": ["tiny.ipynb"]}
    assert collected.problems == []
    for student in collected.students:
        assert (target.grading / "submitted" / student / "tiny" / "tiny.ipynb").read_bytes() == release


def test_the_command_line_prints_a_summary(run, course):
    """`python -m classgrade autograde` from grading/: graded students are skipped, a failed one is retried."""
    import subprocess

    env = {**os.environ, "COURSE_ROOT": str(course.root), "PYTHONPATH": str(REPO / "grading")}
    done = subprocess.run([sys.executable, "-m", "classgrade", "autograde", "tiny", "--workers", "0",
                           "--student", "correct", "--student", "invalid-json", "--cell-timeout", "3",
                           "--memory-mb", "1024", "--trust-submissions"],
                          cwd=REPO / "grading", env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "0 graded, 1 unchanged (skipped), 1 failed" in done.stdout
    assert "FAILED     invalid-json: tiny.ipynb is not a valid notebook" in done.stdout
    assert ("SANDBOX    bubblewrap:" in done.stdout) == SANDBOXED


# ---- the security review's cases (tests/classgrade_students.py) ------------------------------------------

def printed(course: Course, student: str) -> str:
    return output_text(course, student)


@needs_bwrap
def test_root_escape_student_code_has_no_privileges(run, course):
    line = next(l for l in printed(course, "root-escape").splitlines() if l.startswith("ESCAPE-REPORT"))
    report = eval(line.removeprefix("ESCAPE-REPORT "))  # a dict the test's own submission printed
    assert report["uid"] != 0 and report["euid"] != 0
    assert report["CapEff"] == "0000000000000000"
    assert report["umount"] != 0 and report["remount"] != 0  # the mounts that hide the host stay
    assert report["shadow"] != "READ"
    assert "HOST-SECRET" not in printed(course, "reads-secrets")


def test_links_the_kernel_plants_are_never_followed(run, course):
    secret = course.root / "secret.txt"
    assert secret.read_text() == "HOST-SECRET" and secret.stat().st_mode & 0o777 == 0o600  # not overwritten, not chmod-ed
    folder = course.grading / "autograded" / "notebook-symlink" / "tiny"
    assert [p.name for p in folder.iterdir()] == ["tiny.ipynb"] and not (folder / "tiny.ipynb").is_symlink()
    cwd = next(l for l in printed(course, "notebook-symlink").splitlines() if l.startswith("CWD"))
    assert str(course.root) not in cwd  # the kernel works in a throwaway folder, not nbgrader's output folder


def test_links_in_a_submission_are_not_copied(run, course):
    problems = " ".join(run.problems["submitted-symlinks"])
    assert "leak.txt: a symbolic link, not collected" in problems and "etc: a symbolic link" in problems
    assert [p.name for p in (course.grading / "autograded" / "submitted-symlinks" / "tiny").iterdir()] == ["tiny.ipynb"]


def test_the_kernel_gets_a_cleared_environment(run, course):
    text = printed(course, "env-probe")
    assert "ENV" in text and SECRET_VALUE not in text and SECRET_ENV not in text
    assert "COURSE_ROOT" not in text and "JUPYTER_RUNTIME_DIR" not in text


@needs_bwrap
def test_another_students_submission_in_the_exchange_is_invisible(run, course):
    assert "EXCHANGE False" in printed(course, "reads-exchange")


@needs_bwrap
def test_tmp_is_a_sized_tmpfs(run, course):
    assert "TMPFS-STOPPED 28" in printed(course, "tmpfs-flood")  # ENOSPC at disk_mb, not 400 MiB of host memory


def test_memory_is_capped_for_the_whole_process_tree(run, course):
    """Six forked children of 250 MiB each (1.5 GiB) under a 1 GiB cap: the tree is killed, only `cube` is lost."""
    assert "killed: memory of all its processes over 1024 MiB" in " ".join(run.problems["fork-memory"])
    assert scores(course)["fork-memory"]["grades"] == {"test_square": 2, "test_cube": 0, "test_add": 1}


def test_a_fork_bomb_is_stopped(run, course):
    """Root + bubblewrap: RLIMIT_NPROC of the submission's own uid refuses the forks; elsewhere the supervisor
    counts the processes and kills the tree. Either way the rest is graded; `add` earns its point only where
    its cell survived (bubblewrap: the forks are refused, the function is defined and the probe finds it right)."""
    text, problems = printed(course, "fork-bomb"), " ".join(run.problems.get("fork-bomb", []))
    assert "FORK-REFUSED" in text or "more than 64 processes" in problems
    assert "FORKED-ALL" not in text
    grades = scores(course)["fork-bomb"]["grades"]
    assert grades["test_square"] == 2 and grades["test_cube"] == 1
    assert grades["test_add"] == (1 if "FORK-REFUSED" in text else 0)


def test_output_floods_are_capped_in_the_notebook(run, course):
    notebook = course.grading / "autograded" / "output-flood" / "tiny" / "tiny.ipynb"
    assert notebook.stat().st_size < 3 * 2**20  # 12 MiB printed, 1 MiB kept
    assert "output over 1 MiB for this notebook" in notebook.read_text()
    assert scores(course)["output-flood"]["score"] == 4


def test_terminal_escapes_never_reach_the_summary(run, course):
    report = run.text()
    assert "\x1b" not in report and "\x07" not in report
    assert "escapes" not in run.failed and scores(course)["escapes"]["score"] == 4
    assert not any(line.startswith("FAILED     correct") for line in report.splitlines())


def test_a_crash_costs_only_the_crashing_part(run, course):
    got = scores(course)
    assert got["segfault"]["grades"] == {"test_square": 2, "test_cube": 1, "test_add": 0}
    assert got["kills-kernel"]["grades"] == {"test_square": 2, "test_cube": 0, "test_add": 1}
    assert "cube: stopped the kernel" in " ".join(run.problems["kills-kernel"])


def test_duplicate_and_extra_graded_cells_are_ignored_and_reported(run, course):
    assert "a second copy of a graded cell" in " ".join(run.problems["duplicate-test"])
    assert "not a cell of this assignment (it claims points)" in " ".join(run.problems["extra-points"])
    assert scores(course)["extra-points"]["max"] == 4


def test_reserved_and_unusable_folder_names_are_reported_not_graded(run, course):
    for name in REFUSED_FOLDERS:
        assert name not in scores(course)
    refused = {clean_name: " ".join(why) for clean_name, why in run.problems.items() if "not graded" in " ".join(why)}
    assert len(refused) == len(REFUSED_FOLDERS), refused
    assert (course.grading / ".classgrade" / "state.json").is_file()  # the state lives outside student folders


def leaked_sources(text: str) -> list[str]:
    """What the leaks-hidden student printed: each cell's source in base64 and with zero-width spaces."""
    import base64
    import html
    import re

    text = html.unescape(text)
    decoded = [base64.b64decode(token).decode("utf-8", "replace") for token in re.findall(r"LEAK ([A-Za-z0-9+/=]+)", text)]
    return decoded + [text.replace("\u200b", "")]


def test_one_kernel_runs_the_notebook_as_released_then_the_hidden_tests(run, course):
    """One kernel per submission (its execution counts never restart): the notebook as released first, in order,
    which the feedback keeps; then the test cells that hide tests, again, in full, which nbgrader scores."""
    from classgrade.gradebook import visible_folder

    def counts(path: Path) -> dict[str, int]:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return {c["metadata"]["nbgrader"]["grade_id"]: c["execution_count"] for c in cells
                if c["cell_type"] == "code" and "nbgrader" in c["metadata"]}

    order = ["helpers", "square", "test_square", "cube", "test_cube", "add", "test_add"]
    shown = counts(visible_folder(course.grading, "tiny", "correct") / "tiny.ipynb")
    graded = counts(course.grading / "autograded" / "correct" / "tiny" / "tiny.ipynb")
    assert [shown[c] for c in order] == sorted(shown[c] for c in order)
    assert max(graded[c] for c in order if not c.startswith("test_")) < min(graded[c] for c in order if c.startswith("test_"))
    assert all(graded[c] == shown[c] for c in order if not c.startswith("test_"))  # the same run of each answer
    assert all(graded[c] >= max(shown.values()) + 2 for c in order if c.startswith("test_"))  # and after the probe


def test_hidden_tests_never_reach_feedback_in_any_encoding(run, course):
    """In the graded kernel the hidden tests exist and a hook prints them (base64, zero-width spaces); the
    feedback page is the notebook as released, kept before they reached the kernel."""
    autograded = (course.grading / "autograded" / "leaks-hidden" / "tiny" / "tiny.ipynb").read_text()
    assert any("HIDDEN-CANARY" in source for source in leaked_sources(autograded))  # the attack is real
    feedback("tiny", course, progress=False)
    page = next((course.grading / "feedback" / "leaks-hidden" / "tiny").glob("*.html")).read_text()
    assert "LEAK" in page  # the student's hook ran before the hidden tests too
    assert not any("HIDDEN-CANARY" in source or "square(-3)" in source for source in leaked_sources(page))


def test_the_class_report_flags_tampering_and_names_failures(run, course, tmp_path):
    import re

    from classgrade.report import report

    page, table = report("tiny", course, tmp_path)
    rows = {r["student"]: r for r in csv.DictReader(open(table, encoding="utf-8"))}
    assert len(rows) >= 30 and float(rows["correct"]["score"]) == 4 and rows["invalid-json"]["status"] == "failed"
    assert "IPython event hook" in rows["leaks-hidden"]["flags"] and "ctypes" in rows["segfault"]["flags"]
    assert "processes forked" in rows["fork-bomb"]["flags"] and "exit or kill" in rows["os-exit"]["flags"]
    assert rows["correct"]["flags"] == "" and rows["unchanged"]["flags"] == ""
    assert rows["square-doubles"]["classic_mistakes"] == "test_square: square-doubles"
    assert rows["add-subtracts"]["classic_mistakes"] == "test_add: add-subtracts" and rows["correct"]["classic_mistakes"] == ""
    text = page.read_text()
    assert "You doubled x" in text  # the mistakes table: each diagnosis with how many students made it
    assert "add: stopped the kernel" in text  # os-exit: graded, and its crashed cell is listed
    assert "data:image/png;base64," in text and not re.search(r"(src|href)=[\"']https?://", text)
    assert "invalid-json" in text and "\x1b" not in text
