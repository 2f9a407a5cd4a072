"""A student's files, read without trusting them: links never followed, regular files only, sizes capped.

The grader copies a submission (copy_submission), fingerprints it to skip unchanged ones (submission_hash) and
reads back what a run wrote (read_regular) through these functions only.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from classgrade.text import clean

MAX_SUBMISSION_FILES, MAX_SUBMISSION_BYTES = 50, 100 * 2**20


def regular_files(folder: Path) -> tuple[list[Path], list[str]]:
    """The regular files under `folder` (links never followed) and a problem for everything else."""
    files, problems = [], []
    for parent, dirs, names in os.walk(folder, followlinks=False):
        for name in sorted(dirs + names):
            path = Path(parent) / name
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                problems.append(f"{clean(path.relative_to(folder))}: a symbolic link, not collected")
                if name in dirs:
                    dirs.remove(name)
            elif stat.S_ISREG(mode):
                files.append(path)
            elif not stat.S_ISDIR(mode):
                problems.append(f"{clean(path.relative_to(folder))}: not a regular file, not collected")
    return sorted(files), problems


def read_regular(path: Path, limit: int) -> bytes:
    """A file's bytes, refusing a link or anything not a regular file, and anything over `limit` bytes."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path.name} is not a regular file")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise OSError(f"{path.name} is over {limit // 2**20} MiB")
    return data


def submission_hash(folder: Path) -> str:
    """sha256 over the names and bytes of every regular file a student submitted (links not followed)."""
    digest = hashlib.sha256()
    for path in regular_files(folder)[0]:
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + read_regular(path, MAX_SUBMISSION_BYTES) + b"\0")
    return digest.hexdigest()


def copy_submission(source: Path, target: Path) -> list[str]:
    """Copy a submission's regular files (never through a link), within the caps; return the problems."""
    files, problems = regular_files(source)
    total = 0
    for path in files[:MAX_SUBMISSION_FILES]:
        data = read_regular(path, MAX_SUBMISSION_BYTES)
        total += len(data)
        if total > MAX_SUBMISSION_BYTES:
            problems.append(f"submission over {MAX_SUBMISSION_BYTES // 2**20} MiB: {clean(path.name)} and later files not collected")
            break
        dest = target / path.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    if len(files) > MAX_SUBMISSION_FILES:
        problems.append(f"{len(files)} files submitted: only the first {MAX_SUBMISSION_FILES} collected")
    return problems
