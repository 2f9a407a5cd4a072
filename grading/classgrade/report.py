"""The class report for the instructor: `python -m classgrade report ASSIGNMENT` after autograding.

grading/reports/<assignment>.html (plots embedded, nothing loaded from the network) and <assignment>.csv:
the score distribution, the pass rate of each graded part, how often the trusted checker recognised each
classic mistake, who failed or timed out (and why), whose cells crashed or were dropped, and
the submissions flagged for review because their code uses constructs that can tamper with grading:
IPython input transformers and event hooks, frame inspection, `gc`, `builtins`, tracing, patching torch or
numpy, ctypes, forking, sockets, mounts. A flag is for a person to read, with the line; it changes no score.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import re
from collections import Counter
from pathlib import Path

from classgrade.course import Course
from classgrade.gradebook import State
from classgrade.text import clean

FLAGS = {  # what a line does -> a pattern for it
    "IPython input transformer": r"input_transformers|input_splitter|ast_transformers",
    "IPython event hook": r"events\.register|pre_run_cell|post_run_cell|set_custom_exc",
    "frame or caller inspection": r"\binspect\b|sys\._getframe|f_back|f_locals|f_globals",
    "garbage-collector walk": r"\bgc\.",
    "builtins changed": r"\bbuiltins\b|__builtins__",
    "tracing or profiling hook": r"settrace|setprofile|sys\.monitoring",
    "torch or numpy function replaced": r"^\s*(torch|np|numpy|F)(\.\w+)+\s*=[^=]",
    "ctypes (raw memory)": r"\bctypes\b",
    "processes forked": r"os\.fork|multiprocessing|subprocess|os\.system|os\.exec",
    "network sockets": r"\bsocket\b|urllib|requests\.",
    "mounts or namespaces": r"\bmount\b|\bunshare\b|\bchroot\b",
    "exit or kill": r"os\._exit|os\.kill|sys\.exit",
}


def flags(nb: dict) -> list[tuple[str, str]]:
    """(what, line) for every line of a student's own cells that matches a FLAGS pattern."""
    found = []
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") != "code" or (meta.get("locked") and not meta.get("solution")):
            continue  # the instructor's cells
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for line in source.splitlines():
            for what, pattern in FLAGS.items():
                if re.search(pattern, line):
                    found.append((what, clean(line.strip(), 200)))
    return found


def collect(course: Course, assignment: str) -> list[dict]:
    """One row per student: score, status, each part's points, and the flags of their submission."""
    from nbgrader.api import Gradebook, MissingEntry

    state = State(course.grading / ".classgrade" / "state.json")
    rows = []
    with Gradebook(f"sqlite:///{course.gradebook}") as gradebook:
        for student in gradebook.students:
            try:
                submission = gradebook.find_submission(assignment, student.id)
            except MissingEntry:
                continue
            record = state.get(assignment, student.id)
            parts = {g.name: (g.score, g.max_score) for nb in submission.notebooks for g in nb.grades
                     if g.cell_type == "code" and g.max_score}
            found = []
            for path in (course.grading / "submitted" / student.id / assignment).glob("*.ipynb"):
                try:
                    found += flags(json.loads(path.read_text(encoding="utf-8", errors="replace")))
                except ValueError:
                    pass
            mistakes = [(part, name) for part, check in sorted((record.get("checks") or {}).items())
                        for name in check.get("mistakes", [])]
            rows.append({"student": student.id, "score": submission.score, "max_score": submission.max_score,
                         "status": record.get("status", "graded"), "reason": record.get("reason", ""),
                         "parts": parts, "flags": found, "mistakes": mistakes,
                         "problems": record.get("problems") or []})
    return rows


