"""Mutant students: an instructor notebook with a classic mistake, and which hidden tests it fails (run in-process)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

import nbformat
import torch


def mutant(source: Path, cell_id: str, edits: Iterable[tuple[str, str]]) -> nbformat.NotebookNode:
    """The notebook at `source` with (old, new) text replacements made in the answer cell `cell_id`."""
    nb = nbformat.read(source, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == cell_id)
    for old, new in edits:
        assert cell.source.count(old) == 1, f"{old!r} should occur once in cell {cell_id}"
        cell.source = cell.source.replace(old, new)
    return nb


def hidden_part(source: str) -> str:
    """The code between ### BEGIN HIDDEN TESTS and ### END HIDDEN TESTS."""
    found = re.search(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", source, re.S)
    assert found, "a test cell without hidden tests"
    return found.group(1)


def failing_hidden_tests(nb: nbformat.NotebookNode, test_cells: set[str], needs: Iterable[str] = ()) -> set[str]:
    """Run the set-up and answer cells (and the `needs` cells, e.g. a training cell), then only the hidden part of
    each test cell: the ids of those that fail."""
    needs = set(needs)
    namespace: dict = {}
    failing = set()
    threads = torch.get_num_threads()
    try:
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            grade_id = meta.get("grade_id")
            if cell.cell_type != "code":
                continue
            if grade_id in test_cells:
                try:
                    exec(compile(hidden_part(cell.source), grade_id, "exec"), namespace)
                except Exception:  # an assertion, or a crash on a new shape: either way the test fails
                    failing.add(grade_id)
            elif grade_id in ("parameters", "setup") or grade_id in needs or meta.get("solution"):
                try:
                    exec(compile(cell.source, grade_id, "exec"), namespace)
                except Exception:  # as nbgrader: a cell that fails does not stop the notebook; the tests will tell
                    pass
    finally:
        torch.set_num_threads(threads)  # the set-up cell asks for one thread
    return failing


def autograde_students(tmp: Path, assignment: str, notebooks: dict[str, nbformat.NotebookNode], filename: str):
    """One nbgrader autograde run, in a scratch course under tmp, of one student per notebook: {name: score}."""
    from ci.check_grading import autograde, generate_release, scratch_course

    course = scratch_course(tmp / "course")
    generate_release(course, assignment)
    students = {}
    for name, nb in notebooks.items():
        folder = tmp / name
        folder.mkdir()
        nbformat.write(nb, folder / filename)
        students[name] = folder
    return autograde(course, assignment, students)


def assert_loses_exactly(score, points: dict[str, float], broken: set[str]) -> None:
    """A graded mutant student scored 0 in the test cells its mistake breaks and full marks in every other one."""
    grades = {cell: score.grades[cell] for cell in points}
    assert grades == {cell: 0 if cell in broken else full for cell, full in points.items()}, \
        f"expected to lose exactly {sorted(broken)}, got {grades}"
    assert score.auto_score == score.max_auto_score - sum(points[cell] for cell in broken)
