"""The nbgrader loop, end to end, in scratch course directories (the instructor's files are never touched).

Every assignment's grading check and its mutant students: tests/test_grading_mutants.py.
"""

import csv
import shutil

import nbformat

from ci.check_grading import REPO, assignments, generate_release, late_rebinds, nbgrader, release_leaks, scratch_course

ASSIGNMENT = "pca_autoencoders"
SOURCE = REPO / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


def test_the_course_has_its_assignments():
    assert ASSIGNMENT in assignments()


def test_every_graded_cell_has_points_and_a_unique_id():
    for source in (REPO / "solutions").glob("*/*.ipynb"):
        ids = []
        for cell in nbformat.read(source, as_version=4).cells:
            meta = cell.metadata.get("nbgrader")
            if meta:
                ids.append(meta["grade_id"])
                if meta.get("grade"):
                    assert meta.get("points", 0) > 0, f"{source.name}: {meta['grade_id']} has no points"
        assert len(ids) == len(set(ids)), f"{source.name}: grade_ids repeat"


def test_release_leak_check_finds_solution_text(tmp_path):
    """The leak check itself: a release with a solution line left in must be reported."""
    release = REPO / "exercises" / ASSIGNMENT / SOURCE.name
    assert release_leaks(release, SOURCE) == []
    nb = nbformat.read(release, as_version=4)
    nb.cells[4].source += "\n    _, _, vt = torch.linalg.svd(x - mean, full_matrices=False)  # vt: (min(n, d), d)"
    leaky = tmp_path / SOURCE.name
    nbformat.write(nb, leaky)
    assert any("solution line" in p for p in release_leaks(leaky, SOURCE))


def test_instructor_workflow_release_submit_collect_grade_feedback_export(tmp_path):
    """The Makefile's instructor targets, step by step, with a student in between (on the clip exercise: the
    plumbing is the same for every exercise, and this one trains nothing)."""
    ASSIGNMENT, SOURCE = "clip", REPO / "solutions" / "clip" / "clip.ipynb"
    course = scratch_course(tmp_path / "course")
    exchange = course / "exchange"
    exchange.mkdir()
    generate_release(course, ASSIGNMENT)
    nbgrader(course, "release_assignment", ASSIGNMENT, "--force")

    student_home = tmp_path / "student"
    student_home.mkdir()
    student_args = ("--course", "dl-vision-attention", f"--Exchange.root={exchange}")
    nbgrader(course, "fetch_assignment", ASSIGNMENT, *student_args, cwd=student_home)
    fetched = student_home / ASSIGNMENT / SOURCE.name
    assert fetched.is_file()
    shutil.copy(SOURCE, fetched)  # the student solves everything
    nbgrader(course, "submit", ASSIGNMENT, *student_args, cwd=student_home)

    nbgrader(course, "collect", ASSIGNMENT)
    nbgrader(course, "autograde", ASSIGNMENT)
    nbgrader(course, "generate_feedback", ASSIGNMENT)
    nbgrader(course, "export", "--to", str(tmp_path / "grades.csv"))

    feedback = list((course / "grading" / "feedback").rglob("*.html"))
    assert len(feedback) == 1 and "clip_logits" in feedback[0].read_text()
    rows = list(csv.DictReader(open(tmp_path / "grades.csv")))
    assert len(rows) == 1 and rows[0]["assignment"] == ASSIGNMENT
    assert float(rows[0]["raw_score"]) == 12.0 and float(rows[0]["max_score"]) == 14.0  # 2 points await a person


def test_hidden_tests_read_no_name_a_later_cell_binds_again(tmp_path):
    """classgrade runs a test cell's hidden tests after the whole notebook (grading/classgrade/execute.py): what
    they read must still be what it was right after their answer cell."""
    for assignment in assignments():
        for source in sorted((REPO / "solutions" / assignment).glob("*.ipynb")):
            assert late_rebinds(source) == [], source
    test = {"nbgrader": {"grade": True, "grade_id": "test_out", "points": 1, "solution": False, "locked": True}}
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("out = 2 * 2"),
        nbformat.v4.new_code_cell("def f(out):\n    return out\nassert f(1) == 1\n### BEGIN HIDDEN TESTS\n"
                                  "assert out == 4\n### END HIDDEN TESTS", metadata=test),
        nbformat.v4.new_code_cell("def g(out):\n    return out"),  # an argument: no clash
        nbformat.v4.new_code_cell("for out in range(3):\n    pass")])  # the global rebound: a clash
    (tmp_path / "demo").mkdir()
    nbformat.write(nb, tmp_path / "demo" / "demo.ipynb")
    problems = late_rebinds(tmp_path / "demo" / "demo.ipynb")
    assert len(problems) == 1 and "test_out reads ['out']" in problems[0]
    nb.cells.pop()
    nbformat.write(nb, tmp_path / "demo" / "demo.ipynb")
    assert late_rebinds(tmp_path / "demo" / "demo.ipynb") == []
