"""Forged scores on a real exercise (convolutions), graded by classgrade with the trusted checker.

Each hostile student tries one of the tricks that fooled the in-kernel tests (an input transformer, an
always-equal object, a MagicMock, reading the expected value from the caller's line, a patched allclose, a
reference to F.conv2d saved before the hidden patch, printing the hidden tests) and must score exactly what
their honest part earns. One partly wrong student shows feedback naming the classic mistake. The tricks do
not need the sandbox to fail, so this runs with bubblewrap where it works and without it elsewhere.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "grading"))

from classgrade.autograde import autograde  # noqa: E402
from classgrade.course import Course, Settings, bwrap_works  # noqa: E402
from classgrade.feedback import feedback, hidden_lines  # noqa: E402
from classgrade.gradebook import State  # noqa: E402

ASSIGNMENT = "convolutions"
NAME = f"{ASSIGNMENT}.ipynb"
ANSWERS = ["conv_output_size", "conv2d", "conv2d_unfold", "maxpool2d_forward", "maxpool2d_backward", "quiz_answer"]
FULL = 12  # autograded points (2 more are a short answer for a person)

EQ_ALWAYS = "class Same:\n    def __eq__(self, other):\n        return True\n    __hash__ = object.__hash__\n"
CALLER = """import inspect, re

def _expected():
    line = inspect.stack()[2].code_context[0]  # the test's line: `assert f(...) == 32, ...`
    found = re.search(r"==\\s*(-?\\d+)", line)
    return int(found.group(1)) if found else 0
"""
LEAK = """import base64
def _leak(info):
    print('LEAK', base64.b64encode(info.raw_cell.encode()).decode())
