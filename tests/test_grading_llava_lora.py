"""Exercise 7 'llava_lora': the hidden tests catch the classic mistakes, and each costs only the points of its part.

Every 'mutant student' is a copy of the instructor solution with one classic mistake. Two checks:
- all of them, in-process: the *hidden* tests alone (without the visible ones) fail exactly in the cell of the
  broken part, and the correct solution passes them all;
- one per part, through nbgrader (one autograde run for all): the broken part's test cell scores 0, the others full
  marks, and the short answer still waits for a person.
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

ASSIGNMENT = "llava_lora"
SOURCE = REPO / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
POINTS = {"test_connect": 3, "test_lora_init": 2, "test_lora_forward": 2, "test_lora_merge": 2,
          "test_assemble_prompt": 3}
TEST_CELLS = set(POINTS)

# name: (answer cell, [(text in the solution, the mistake), ...], the test cells that must fail): the classic mistakes
# of the trusted checker's table (grading/checks/llava_lora.py), the one place they are written down.
MISTAKES = {name: (m.cell, list(m.edits), set(m.parts)) for name, m in load_table(ASSIGNMENT).mistakes.items()}
# One per test cell through nbgrader (about 8 s a student); every mistake is checked in-process.
AUTOGRADED = ["square-weight-untransposed", "lora-B-not-zero", "lora-forward-without-scale", "lora-merge-without-scale",
              "mask-off-by-one"]


def mutant(name: str) -> nbformat.NotebookNode:
    """The instructor notebook with one classic mistake made in one answer cell."""
    cell_id, edits, _ = MISTAKES[name]
    return _mutant(SOURCE, cell_id, edits)


def failing_hidden_tests(nb: nbformat.NotebookNode) -> set[str]:
    """The ids of the test cells whose hidden part fails on `nb`."""
    return _failing(nb, TEST_CELLS)


def test_the_points_add_up():
    nb = nbformat.read(SOURCE, as_version=4)
    cells = [c.metadata.nbgrader for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert {m["grade_id"]: m["points"] for m in cells if m["grade_id"] in TEST_CELLS} == POINTS
    assert [(m["grade_id"], m["points"]) for m in cells if m["grade_id"] not in TEST_CELLS] == [("short_answer", 2)]
    assert {broken for _, _, cells_ in MISTAKES.values() for broken in cells_} == TEST_CELLS, "every part has mistakes"
    assert {next(iter(MISTAKES[name][2])) for name in AUTOGRADED} == TEST_CELLS, "every test cell autograded"


def test_the_solution_passes_every_hidden_test():
    assert failing_hidden_tests(nbformat.read(SOURCE, as_version=4)) == set()


@pytest.mark.parametrize("name", MISTAKES)
def test_hidden_tests_alone_catch_the_mistake_in_its_part_only(name):
    assert failing_hidden_tests(mutant(name)) == MISTAKES[name][2]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One autograde run: a student per autograded mistake."""
    tmp = tmp_path_factory.mktemp("grading-llava-lora")
    return autograde_students(tmp, ASSIGNMENT, {name: mutant(name) for name in AUTOGRADED}, SOURCE.name)


@pytest.mark.parametrize("name", AUTOGRADED)
def test_a_mistake_costs_exactly_the_points_of_its_part(graded, name):
    assert_loses_exactly(graded[name], POINTS, MISTAKES[name][2])
    assert graded[name].max_auto_score == 12
    assert graded[name].needs_manual_grade  # the short answer still waits for a person
