"""Feedback without hidden tests: scrub the autograded notebooks, let nbgrader render them, check the HTML.

nbgrader restores the hidden tests into every autograded notebook (it needs them to grade), and a failing
hidden assert shows its source in the traceback. So feedback is made from a scrubbed copy: hidden-test
regions replaced by a placeholder, tracebacks and printed text that quote hidden-test lines replaced by a
one-line message. Then every HTML page is checked: a page that still holds a hidden-test line is deleted
and reported, never released.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

from tqdm.auto import tqdm

from classgrade.course import Course

HIDDEN = re.compile(r"[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*", re.S)
PLACEHOLDER = "# (hidden tests: not shown)"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def hidden_lines(course: Course, assignment: str) -> set[str]:
    """Every non-trivial line inside a hidden-test region of the instructor's notebooks."""
    lines = set()
    for source in (course.root / "solutions" / assignment).glob("*.ipynb"):
        for cell in json.loads(source.read_text(encoding="utf-8"))["cells"]:
            text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", text, re.S):
                lines |= {line.strip() for line in block.splitlines() if len(line.strip()) >= 6}
    return lines


def _quotes(text: str, secret: set[str]) -> bool:
    plain = ANSI.sub("", text)
    return any(line in plain for line in secret) or any(_literal(line) and _literal(line) in plain for line in secret)


def _literal(line: str) -> str:
    """A string literal in a hidden line (an assert message), which a traceback prints on its own."""
    found = re.findall(r"'([^']{6,})'|\"([^\"]{6,})\"", line)
    return next((a or b for a, b in found), "")


def scrub_notebook(nb: dict, secret: set[str]) -> dict:
    """The notebook with hidden-test source and any output quoting it removed (in place, returned)."""
    for cell in nb.get("cells", []):
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        scrubbed = HIDDEN.sub(PLACEHOLDER, text)
        scrubbed = "\n".join(PLACEHOLDER if line.strip() in secret else line for line in scrubbed.split("\n"))
        cell["source"] = scrubbed
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                if _quotes("\n".join(output.get("traceback", [])) + output.get("evalue", ""), secret):
                    output["traceback"] = [f"{output.get('ename', 'Error')}: a hidden test failed (its code is not shown)"]
                    output["evalue"] = ""
            elif output.get("output_type") == "stream":
                text = "".join(output["text"]) if isinstance(output["text"], list) else output["text"]
                output["text"] = "\n".join("[hidden]" if _quotes(l, secret) else l for l in text.split("\n"))
            else:
                for mime, value in list(output.get("data", {}).items()):
                    if isinstance(value, (str, list)) and _quotes("".join(value), secret):
                        output["data"][mime] = "[hidden]"
    return nb


def html_leaks(page: str, secret: set[str]) -> list[str]:
    """Hidden-test lines (or their assert messages) still readable in a rendered HTML page."""
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    return sorted(line for line in secret if line in text or (_literal(line) and _literal(line) in text))


def feedback(assignment: str, course: Course | None = None, release: bool = False,
             progress: bool = True) -> dict[str, list[str]]:
    """grading/autograded/ -> grading/feedback/ (HTML, hidden tests removed); returns student -> leaks found."""
    course = course or Course.from_env()
    secret = hidden_lines(course, assignment)
    scrubbed_rel = Path("grading") / "feedback" / ".scrubbed"  # ignored by git and by nbgrader (a dot folder)
    scrubbed = course.root / scrubbed_rel
    shutil.rmtree(scrubbed, ignore_errors=True)
    students = sorted(p.name for p in (course.grading / "autograded").iterdir()
                      if not p.name.startswith(".") and not p.is_symlink() and (p / assignment).is_dir())
    for student in tqdm(students, desc=f"scrub {assignment}", unit="student", disable=not progress):
        target = scrubbed / student / assignment
        shutil.copytree(course.grading / "autograded" / student / assignment, target)
        for notebook in target.glob("*.ipynb"):
            nb = scrub_notebook(json.loads(notebook.read_text(encoding="utf-8", errors="replace")), secret)
            notebook.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    try:
        course.nbgrader("generate_feedback", assignment, "--force",
                        f"--CourseDirectory.autograded_directory={scrubbed_rel}")
    finally:
        shutil.rmtree(scrubbed, ignore_errors=True)
    leaks = {}
    for student in tqdm(students, desc=f"check feedback {assignment}", unit="student", disable=not progress):
        for page in (course.grading / "feedback" / student / assignment).glob("*.html"):
            found = html_leaks(page.read_text(encoding="utf-8", errors="replace"), secret)
            if found:
                leaks[student] = found
                page.unlink()  # never released
    if release:
        course.nbgrader("release_feedback", assignment)
    return leaks
