"""The only writer of the real gradebook: results merged serially, in the parent, through nbgrader's API.

Workers never open the shared sqlite file. A small state file (grading/autograded/.classgrade-state.json, replaced
atomically after every merge) remembers each student's submission hash, so an interrupted run resumes
and a re-run with unchanged submissions does nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from datetime import datetime
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry


class State:
    def __init__(self, path: Path):
        self.path = path
        self.data = json.loads(path.read_text()) if path.is_file() else {}

    def get(self, assignment: str, student: str) -> dict:
        return self.data.get(assignment, {}).get(student, {})

    def put(self, assignment: str, student: str, record: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.data.setdefault(assignment, {})[student] = record
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True))
        os.replace(tmp, self.path)  # atomic: a crash leaves the old state or the new one


def merge(db: Path, course_id: str, assignment: str, result: dict, autograded: Path) -> None:
    """Write one worker's result into the real gradebook and grading/autograded/<student>/<assignment>/."""
    grades = result["grades"]
    if autograded.exists():
        shutil.rmtree(autograded)
    for name, data in result["files"].items():
        (autograded / name).parent.mkdir(parents=True, exist_ok=True)
        (autograded / name).write_bytes(data)
    student = result["student"]
    with warnings.catch_warnings(), Gradebook(f"sqlite:///{db}", course_id) as gradebook:
        warnings.simplefilter("ignore")  # nbgrader's own SQLAlchemy autoflush warnings (SAWarning)
        try:
            gradebook.find_student(student)
        except MissingEntry:
            gradebook.add_student(student)
        timestamp = datetime.fromisoformat(grades["timestamp"]) if grades["timestamp"] else None
        gradebook.update_or_create_submission(assignment, student, **({"timestamp": timestamp} if timestamp else {}))
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


def graded_students(db: Path, assignment: str) -> set[str]:
    if not db.is_file():
        return set()
    with Gradebook(f"sqlite:///{db}") as gradebook:
        try:
            return {s.student.id for s in gradebook.find_assignment(assignment).submissions}
        except MissingEntry:
            return set()
