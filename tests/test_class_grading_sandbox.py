"""Class grading runs that need settings of their own: regrades that fail (stale grades), grading without
bubblewrap, refusing root without a sandbox, the course lock, the Dask dashboard, and the supervisor's parts.

The main hostile-class run is tests/test_class_grading.py; the submissions are in tests/classgrade_students.py.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "grading"))

from classgrade.autograde import _client, autograde, course_lock  # noqa: E402
from classgrade.course import Settings  # noqa: E402
from classgrade.feedback import feedback  # noqa: E402
from classgrade.gradebook import State, export_csv  # noqa: E402
from classgrade.supervise import Output  # noqa: E402
from classgrade.text import clean  # noqa: E402
from classgrade.files import read_regular  # noqa: E402
from classgrade_students import (DAEMON, NOTEBOOK_SYMLINK, SECRET_ENV, SECRET_VALUE, SQUARE, edited,  # noqa: E402
                                 make_course, solution, write_submission)

FAST = dict(cell_timeout=5, notebook_timeout=90, memory_mb=1024, trust_submissions=True)


def graded(course, student: str) -> float:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course.gradebook}") as gradebook:
        return gradebook.find_submission("tiny", student).score


def printed(course, student: str) -> str:
    nb = json.loads((course.grading / "autograded" / student / "tiny" / "tiny.ipynb").read_text())
    return "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return make_course(tmp_path_factory.mktemp("classgrade-sandbox") / "course")


@pytest.fixture(scope="module")
def regraded(course):
    """alice and bob score 4/4, get feedback, then resubmit: alice a broken notebook, bob one that runs too long."""
    root = course.root
    for student in ("alice", "bob"):
        write_submission(root / "grading" / "submitted" / student / "tiny", solution(root))
    first = autograde("tiny", course, Settings(**FAST), n_workers=0, progress=False)
    feedback("tiny", course, progress=False)
    write_submission(root / "grading" / "submitted" / "alice" / "tiny", b'{"cells": [ broken')
    write_submission(root / "grading" / "submitted" / "bob" / "tiny",
                     edited(root, "cube", "import time\ntime.sleep(60)\ndef cube(x):\n    return x ** 3"))
    second = autograde("tiny", course, Settings(**{**FAST, "cell_timeout": 120, "notebook_timeout": 8}),
                       n_workers=0, progress=False)
    return first, second


def test_a_failed_regrade_replaces_the_earlier_grade(regraded, course):
    first, second = regraded
    assert first.graded == {"alice": 4, "bob": 4}
    assert "alice" in second.failed and "bob" in second.timed_out
    assert graded(course, "alice") == 0 and graded(course, "bob") == 0  # not the stale 4/4
    assert "earlier submission scored 4" in second.previous["alice"] and "history" in second.previous["alice"]
    for student in ("alice", "bob"):
        assert not (course.grading / "autograded" / student / "tiny").exists()
        assert not (course.grading / "feedback" / student / "tiny").exists()  # the old page is not released
        assert (course.grading / ".classgrade" / "history" / "tiny" / student / "tiny.ipynb").is_file()


def test_the_csv_has_a_status_column_and_the_history(regraded, course, tmp_path):
    export_csv(course.gradebook, State(course.grading / ".classgrade" / "state.json"), tmp_path / "grades.csv")
    rows = {r["student_id"]: r for r in csv.DictReader(open(tmp_path / "grades.csv", encoding="utf-8"))}
    assert rows["alice"]["status"] == "failed" and float(rows["alice"]["score"]) == 0
    assert rows["bob"]["status"] == "timed_out" and "whole notebook over 8 s" in rows["bob"]["reason"]
    assert "graded 4" in rows["alice"]["earlier_results"]


@pytest.fixture(scope="module")
def without_bwrap(course, regraded):
    root = course.root
    subs = {"nb-daemon": edited(root, "square", DAEMON + SQUARE),
            "nb-symlink": edited(root, "square", NOTEBOOK_SYMLINK.format(target=str(root / "secret.txt")) + SQUARE),
            "nb-env": edited(root, "square", "import os\nprint('ENV', dict(os.environ))" + SQUARE)}
    for student, nb in subs.items():
        write_submission(root / "grading" / "submitted" / student / "tiny", nb)
    os.environ[SECRET_ENV] = SECRET_VALUE
    try:
        return autograde("tiny", course, Settings(**FAST, bwrap=False), n_workers=0, students=list(subs),
                         progress=False)
    finally:
        os.environ.pop(SECRET_ENV, None)


def test_without_bubblewrap_a_daemon_does_not_outlive_its_submission(without_bwrap, course):
    assert without_bwrap.graded["nb-daemon"] == 4
    pid = int(printed(course, "nb-daemon").split("DAEMON")[1].split()[0])
    assert not Path(f"/proc/{pid}").exists() or b"ipykernel" not in Path(f"/proc/{pid}/cmdline").read_bytes()


def test_without_bubblewrap_links_and_environment_still_hold(without_bwrap, course):
    assert without_bwrap.graded["nb-symlink"] == 4 and without_bwrap.graded["nb-env"] == 4
    secret = course.root / "secret.txt"
    assert secret.read_text() == "HOST-SECRET" and secret.stat().st_mode & 0o777 == 0o600
    assert not (course.grading / "autograded" / "nb-symlink" / "tiny" / "tiny.ipynb").is_symlink()
    assert SECRET_VALUE not in printed(course, "nb-env")
    assert "NO bubblewrap" in without_bwrap.protections


@pytest.mark.skipif(os.getuid() != 0, reason="refusing root without a sandbox is about root; this runs as a user")
def test_root_without_bubblewrap_is_refused_unless_trusted(course):
    with pytest.raises(PermissionError, match="--trust-submissions"):
        autograde("tiny", course, Settings(bwrap=False), n_workers=0, students=[], progress=False)


def test_two_runs_on_one_course_cannot_interleave(course):
    with course_lock(course):
        with pytest.raises(RuntimeError, match="another autograde run holds"):
            autograde("tiny", course, Settings(**FAST), n_workers=0, students=[], progress=False)


def listening(pids: set[int]) -> list[tuple[str, int]]:
    """(address, port) of the TCP sockets these processes listen on, from /proc (no `ss` needed)."""
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                address, port = fields[1].split(":")
                found.append((address, int(port, 16)))
    return found


def test_the_dask_dashboard_is_off():
    from classgrade.supervise import descendants

    client, cluster = _client(1, None)
    try:
        sockets = listening({os.getpid(), *descendants(os.getpid())})
        assert sockets and not any(port == 8787 for _, port in sockets), sockets
        assert all(address in ("0100007F", "00000000000000000000000001000000") for address, _ in sockets), sockets
        assert all(sock.fileno() == -1 for sock in cluster.scheduler.http_server._sockets.values())  # stopped
    finally:
        client.close()
        cluster.close()


def test_text_from_a_submission_is_cleaned():
    assert clean("ok\x1b[31mRED\x1b[0m\nnext\x07 \x1b]0;title\x07end") == "okRED / next end"
    assert clean("/abs/path") == "/abs/path"
    assert clean("x" * 50, limit=10).startswith("x" * 10 + " [... 40 more")
    assert clean("a\r\nb\x00c", one_line=False) == "a\nbc"


def test_the_supervisor_keeps_only_the_head_and_tail_of_a_flood():
    proc = subprocess.Popen([sys.executable, "-c", "import os\nfor _ in range(50): os.write(1, b'z' * 2**20)\n"
                             "os.write(1, b'THE-END')"], stdout=subprocess.PIPE)
    output = Output(proc.stdout)
    proc.wait()
    text = output.text()
    assert len(text) < 100_000 and text.endswith("THE-END") and "bytes of output not kept" in text


def test_links_are_never_read(tmp_path):
    (tmp_path / "secret").write_text("s")
    (tmp_path / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(OSError):
        read_regular(tmp_path / "link", 100)
    with pytest.raises(OSError, match="over"):
        read_regular(tmp_path / "secret", 0)
