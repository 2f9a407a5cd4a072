"""The notebook as released (grading/classgrade/visible.py): what the kernel runs before any hidden test."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "grading"))

from classgrade.visible import PROBE_CELL, as_released, released_sources  # noqa: E402

TEST = "check(square(2), 4)\n### BEGIN HIDDEN TESTS\nassert square(-3) == 9\n### END HIDDEN TESTS"


def meta(grade_id: str, solution: bool = False, grade: bool = False) -> dict:
    return {"nbgrader": {"grade_id": grade_id, "solution": solution, "grade": grade, "locked": not solution}}


def test_test_cells_get_the_release_source_and_the_hidden_one_is_handed_back():
    release = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("def check(got, want):\n    assert got == want", metadata=meta("helpers")),
        nbformat.v4.new_code_cell("def square(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()",
                                  metadata=meta("square", solution=True)),
        nbformat.v4.new_code_cell("check(square(2), 4)\n", metadata=meta("test_square", grade=True))])
    sources = released_sources(release)
    assert sources == {"helpers": release.cells[0].source, "test_square": "check(square(2), 4)\n"}  # no answer cell
    graded = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("def check(got, want):\n    assert got == want", metadata=meta("helpers")),
        nbformat.v4.new_code_cell("def square(x):\n    return x * x", metadata={**meta("square", solution=True),
                                                                             PROBE_CELL: True}),  # a student's fake
        nbformat.v4.new_code_cell(TEST, metadata=meta("test_square", grade=True)),
        nbformat.v4.new_code_cell("print('scratch')", metadata={PROBE_CELL: True})])
    hidden = as_released(graded, sources)
    assert hidden == {2: TEST}  # only the cell whose source differs is run again, in full
    assert graded.cells[2].source == "check(square(2), 4)\n" and "HIDDEN" not in nbformat.writes(graded)
    assert graded.cells[1].source == "def square(x):\n    return x * x"  # the student's answer stays theirs
    assert not any(PROBE_CELL in cell.metadata for cell in graded.cells)  # only the grader's cell may carry it


def test_malformed_cells_are_passed_over():
    nb = {"cells": [{"cell_type": "code", "metadata": "not a dict", "source": "x"}, "not a cell",
                    {"cell_type": "code", "metadata": {"nbgrader": "odd"}, "source": ["a", "b"]}]}
    assert as_released(nb, {"t": "y"}) == {}
