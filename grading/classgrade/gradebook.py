"""The only writer of the real gradebook: results merged serially, in the parent, through nbgrader's API.

Workers never open the shared sqlite file. A state file (grading/.classgrade/state.json, replaced atomically
after every merge, outside the folders named after students) remembers each student's submission hash and
status, so an interrupted run resumes and a re-run with unchanged submissions does nothing.
The gradebook always reflects the latest submission: a regrade that fails or times out sets that student's
automatic scores to 0 with the reason as a comment; the earlier result is kept only as history (the state
file, and the old autograded notebook under grading/.classgrade/history/), and export shows both.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import warnings
from datetime import datetime, timezone
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry


class State:
    def __init__(self, path: Path):
        self.path = path
        self.data = json.loads(path.read_text()) if path.is_file() else {}

    def get(self, assignment: str, student: str) -> dict:
        return self.data.get(assignment, {}).get(student, {})

    def put(self, assignment: str, student: str, record: dict) -> None:
        """Record the latest outcome; the one before goes into its history when it differs."""
        previous = self.get(assignment, student)
        history = previous.pop("history", [])
        if previous and (previous.get("hash"), previous.get("status")) != (record.get("hash"), record.get("status")):
            history = (history + [previous])[-10:]
        record = {**record, "when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "history": history}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.data.setdefault(assignment, {})[student] = record
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True))
        os.replace(tmp, self.path)  # atomic: a crash leaves the old state or the new one


def _replace_folder(folder: Path, history: Path | None) -> None:
    """Empty `folder` (moved into `history` when given); a link there is removed, never followed."""
    if folder.is_symlink():
        folder.unlink()
    elif folder.exists():
        if history is not None:
            history.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(history, ignore_errors=True)
            shutil.move(str(folder), history)
        else:
            shutil.rmtree(folder)


def _submission(gradebook: Gradebook, assignment: str, student: str, timestamp: str | None = None):
    try:
        gradebook.find_student(student)
    except MissingEntry:
        gradebook.add_student(student)
    stamp = {"timestamp": datetime.fromisoformat(timestamp)} if timestamp else {}
    return gradebook.update_or_create_submission(assignment, student, **stamp)


def merge(db: Path, course_id: str, assignment: str, result: dict, autograded: Path) -> None:
    """Write one worker's result into the real gradebook and grading/autograded/<student>/<assignment>/."""
    grades = result["grades"]
    _replace_folder(autograded, None)
    autograded.mkdir(parents=True)
    for name, data in result["files"].items():  # notebook names from the release, checked by the worker
        (autograded / Path(name).name).write_bytes(data)
    student = result["student"]
    with warnings.catch_warnings(), Gradebook(f"sqlite:///{db}", course_id) as gradebook:
        warnings.simplefilter("ignore")  # nbgrader's own SQLAlchemy autoflush warnings (SAWarning)
        _submission(gradebook, assignment, student, grades["timestamp"])
        for notebook, data in grades["notebooks"].items():
            nb = gradebook.find_submission_notebook(notebook, assignment, student)
            nb.flagged = data["flagged"]
            for grade in nb.grades:
                if grade.name in data["grades"]:
                    grade.auto_score, grade.needs_manual_grade, _ = data["grades"][grade.name]
            for comment in nb.comments:
                if comment.name in data["comments"]:
                    comment.auto_comment = data["comments"][comment.name]
        gradebook.db.commit()


def visible_folder(grading: Path, assignment: str, student: str) -> Path:
    """Where a student's notebooks kept for feedback live (execute.py): never in a folder named after a student."""
    return grading / ".classgrade" / "visible" / assignment / student


def save_visible(grading: Path, assignment: str, student: str, notebooks: dict[str, bytes]) -> None:
    folder = visible_folder(grading, assignment, student)
    _replace_folder(folder, None)
    folder.mkdir(parents=True)
    for name, data in notebooks.items():
        (folder / Path(name).name).write_bytes(data)


def record_failure(db: Path, course_id: str, assignment: str, student: str, reason: str,
                   grading: Path) -> None:
    """The latest submission could not be graded: 0 automatic points, flagged, the reason as a comment.

    The earlier autograded notebook moves to grading/.classgrade/history/ and its feedback is removed,
    so nothing shows the old score as if it were current.
    """
    history = grading / ".classgrade" / "history" / assignment / student
    _replace_folder(grading / "autograded" / student / assignment, history)
    _replace_folder(grading / "feedback" / student / assignment, None)
    _replace_folder(visible_folder(grading, assignment, student), None)
    with warnings.catch_warnings(), Gradebook(f"sqlite:///{db}", course_id) as gradebook:
        warnings.simplefilter("ignore")
        submission = _submission(gradebook, assignment, student)
        for nb in submission.notebooks:
            nb.flagged = True
            for grade in nb.grades:
                grade.auto_score, grade.needs_manual_grade = 0.0, False
            for comment in nb.comments:
                comment.auto_comment = f"Not graded: {reason}"
        gradebook.db.commit()


def graded_students(db: Path, assignment: str) -> set[str]:
    if not db.is_file():
        return set()
    with Gradebook(f"sqlite:///{db}") as gradebook:
        try:
            return {s.student.id for s in gradebook.find_assignment(assignment).submissions}
        except MissingEntry:
            return set()


def export_csv(db: Path, state: State, path: Path) -> list[dict]:
    """One row per student and assignment: the score, its status and reason, and the earlier results."""
    rows = []
    with Gradebook(f"sqlite:///{db}") as gradebook:
        for assignment in gradebook.assignments:
            for student in gradebook.students:
                try:
                    submission = gradebook.find_submission(assignment.name, student.id)
                    score, max_score, found = submission.score, submission.max_score, "graded"
                except MissingEntry:
                    score, max_score, found = 0.0, assignment.max_score, "not submitted"
                record = state.get(assignment.name, student.id)
                status = record.get("status", found)
                earlier = "; ".join(f"{h.get('when', '?')}: {h.get('status')} {h.get('score', '')}".strip()
                                    for h in record.get("history", []))
                rows.append({"student_id": student.id, "assignment": assignment.name, "score": score,
                             "max_score": max_score, "status": status, "reason": record.get("reason", ""),
                             "earlier_results": earlier})
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["student_id", "assignment", "score", "max_score", "status",
                                               "reason", "earlier_results"])
        writer.writeheader()
        writer.writerows(rows)
    return rows
