"""The trusted checker's tables (grading/checks/<assignment>.py), for every assignment, without a kernel.

For each assignment, one reference run (classgrade.reference, a process of its own) on the solution and on
every classic mistake, with every check, and one run of the student release. Then, scored by the trusted side
exactly as the grader scores a student: the solution earns every point, the untouched release none, each
classic mistake loses exactly the parts it breaks and is diagnosed as itself there.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "grading"))

from classgrade.reference import compute  # noqa: E402
from classgrade.trusted import as_probed, autograded_points, has_table, load_table, score  # noqa: E402

SEED = 20261130
ASSIGNMENTS = sorted(p.name for p in (REPO / "solutions").iterdir() if p.is_dir())


def notebook(folder: str, assignment: str) -> dict:
    return json.loads((REPO / folder / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def runs(request, tmp_path_factory):
    assignment = request.param
    if not has_table(assignment):
        pytest.fail(f"{assignment} has no check table in grading/checks/")
    tmp = tmp_path_factory.mktemp(f"reference-{assignment}")
    reference = compute(assignment, SEED, tmp, mistakes=True, all_checks=True,
                        also=REPO / "exercises" / assignment / f"{assignment}.ipynb")
    return assignment, load_table(assignment), reference, {"solution": reference["also"]}


def test_every_autograded_part_has_checks(runs):
    assignment, table, _, _ = runs
    assert table.parts() == set(autograded_points(notebook("solutions", assignment))), \
        "the parts with checks should be exactly the autograded test cells"


def test_the_solution_earns_every_point(runs):
    assignment, table, reference, _ = runs
    nb = notebook("solutions", assignment)
    parts = score(table, autograded_points(nb), reference, as_probed(nb, reference["solution"]))
    assert {p: (part.earned, part.failures, part.forbidden) for p, part in parts.items()} == \
           {p: (points, [], []) for p, points in autograded_points(nb).items()}


def test_the_release_earns_nothing(runs):
    assignment, table, reference, release = runs
    nb = notebook("exercises", assignment)
    parts = score(table, autograded_points(nb), reference, as_probed(nb, release["solution"]))
    assert {p: part.earned for p, part in parts.items()} == {p: 0 for p in autograded_points(nb)}


def test_each_classic_mistake_loses_its_parts_and_is_named(runs):
    assignment, table, reference, _ = runs
    nb = notebook("solutions", assignment)
    points = autograded_points(nb)
    assert table.mistakes, f"{assignment}: no classic mistakes in its table"
    assert set().union(*(m.parts for m in table.mistakes.values())) == {p for p in points if "quiz" not in p}, \
        "every part but a quiz has its classic mistakes"
    for name, mistake in table.mistakes.items():
        parts = score(table, points, reference, as_probed(nb, reference["mistakes"][name]))
        lost = {p for p, part in parts.items() if part.earned < part.points}
        assert lost == set(mistake.parts), f"{name}: lost {sorted(lost)}, expected {sorted(mistake.parts)}"
        for p in mistake.parts:
            assert name in parts[p].mistakes, f"{name} not diagnosed in {p}: {parts[p].failures[:2]}"


def test_feedback_pages_teach_and_hide(runs):
    """The pages a student gets (the notebook as released + the checker's verdicts) for the solution, the release and a
    partly wrong submission: none withheld, none quoting a hidden test, the mistake named in its part."""
    from nbconvert import HTMLExporter
    import nbformat

    from classgrade.checker import annotated
    from classgrade.course import Course
    from classgrade.feedback import hidden_lines, html_leaks
    from classgrade.trusted import without_probe
    from classgrade.visible import as_released, released_sources

    assignment, table, reference, release_run = runs
    release = notebook("exercises", assignment)
    name, mistake = sorted(table.mistakes.items())[0]
    wrong = notebook("solutions", assignment)
    for cell in wrong["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == mistake.cell:
            source = "".join(cell["source"])
            for old, new in mistake.edits:
                source = source.replace(old, new)
            cell["source"] = source
    secret = hidden_lines(Course(REPO), assignment)
    for student, nb, records in (("solution", notebook("solutions", assignment), reference["solution"]),
                                 ("release", release, release_run["solution"]),
                                 (name, wrong, reference["mistakes"][name])):
        as_released(nb, released_sources(release))  # what the kernel runs first, for the feedback (execute.py)
        probed = as_probed(nb, records)
        parts = score(table, autograded_points(release), reference, probed)
        shown = annotated(without_probe(probed), parts, table)
        page = HTMLExporter().from_notebook_node(nbformat.reads(json.dumps(shown), as_version=4))[0]
        assert html_leaks(page, secret) == [], student
        assert "BEGIN HIDDEN TESTS" not in page and "Trusted check" in page
        if student == name:
            assert table.mistakes[name].diagnosis.split(":")[0][:40] in page.replace("&#x27;", "'").replace("&quot;", '"')


def test_the_hints_file_is_fresh_and_never_hints_at_the_solution(runs):
    """exercises/<a>/hints.json equals what classgrade.hints writes from this reference run (same seed), and
    no mistake's fingerprints are all the solution's (a right answer never gets a hint)."""
    from course_lib.checking.hints import fingerprint

    from classgrade.hints import SEED as HINT_SEED
    from classgrade.hints import hints, text

    assignment, table, reference, _ = runs
    assert HINT_SEED == SEED
    fresh = text(hints(table, reference, notebook("exercises", assignment)))
    for folder in ("exercises", "solutions"):
        assert (REPO / folder / assignment / "hints.json").read_text(encoding="utf-8") == fresh, \
            f"{folder}/{assignment}/hints.json is stale: run `cd grading && python -m classgrade.hints {assignment}`"
    solution = {r["check"]: fingerprint(r) for r in reference["solution"]}
    for mistake in json.loads(fresh)["mistakes"]:
        assert mistake["fingerprints"] and any(solution[int(i)] != f for i, f in mistake["fingerprints"].items()), \
            mistake["name"]


HINT_SESSION = r"""
import json, sys
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
shell = InteractiveShell.instance()
cells = json.load(open(sys.argv[1]))
for source in cells[:-1]:
    assert shell.run_cell(source).success, source
with capture_output() as out:
    shell.run_cell(cells[-1])
print(out.stdout + out.stderr)
"""


@pytest.mark.parametrize("edit, hinted", [(None, False), ("forgot-stride", True), ("random-values", False)])
def test_a_failing_test_cell_names_the_classic_mistake(tmp_path, edit, hinted):
    """In the student's own kernel (an IPython shell, as Validate runs it): the release's test cell of conv2d,
    after a conv2d with the classic stride mistake, ends its error with the mistake's sentence."""
    import subprocess

    release, solution = notebook("exercises", "convolutions"), notebook("solutions", "convolutions")
    source = lambda nb, grade_id: next("".join(c["source"]) for c in nb["cells"]  # noqa: E731
                                       if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)
    conv2d = source(solution, "conv2d")
    if edit == "forgot-stride":
        conv2d = conv2d.replace("i * stride : i * stride + k_h, j * stride : j * stride + k_w", "i : i + k_h, j : j + k_w")
    elif edit == "random-values":
        conv2d = conv2d.replace("    return out\n", "    return torch.rand_like(out)\n")
    cells = [source(release, "parameters"), source(release, "setup"), source(solution, "conv_output_size"), conv2d,
             source(release, "test_conv2d")]
    (tmp_path / "cells.json").write_text(json.dumps(cells))
    done = subprocess.run([sys.executable, "-c", HINT_SESSION, str(tmp_path / "cells.json")], capture_output=True,
                          text=True, cwd=REPO / "exercises" / "convolutions", env={**os.environ, "MPLBACKEND": "Agg"},
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert ("AssertionError" in done.stdout) == (edit is not None)
    assert ("Hint: this looks like a classic mistake" in done.stdout) == hinted
    assert ("multiply by the stride" in done.stdout) == hinted


@pytest.mark.parametrize("shortcut", [
    "from course_lib.models.scores import additive_score as course_score\n    return course_score(query, keys, "
    "torch.cat([W_q, W_k], 1), v)",
    "from course_lib.models import scores\n    return scores.additive_score(query, keys, torch.cat([W_q, W_k], 1), v)",
])
def test_the_course_score_table_is_no_shortcut_for_the_attention_exercise(shortcut):
    """Lecture 4's score functions (course_lib.models.scores) compute part 3a's answer: calling them is forbidden."""
    from classgrade.rules import violations
    nb = notebook("solutions", "attention")
    cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "additive")
    source = "".join(cell["source"])
    start, end = source.index("### BEGIN SOLUTION"), source.index("### END SOLUTION")
    cell["source"] = source[:start] + shortcut + "\n    " + source[end:]
    table = load_table("attention")
    rule = next(r for r in table.forbid if r.part == "test_additive_score")
    assert violations(nb, rule), "calling the course's additive_score should be caught"
    assert not violations(notebook("solutions", "attention"), rule)