def _figure(rows: list[dict]) -> str:
    """Score histogram and pass rate per part, as an embedded PNG."""
    import matplotlib
    import matplotlib.pyplot as plt

    parts = sorted({p for row in rows for p in row["parts"]})
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    top = max((row["max_score"] for row in rows), default=1)
    left.hist([row["score"] for row in rows], bins=[x - 0.5 for x in range(int(top) + 2)], color="#4477aa",
              edgecolor="white")
    left.set(title=f"scores ({len(rows)} students)", xlabel="points", ylabel="students")
    rates = [sum(row["parts"].get(p, (0, 1))[0] == row["parts"].get(p, (0, 1))[1] for row in rows) / len(rows)
             for p in parts]
    right.barh(parts, [100 * r for r in rates], color="#228833")
    right.set(title="full marks per part", xlabel="% of students", xlim=(0, 112), xticks=range(0, 101, 20))
    for y, rate in enumerate(rates):
        right.text(100 * rate + 1, y, f"{100 * rate:.0f}%", va="center")
    fig.tight_layout()
    buffer = io.BytesIO()
    with matplotlib.rc_context({"savefig.dpi": 100}):
        fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _mistakes_section(course: Course, assignment: str, rows: list[dict]) -> list[str]:
    """How often the trusted checker recognised each classic mistake, with the sentence students read."""
    from classgrade.trusted import has_table, load_table

    folder = course.root / "grading" / "checks"
    if not has_table(assignment, folder):
        return ["<h2>Classic mistakes</h2><p>No check table for this assignment (grading/checks/): points came "
                "from the notebook's own tests, and no mistakes were diagnosed.</p>"]
    table = load_table(assignment, folder)
    counts = Counter(name for row in rows for _, name in row["mistakes"])
    esc = html.escape
    return ["<h2>Classic mistakes recognised by the trusted checker</h2>",
            "<table><tr><th>mistake</th><th>parts</th><th>students</th><th>what they were told</th></tr>",
            *[f"<tr><td>{esc(name)}</td><td>{esc(', '.join(sorted(m.parts)))}</td><td>{counts.get(name, 0)}</td>"
              f"<td>{esc(m.diagnosis)}</td></tr>"
              for name, m in sorted(table.mistakes.items(), key=lambda item: -counts.get(item[0], 0))], "</table>"]


def report(assignment: str, course: Course | None = None, folder: Path | None = None) -> tuple[Path, Path]:
    """Write <folder>/<assignment>.html and .csv (folder: grading/reports/); return their paths."""
    course = course or Course.from_env()
    folder = folder or course.grading / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    rows = collect(course, assignment)
    if not rows:
        raise ValueError(f"no graded submissions of {assignment!r} in the gradebook: run autograde first")
    csv_path, html_path = folder / f"{assignment}.csv", folder / f"{assignment}.html"
    parts = sorted({p for row in rows for p in row["parts"]})
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "score", "max_score", "status", "reason", *parts, "classic_mistakes", "flags"])
        for row in rows:
            writer.writerow([row["student"], row["score"], row["max_score"], row["status"], row["reason"],
                             *[row["parts"].get(p, (None, None))[0] for p in parts],
                             "; ".join(f"{part}: {name}" for part, name in row["mistakes"]),
                             "; ".join(f"{what}: {line}" for what, line in row["flags"])])
    esc = html.escape
    trouble = [r for r in rows if r["status"] != "graded"]
    flagged = [r for r in rows if r["flags"]]
    body = [f"<h1>{esc(assignment)}: class report</h1>",
            f"<p>{len(rows)} students; mean {sum(r['score'] for r in rows) / len(rows):.2f} of "
            f"{rows[0]['max_score']:g}; {len(trouble)} failed or timed out; {len(flagged)} flagged for review.</p>",
            f'<img alt="score distribution and pass rate per part" src="data:image/png;base64,{_figure(rows)}">',
            *_mistakes_section(course, assignment, rows),
            "<h2>Failed or timed out</h2><table><tr><th>student</th><th>status</th><th>why</th></tr>",
            *[f"<tr><td>{esc(r['student'])}</td><td>{esc(r['status'])}</td><td>{esc(r['reason'])}</td></tr>"
              for r in trouble],
            "</table><h2>Graded, with cells that crashed, timed out or were dropped</h2>",
            "<table><tr><th>student</th><th>what happened</th></tr>",
            *[f"<tr><td>{esc(r['student'])}</td><td>{esc(problem)}</td></tr>"
              for r in rows if r["status"] == "graded" for problem in r["problems"]],
            "</table><h2>Flagged for review (the score stands; a person should read these lines)</h2>",
            "<table><tr><th>student</th><th>what</th><th>line</th></tr>",
            *[f"<tr><td>{esc(r['student'])}</td><td>{esc(what)}</td><td><code>{esc(line)}</code></td></tr>"
              for r in flagged for what, line in r["flags"]], "</table>"]
    style = "body{font-family:sans-serif;max-width:60em;margin:2em auto}td,th{padding:2px 8px;text-align:left}"
    html_path.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(assignment)}</title>"
                         f"<style>{style}</style></head><body>{''.join(body)}</body></html>", encoding="utf-8")
    return html_path, csv_path
