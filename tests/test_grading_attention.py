"""Exercise 4 (attention): the hidden tests catch the classic mistakes, and each costs only the points of its part.

Every 'mutant student' is a copy of the instructor solution with one classic mistake, taken from the trusted
checker's table (grading/checks/attention.py, whose own checks must break the same parts: tests/test_trusted_checks.py).
Two checks:
- all of them, in-process: the *hidden* tests alone (without the visible ones) fail exactly in the cells of the
  broken part, and the correct solution passes them all;
- five of them, through nbgrader (one autograde run for all): the broken part's test cells score 0, the others
  full marks.
"""

from __future__ import annotations

import sys

import nbformat
import pytest

from ci.check_grading import REPO
from mutants import assert_loses_exactly, autograde_students
from mutants import failing_hidden_tests as _failing
from mutants import mutant as _mutant

sys.path.insert(0, str(REPO / "grading"))
from classgrade.trusted import load_table  # noqa: E402

ASSIGNMENT = "attention"
SOURCE = REPO / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
POINTS = {"test_sdpa": 3, "test_sdpa_mask": 2, "test_heads": 2, "test_multi_head": 2,
          "test_additive_score": 2, "test_additive_attention": 2}
TEST_CELLS = set(POINTS)

# name: (answer cell, its edits (text in the solution, the mistake), the test cells that must fail), from the
# trusted checker's table (grading/checks/attention.py): one list of classic mistakes for both graders
MISTAKES = {name: (m.cell, m.edits, set(m.parts)) for name, m in load_table(ASSIGNMENT).mistakes.items()}
AUTOGRADED = ["no-scaling", "softmax-over-queries", "mask-after-softmax", "merge-without-transpose",
              "additive-without-tanh"]  # through nbgrader; every mistake is checked in-process


def mutant(name: str) -> nbformat.NotebookNode:
    """The instructor notebook with one classic mistake made in one answer cell."""
    cell_id, edits, _ = MISTAKES[name]
    return _mutant(SOURCE, cell_id, edits)


def failing_hidden_tests(nb: nbformat.NotebookNode) -> set[str]:
    """The ids of the test cells whose hidden part fails on `nb`."""
    return _failing(nb, TEST_CELLS)


def test_the_mistakes_break_test_cells_only():
    assert MISTAKES and all(broken and broken <= TEST_CELLS for _, _, broken in MISTAKES.values())


def test_the_solution_passes_every_hidden_test():
    assert failing_hidden_tests(nbformat.read(SOURCE, as_version=4)) == set()


@pytest.mark.parametrize("name", MISTAKES)
def test_hidden_tests_alone_catch_the_mistake_in_its_part_only(name):
    assert failing_hidden_tests(mutant(name)) == MISTAKES[name][2]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One autograde run: a student per classic mistake."""
    tmp = tmp_path_factory.mktemp("grading-attention")
    return autograde_students(tmp, ASSIGNMENT, {name: mutant(name) for name in AUTOGRADED}, SOURCE.name)


def test_the_points_add_up():
    nb = nbformat.read(SOURCE, as_version=4)
    points = {c.metadata.nbgrader["grade_id"]: c.metadata.nbgrader["points"] for c in nb.cells
              if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"}
    assert points == POINTS


@pytest.mark.parametrize("name", AUTOGRADED)
def test_a_mistake_costs_exactly_the_points_of_its_part(graded, name):
    assert_loses_exactly(graded[name], POINTS, MISTAKES[name][2])
