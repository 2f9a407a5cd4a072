"""Submissions into grading/submitted/<student>/<assignment>/: from the nbgrader exchange or an LMS zip.

An LMS zip is untrusted: whoever made it chose its entry names, sizes and timestamps. So collect_zip
- collects or reports EVERY entry, by its quoted, cleaned name; only folders, __MACOSX/ and .DS_Store pass silently;
- turns names into ids with ids.student_id, and reports refused names and names that clash;
- refuses absolute paths and '..', and reads each entry through a byte limit (a zip bomb lies about its size);
- writes through folders opened with O_NOFOLLOW (a symlink in grading/submitted/ leads nowhere), replacing
  a student's previous folder only once the new one is complete.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import stat
import zipfile
import zlib
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tqdm.auto import tqdm

from classgrade.course import MiB, Course
from classgrade.ids import id_problem, student_id
from classgrade.text import clean

MOODLE = re.compile(r"(?P<student>.+?)_\d+_assignsubmission_[a-z]+_")  # 'Jane Doe_12345_assignsubmission_file_'
DRIVE = re.compile(r"[A-Za-z]:")  # 'C:\Users\...' in a zip made on Windows
NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError)  # RuntimeError: encrypted
CHUNK = MiB


def collect_exchange(assignment: str, course: Course | None = None) -> list[str]:
    """`nbgrader collect`; returns the students now in grading/submitted/."""
    course = course or Course.from_env()
    course.nbgrader("collect", assignment, "--update")
    students, _ = course.submitted(assignment)  # (id -> folder, refused folder -> why)
    return sorted(students)


@dataclass
class Collected:
    """What collect_zip did: the students it wrote, and a line for every entry it did not collect."""
    archive: str
    students: dict[str, list[str]] = field(default_factory=dict)  # id -> notebook names written
    problems: list[str] = field(default_factory=list)
    not_collected: int = 0  # entries

    def refuse(self, name: str, why: str, entries: int = 1) -> None:
        self.problems.append(clean(f"{name!r}: {why}"))  # repr: the name exactly, its '\n' as two characters
        self.not_collected += entries

    def text(self) -> str:
        lines = [clean(f"collected {len(self.students)} students from {self.archive}; "
                       f"{self.not_collected} entries not collected")]
        return "\n".join(lines + [f"  PROBLEM    {p}" for p in self.problems])


@dataclass(frozen=True)
class Entry:
    """A notebook in the zip, and whose it is."""
    info: zipfile.ZipInfo
    raw: str  # the student's name as the zip spells it
    student: str  # its id
    notebook: str  # the release notebook it is a submission of

    @property
    def name(self) -> str:
        return self.info.filename


class Stop(Exception):
    """The total cap is reached: nothing more is collected."""


def collect_zip(assignment: str, archive: Path, course: Course | None = None, progress: bool = True, *,
                max_entries: int = 10_000, max_file_bytes: int = 50 * MiB,
                max_total_bytes: int = 1024 * MiB) -> Collected:
    """Unpack an LMS download (one file or folder per student) into grading/submitted/.

    Notebooks get the release's names: an entry ending with a release notebook's name gets that name; with a
    one-notebook assignment every notebook of a student is a candidate for it ('jdoe_123_4_tiny-1.ipynb').
    A student with several candidates for one notebook gets the newest (the zip's timestamps).
    """
    course = course or Course.from_env()
    release = course.release_notebooks(assignment)
    if id_problem(assignment) or not release:
        raise ValueError(clean(f"assignment {assignment!r}: no notebooks in exercises/{assignment}/ to collect"))
    result = Collected(str(archive))
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(clean(f"{str(archive)!r} is not a readable zip archive ({error})")) from None
    with zf:
        if len(zf.infolist()) > max_entries:
            raise ValueError(clean(f"{str(archive)!r} has {len(zf.infolist())} entries, "
                                   f"more than {max_entries} (max_entries)"))
        plan = _plan(zf, release, result)
        _write(zf, plan, course, assignment, result, Budget(max_file_bytes, max_total_bytes), progress)
    return result


# ---- which entry is whose -------------------------------------------------------------------------------------

def _plan(zf: zipfile.ZipFile, release: list[str], result: Collected) -> dict[str, list[Entry]]:
    """student id -> their newest entry for each release notebook; every other entry is reported."""
    entries = []
    for info in zf.infolist():
        try:
            entry = _entry(info, release)
        except ValueError as why:
            result.refuse(info.filename, str(why))
            continue
        if entry:
            entries.append(entry)
    raws: dict[str, set[str]] = {}
    for entry in entries:
        raws.setdefault(entry.student, set()).add(entry.raw)
    newest: dict[tuple[str, str], Entry] = {}
    # newest first; equal timestamps (a zip keeps even seconds) are broken by name, not by the zip's order
    for entry in sorted(entries, key=lambda e: (e.info.date_time, e.name), reverse=True):
        key = entry.student, entry.notebook
        if len(raws[entry.student]) > 1:  # 'Jane Doe' and 'Jane  Doe': which one is which is not ours to guess
            names = " and ".join(repr(r) for r in sorted(raws[entry.student]))
            result.refuse(entry.name, f"the names {names} both become student id {entry.student!r}")
        elif key in newest:
            result.refuse(entry.name, f"older than {newest[key].name!r}, {entry.student}'s {entry.notebook}")
        else:
            newest[key] = entry
    plan: dict[str, list[Entry]] = {}
    for (student, _), entry in sorted(newest.items()):
        plan.setdefault(student, []).append(entry)
    return plan


def _entry(info: zipfile.ZipInfo, release: list[str]) -> Entry | None:
    """The notebook `info` is, None for a folder or Mac junk; ValueError saying why it cannot be collected."""
    parts = _parts(info.filename)
    if info.is_dir() or not parts or parts[0] == "__MACOSX" or parts[-1] == ".DS_Store":
        return None
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ValueError("a symbolic link, not a file")
    if not parts[-1].lower().endswith(".ipynb"):
        raise ValueError("not a notebook (.ipynb)")
    if ".ipynb_checkpoints" in parts:
        raise ValueError("a Jupyter checkpoint, not a submission")
    raw = _student(parts)
    try:
        student = student_id(raw)
    except ValueError as why:
        raise ValueError(f"the student name {raw!r} is refused: {why}") from None
    return Entry(info, raw, student, _notebook(parts[-1], release))


def _parts(name: str) -> list[str]:
    """The folders and file of an entry name; ValueError for one that would land outside its folder."""
    path = name.replace("\\", "/")  # zips made on Windows
    if path.startswith("/") or DRIVE.match(path):
        raise ValueError("an absolute path")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError("a path with '..'")
    return parts


def _student(parts: list[str]) -> str:
    """The student's name as the LMS wrote it: the top folder, or the start of a file at the top."""
    top = parts[0]
    if moodle := MOODLE.match(top):
        return moodle["student"]
    if len(parts) > 1:
        return top
    if "_" not in top:
        raise ValueError("neither in a student's folder nor named <student>_..._<notebook>.ipynb")
    return top.split("_", 1)[0]  # Canvas: 'jdoe_12345_678_tiny-1.ipynb', 'jdoe_late_1_2_tiny.ipynb'


def _notebook(name: str, release: list[str]) -> str:
    matches = [r for r in release if name.endswith(r)]
    if matches:
        return max(matches, key=len)  # 'data.ipynb' rather than 'a.ipynb'
    if len(release) == 1:
        return release[0]
    raise ValueError(f"matches no release notebook ({', '.join(release)})")


# ---- writing, never through a symlink ---------------------------------------------------------------------------

@dataclass
class Budget:
    file: int  # bytes one notebook may have
    left: int  # bytes the rest of the zip may have


def _write(zf: zipfile.ZipFile, plan: dict[str, list[Entry]], course: Course, assignment: str,
           result: Collected, budget: Budget, progress: bool) -> None:
    """Each student of the plan into grading/submitted/, in order, until the budget runs out."""
    try:
        course.grading.mkdir(parents=True, exist_ok=True)
        grading = os.open(course.grading, FOLDER)
        try:
            submitted = _folder("submitted", grading)
        finally:
            os.close(grading)
    except OSError as error:
        raise ValueError(clean(f"{str(course.grading / 'submitted')!r}: {error.strerror}")) from None
    total = budget.left
    try:
        students = sorted(plan)
        for done, student in enumerate(tqdm(students, desc=f"collect {assignment}", unit="student",
                                            disable=not progress)):
            try:
                if written := _write_student(zf, plan[student], submitted, assignment, result, budget):
                    result.students[student] = written
            except Stop:
                left = sum(len(plan[s]) for s in students[done:])
                result.refuse(student, f"stopped: the notebooks total more than {total:,} bytes (max_total_bytes);"
                                       f" {left} entries of {len(students) - done} students, from this one on,"
                                       " not collected", entries=left)
                return
            except OSError as error:
                result.refuse(student, f"not written to grading/submitted/{student}/{assignment}/: "
                                       f"{error.strerror or error}", entries=len(plan[student]))
            finally:
                if student not in result.students:  # no empty folder left (rmdir spares a full one, or a link)
                    with suppress(OSError):
                        os.rmdir(student, dir_fd=submitted)
    finally:
        os.close(submitted)


def _folder(name: str, parent: int) -> int:
    """Open folder `name` in `parent`, making it if missing; OSError if it is a symlink or not a folder."""
    with suppress(FileExistsError):
        os.mkdir(name, 0o755, dir_fd=parent)
    try:
        return os.open(name, FOLDER, dir_fd=parent)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            raise OSError(error.errno, f"{name} is a symbolic link or not a folder") from None
        raise


def _write_student(zf: zipfile.ZipFile, entries: list[Entry], submitted: int, assignment: str,
                   result: Collected, budget: Budget) -> list[str]:
    """Write one student's notebooks into a new folder, then swap it in; the notebook names written.

    Problems are reported only once the student is done: after Stop or OSError the caller reports them all.
    """
    student = _folder(entries[0].student, submitted)
    new = f".collecting-{assignment}-{secrets.token_hex(4)}"  # dot names are never student ids
    try:
        if _kind(assignment, student) not in (None, stat.S_IFDIR):
            raise OSError(errno.ENOTDIR, f"{assignment} is a symbolic link or not a folder")
        os.mkdir(new, 0o755, dir_fd=student)
        folder = os.open(new, FOLDER, dir_fd=student)
        try:
            outcomes = [(e, _copy(zf, e, folder, budget)) for e in entries]  # (entry, None if written)
            written = [e for e, why in outcomes if why is None]
            if written:
                _create(folder, "timestamp.txt", _timestamp(max(e.info.date_time for e in written)).encode())
        finally:
            os.close(folder)
        if written:
            _swap(new, assignment, student)
    finally:
        if _kind(new, student):
            shutil.rmtree(new, dir_fd=student)
        os.close(student)
    for entry, why in outcomes:
        if why:
            result.refuse(entry.name, why)
    return [e.notebook for e in written]


def _copy(zf: zipfile.ZipFile, entry: Entry, folder: int, budget: Budget) -> str | None:
    """Stream `entry` into `folder` within the budget: None if written, else why not; Stop past the total."""
    limit = min(budget.file, budget.left)
    size = 0
    fd = os.open(entry.notebook, NEW, 0o644, dir_fd=folder)
    try:
        with os.fdopen(fd, "wb") as out, zf.open(entry.info) as source:
            while chunk := source.read(CHUNK):  # never trust info.file_size: a zip bomb lies
                size += len(chunk)
                if size > limit:
                    break
                out.write(chunk)
    except READ_ERRORS as error:
        os.unlink(entry.notebook, dir_fd=folder)
        return f"unreadable ({error})"
    if size <= limit:
        budget.left -= size
        return None
    os.unlink(entry.notebook, dir_fd=folder)
    if limit < budget.file:
        raise Stop
    return f"more than {budget.file:,} bytes uncompressed (max_file_bytes)"


def _create(folder: int, name: str, data: bytes) -> None:
    with os.fdopen(os.open(name, NEW, 0o644, dir_fd=folder), "wb") as out:
        out.write(data)


def _kind(name: str, folder: int) -> int | None:
    """stat.S_IFDIR, S_IFLNK, ... of `name` in `folder` (the link itself, not what it points to); None if absent."""
    try:
        return stat.S_IFMT(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return None


def _swap(new: str, name: str, folder: int) -> None:
    """`new` becomes `name`; the previous `name` (a folder: checked before writing) is deleted afterwards."""
    if _kind(name, folder) is None:
        os.rename(new, name, src_dir_fd=folder, dst_dir_fd=folder)
        return
    old = f".replaced-{name}-{secrets.token_hex(4)}"
    os.rename(name, old, src_dir_fd=folder, dst_dir_fd=folder)
    os.rename(new, name, src_dir_fd=folder, dst_dir_fd=folder)
    shutil.rmtree(old, dir_fd=folder)


def _timestamp(date_time: tuple) -> str:
    """nbgrader's timestamp.txt format; the collection time if the zip's date is not a date."""
    try:
        when = datetime(*date_time, tzinfo=timezone.utc)
    except ValueError:
        when = datetime.now(timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M:%S.%f %Z")
