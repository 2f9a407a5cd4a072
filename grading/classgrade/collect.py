"""Submissions into grading/submitted/<student>/<assignment>/: from the nbgrader exchange or an LMS zip."""

from __future__ import annotations

import re
import zipfile
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from classgrade.course import Course

# Canvas/Moodle style names: "<student>_<anything>_<file>.ipynb", or a folder per student "<student>/<file>"
STUDENT = re.compile(r"^(?P<student>[A-Za-z0-9.\-]+)_")


def collect_exchange(assignment: str, course: Course | None = None) -> list[str]:
    """`nbgrader collect`; returns the students now in grading/submitted/."""
    course = course or Course.from_env()
    course.nbgrader("collect", assignment, "--update")
    return sorted(course.submitted(assignment))


def student_of(member: str) -> str | None:
    path = PurePosixPath(member)
    if len(path.parts) > 1:
        return path.parts[-2] if len(path.parts) >= 2 else None
    found = STUDENT.match(path.name)
    return found.group("student") if found else None


def collect_zip(assignment: str, archive: Path, course: Course | None = None,
                progress: bool = True) -> dict[str, list[str]]:
    """Unpack an LMS download: one or more files per student. Returns student -> problems (empty: fine).

    A student's notebook gets the release's name when the assignment has one notebook (LMSs rename files:
    'jdoe_12345_678_pca_autoencoders-1.ipynb'); with several, a file must end with a release notebook's name.
    """
    course = course or Course.from_env()
    release = course.release_notebooks(assignment)
    problems: dict[str, list[str]] = {}
    with zipfile.ZipFile(archive) as zf:
        members = [m for m in zf.infolist() if not m.is_dir() and not PurePosixPath(m.filename).name.startswith(".")]
        by_student: dict[str, list[zipfile.ZipInfo]] = {}
        for member in members:
            student = student_of(member.filename)
            if student:
                by_student.setdefault(student, []).append(member)
        for student, files in tqdm(sorted(by_student.items()), desc=f"collect {assignment}", unit="student",
                                   disable=not progress):
            target = course.grading / "submitted" / student / assignment
            target.mkdir(parents=True, exist_ok=True)
            problems[student] = []
            notebooks = [m for m in files if m.filename.endswith(".ipynb")]
            for member in files:
                name = PurePosixPath(member.filename).name
                if member in notebooks:
                    matches = [r for r in release if name.endswith(r)]
                    if matches:
                        name = matches[0]
                    elif len(release) == 1 and len(notebooks) == 1:
                        name = release[0]
                    else:
                        problems[student].append(f"{name}: matches no release notebook ({', '.join(release)})")
                (target / name).write_bytes(zf.read(member))
            stamp = datetime(*max(m.date_time for m in files), tzinfo=timezone.utc)
            (target / "timestamp.txt").write_text(stamp.strftime("%Y-%m-%d %H:%M:%S.%f %Z"))
    return problems