get_ipython().events.register('pre_run_cell', _leak)
"""


def answers(nb, bodies: dict[str, str]) -> nbformat.NotebookNode:
    """`nb` with the answer cells in `bodies` replaced (keeping their metadata)."""
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in bodies:
            cell.source = bodies[grade_id]
    return nb


def add_cell(nb, source: str, after: str = "setup") -> nbformat.NotebookNode:
    index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == after)
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
    return nb


def every_answer(body: str) -> dict[str, str]:
    """Each function of the exercise defined as `def name(*args, **kwargs): <body>`; the quiz wrong."""
    return {**{f: f"def {f}(*args, **kwargs):\n    {body}\n" for f in ANSWERS[:-1]}, "quiz_answer": "quiz_answer = {'b'}"}


def students(root: Path) -> dict[str, tuple[nbformat.NotebookNode, int]]:
    """name -> (notebook, the points its honest part earns)."""
    solution = lambda: nbformat.read(root / "solutions" / ASSIGNMENT / NAME, as_version=4)  # noqa: E731
    release = lambda: nbformat.read(root / "exercises" / ASSIGNMENT / NAME, as_version=4)  # noqa: E731
    transformer = add_cell(release(), "get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])")
    equal = add_cell(answers(release(), every_answer("return Same()")), EQ_ALWAYS)
    mock = add_cell(answers(release(), every_answer("return MagicMock()")), "from unittest.mock import MagicMock")
    caller = add_cell(answers(release(), every_answer("return _expected()")), CALLER)
    zeros = add_cell(answers(solution(), {f: f"def {f}(*args, **kwargs):\n    return torch.zeros(1)\n"
                                          for f in ANSWERS[1:-1]}),
                     "torch.allclose = torch.equal = lambda *a, **k: True")  # conv_output_size and the quiz honest
    saved = solution()
    answers(saved, {"conv2d": "def conv2d(x, weight, bias=None, stride=1, padding=0):\n"
                              "    return _conv(x, weight, bias, stride=stride, padding=padding)\n"})
    add_cell(saved, "_conv = F.conv2d  # saved before the hidden test's mock.patch")
    lookup = answers(solution(), {"conv2d": "def conv2d(x, weight, bias=None, stride=1, padding=0):\n"
                                            "    return getattr(F, 'conv' + '2d')(x, weight, bias, stride, padding)\n"})
    leak = add_cell(solution(), LEAK)
    wrong = solution()
    cell = next(c for c in wrong.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "conv2d")
    cell.source = cell.source.replace("i * stride : i * stride + k_h, j * stride : j * stride + k_w",
                                      "i : i + k_h, j : j + k_w")
    # the untouched release (0 points) is graded by the grading check and tests/test_trusted_checks.py
    return {"solution": (solution(), FULL), "input-transformer": (transformer, 0),
            "always-equal": (equal, 0), "magicmock": (mock, 0), "caller-frame": (caller, 0),
            "patched-allclose": (zeros, 3), "saved-conv2d": (saved, FULL - 4), "getattr-conv2d": (lookup, FULL - 4),
            "leaks-hidden": (leak, FULL), "forgot-stride": (wrong, FULL - 4)}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("trusted") / "course"
    shutil.copytree(REPO / "solutions" / ASSIGNMENT, root / "solutions" / ASSIGNMENT)
    (root / "grading" / "checks").mkdir(parents=True)
    shutil.copy(REPO / "grading" / "checks" / f"{ASSIGNMENT}.py", root / "grading" / "checks")
    course = Course(root)
    course.nbgrader("generate_assignment", ASSIGNMENT, "--force")
    expected = {}
    for name, (nb, points) in students(root).items():
        folder = root / "grading" / "submitted" / name / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / NAME)
        expected[name] = points
    settings = Settings(cell_timeout=60, notebook_timeout=300, trust_submissions=not bwrap_works())
    summary = autograde(ASSIGNMENT, course, settings, n_workers=2, progress=False)
    leaks = feedback(ASSIGNMENT, course, progress=False)
    return course, summary, expected, leaks


def test_every_trick_scores_exactly_its_honest_part(graded):
    _, summary, expected, _ = graded
    assert not summary.failed and not summary.timed_out, summary.text()
    assert "trusted checker" in summary.checks
    assert summary.graded == pytest.approx(expected), summary.text()


def test_the_saved_conv2d_is_caught_by_reading_the_code(graded):
    course, _, _, _ = graded
    state = State(course.grading / ".classgrade" / "state.json")
    for student in ("saved-conv2d", "getattr-conv2d"):
        check = state.get(ASSIGNMENT, student)["checks"]["test_conv2d"]
        assert check["earned"] == 0 and check["forbidden"], check


def test_feedback_names_the_mistake_and_shows_no_hidden_test(graded):
    course, _, _, leaks = graded
    assert leaks == {}, "no page withheld"
    secret = hidden_lines(course, ASSIGNMENT)
    pages = {p.parent.parent.name: p.read_text(encoding="utf-8") for p in (course.grading / "feedback").rglob("*.html")}
    assert set(pages) == set(graded[2])
    assert "multiply by the stride" in pages["forgot-stride"] and "Trusted check: 0 of 4 points" in pages["forgot-stride"]
    assert "multiply by the stride" not in pages["solution"]
    for student, text in pages.items():
        decoded = [base64.b64decode(t + "=" * (-len(t) % 4)).decode("utf-8", "replace")
                   for t in re.findall(r"LEAK ([A-Za-z0-9+/=]+)", text)]
        assert not [line for line in secret if any(line in d for d in decoded + [text])], student
        assert "BEGIN HIDDEN TESTS" not in text and "_torch_width" not in "".join(decoded)
    assert re.search(r"LEAK [A-Za-z0-9+/=]{40,}", pages["leaks-hidden"]), "the hook did run before the hidden tests"


def test_the_state_keeps_the_diagnosis_for_the_report(graded):
    course, _, _, _ = graded
    record = State(course.grading / ".classgrade" / "state.json").get(ASSIGNMENT, "forgot-stride")
    assert record["checks"]["test_conv2d"]["mistakes"] == ["conv-ignores-stride"]
    assert json.dumps(record)  # plain data


def test_the_report_counts_the_mistake_and_flags_the_tricks(graded, tmp_path):
    import csv

    from classgrade.report import report

    course, _, _, _ = graded
    page, table = report(ASSIGNMENT, course, tmp_path)
    rows = {r["student"]: r for r in csv.DictReader(open(table, encoding="utf-8"))}
    assert rows["forgot-stride"]["classic_mistakes"] == "test_conv2d: conv-ignores-stride"
    assert "IPython input transformer" in rows["input-transformer"]["flags"]
    assert "frame or caller inspection" in rows["caller-frame"]["flags"]
    assert "torch or numpy function replaced" in rows["patched-allclose"]["flags"]
    assert rows["solution"]["flags"] == "" and rows["solution"]["classic_mistakes"] == ""
    assert "multiply by the stride" in page.read_text(encoding="utf-8")


def test_a_student_without_checker_results_is_told_why(graded):
    _, summary, _, _ = graded
    assert any("no results from the trusted checker" in p for p in summary.problems.get("input-transformer", []))
    assert not any("trusted checker" in p for p in summary.problems.get("solution", []))
