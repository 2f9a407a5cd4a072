"""Exercise 5 'clip': students who make the classic mistakes lose the points of the part they broke, and only those.

Each mutant student is the instructor's notebook with one answer cell edited; all of them are autograded in one
nbgrader run of a scratch course (the instructor's files are never touched).
"""

import sys

import nbformat
import pytest

from ci.check_grading import REPO
from mutants import assert_loses_exactly, autograde_students, mutant

sys.path.insert(0, str(REPO / "grading"))
from classgrade.trusted import load_table  # noqa: E402

ASSIGNMENT = "clip"
SOURCE = REPO / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"

# student: (answer cell, [(text in the solution, what the student wrote instead), ...], the test cells that must fail),
# from the classic mistakes of the trusted checker's table (grading/checks/clip.py): one list for both graders.
MUTANTS = {name: (m.cell, list(m.edits), set(m.parts)) for name, m in load_table(ASSIGNMENT).mistakes.items()}


def points_per_test() -> dict[str, float]:
    """grade_id -> points of every autograded test cell of the instructor notebook."""
    cells = nbformat.read(SOURCE, as_version=4).cells
    return {c.metadata.nbgrader["grade_id"]: c.metadata.nbgrader["points"] for c in cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Autograde every mutant student in one nbgrader run."""
    tmp = tmp_path_factory.mktemp("grading-clip")
    students = {name: mutant(SOURCE, cell_id, edits) for name, (cell_id, edits, _) in MUTANTS.items()}
    return autograde_students(tmp, ASSIGNMENT, students, SOURCE.name)


def test_the_exercise_has_its_points():
    points = points_per_test()
    assert points == {"test_clip_logits": 2, "test_clip_loss": 3, "test_class_embeddings": 3,
                      "test_zero_shot_predict": 2, "test_recall_at_k": 2}
    assert set().union(*(broken for _, _, broken in MUTANTS.values())) == set(points), \
        "every graded part has its mutants"


@pytest.mark.parametrize("student", MUTANTS)
def test_a_classic_mistake_loses_its_part_and_only_it(graded, student):
    assert_loses_exactly(graded[student], points_per_test(), MUTANTS[student][2])
    assert graded[student].needs_manual_grade  # the short answer still waits for a person
