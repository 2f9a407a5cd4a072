"""Feedback works for every assignment: the secret-line safety net withholds no honest page.

The release's own markdown and visible tests share strings with hidden asserts (`bias=None`,
`torch.nn.functional.conv2d`), and hidden tests hold generic lines (`continue`, `return None`); the safety net
must not mistake those for leaks. For each assignment the notebook the feedback comes from (the solution's
cells with the release's visible tests, run before any hidden test: classgrade/visible.py) is rendered to HTML and checked, and so is
the untouched release; both must pass, while a page quoting a hidden line must not.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbconvert import HTMLExporter

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "grading"))

from classgrade.course import Course  # noqa: E402
from classgrade.feedback import hidden_lines, html_leaks  # noqa: E402
from classgrade.visible import as_released, released_sources  # noqa: E402

ASSIGNMENTS = sorted(p.name for p in (REPO / "solutions").iterdir() if p.is_dir())


def page(nb: dict) -> str:
    return HTMLExporter().from_notebook_node(nbformat.reads(json.dumps(nb), as_version=4))[0]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_honest_feedback_page_is_withheld(assignment):
    course = Course(REPO)
    secret = hidden_lines(course, assignment)
    assert secret, "every assignment has hidden tests specific enough to check"
    assert not any(len(line) < 12 for line in secret)  # no 'continue', no 'return None'
    name = f"{assignment}.ipynb"
    solution = lambda: json.loads((REPO / "solutions" / assignment / name).read_text())  # noqa: E731
    release = json.loads((REPO / "exercises" / assignment / name).read_text())
    shown = solution()
    as_released(shown, released_sources(release))
    assert html_leaks(page(shown), secret) == []
    assert html_leaks(page(release), secret) == []
    assert html_leaks(page(solution()), secret)  # the check still bites: the instructor's notebook is secret
