"""Feedback without hidden tests: the notebooks kept for feedback, rendered by nbgrader, checked as HTML.

nbgrader restores the hidden tests into every autograded notebook (it needs them to grade), and student code
in that kernel can read and print them in any encoding. So feedback is made from the notebook as released
(visible.py): the student's cells and the release's visible tests, executed in the sandbox and kept before any
hidden test reached the kernel (execute.py); nbgrader adds each part's points from the gradebook. Students
graded before classgrade kept that notebook fall back to a scrubbed copy of their autograded notebook (hidden-test regions replaced by a
placeholder, outputs quoting hidden-test lines replaced by a one-line message).
Then every HTML page is checked, a last safety net: a page that still holds a hidden-test line specific
enough to mean something (not `continue`, not a line the release itself shows) is withheld, with the lines.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

from tqdm.auto import tqdm

from classgrade.course import Course
from classgrade.gradebook import visible_folder
from classgrade.text import ESCAPES

HIDDEN = re.compile(r"[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*", re.S)
PLACEHOLDER = "# (hidden tests: not shown)"


MIN_SECRET = 20  # characters of a hidden line: shorter ones ('return None', 'continue') are not secrets
MIN_LITERAL = 12  # characters of a string literal in one (an assert message, which a traceback prints alone)


def cell_sources(path: Path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells]


def hidden_lines(course: Course, assignment: str) -> set[str]:
    """What would give a hidden test away: its lines and assert messages that are long enough and that neither
    the release (its markdown may well say `bias=None`) nor the trusted checker's messages show."""
    shown = "\n".join(text for p in (course.root / "exercises" / assignment).glob("*.ipynb") for text in cell_sources(p))
    shown += "\n" + "\n".join(checker_texts(course, assignment))  # what the trusted checker says, by design
    secrets = set()
    for source in (course.root / "solutions" / assignment).glob("*.ipynb"):
        for text in cell_sources(source):
            for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", text, re.S):
                for line in (line.strip() for line in block.splitlines()):
                    literals = [a or b for a, b in re.findall(r"'([^']+)'|\"([^\"]+)\"", line)]
                    secrets |= {x for x in [line] if len(x) >= MIN_SECRET}
                    secrets |= {x for x in literals if len(x) >= MIN_LITERAL}
    return {x for x in secrets if x not in shown}


def checker_texts(course: Course, assignment: str) -> list[str]:
    """The descriptions of checks and the diagnoses of mistakes in the check table: shown to students."""
    from classgrade.trusted import has_table, load_table

    folder = course.root / "grading" / "checks"
    if not has_table(assignment, folder):
        return []
    table = load_table(assignment, folder)
    return [c.what for c in table.checks] + [m.diagnosis for m in table.mistakes.values()] + [r.why for r in table.forbid]


def _quotes(text: str, secret: set[str]) -> bool:
    plain = ESCAPES.sub("", text)  # colour codes split a quoted line in a traceback
    return any(line in plain for line in secret)


def scrub_notebook(nb: dict, secret: set[str]) -> dict:
    """The notebook with hidden-test source and any output quoting it removed (in place, returned)."""
    for cell in nb.get("cells", []):
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        scrubbed = HIDDEN.sub(PLACEHOLDER, text)
        scrubbed = "\n".join(PLACEHOLDER if line.strip() in secret else line for line in scrubbed.split("\n"))
        cell["source"] = scrubbed
        for output in cell.get("outputs") or []:
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
    return sorted(line for line in secret if line in text)


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
    for student in tqdm(students, desc=f"prepare {assignment}", unit="student", disable=not progress):
        target = scrubbed / student / assignment
        target.mkdir(parents=True)
        visible = visible_folder(course.grading, assignment, student)
        for notebook in (course.grading / "autograded" / student / assignment).glob("*.ipynb"):
            source = visible / notebook.name if (visible / notebook.name).is_file() else notebook
            nb = scrub_notebook(json.loads(source.read_text(encoding="utf-8", errors="replace")), secret)
            (target / notebook.name).write_text(json.dumps(nb, indent=1), encoding="utf-8")
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
