"""Whole-class grading at scale on a real cluster: a worker machine dies mid-run and no student is lost or doubled.

A `dask scheduler` and two `dask worker` processes are started separately (benchmarks/local_cluster.py), on
127.0.0.1 with OS-chosen ports and no dashboard, standing for two machines that share the course folder.
`autograde(..., scheduler=address)` grades a small class of the tiny assignment (tests/class_grading_notebooks/
tiny: the solution scores 4, the release 0, a wrong cube 3) in a background thread; once one worker is busy
grading (the scheduler lists a task on it and its `nbgrader autograde` is running), that worker and everything
it started are SIGKILLed. Its task must be re-run on the other worker and every student merged exactly once.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "grading"))

from benchmarks.local_cluster import dask_command, private_tmp_works, start_cluster  # noqa: E402

pytestmark = pytest.mark.skipif(dask_command("scheduler") is None or dask_command("worker") is None,
                                reason="the Dask command line (`dask scheduler` / `dask worker`, from the "
                                       "`distributed` package) is not installed")

KINDS = ("solution", "release", "wrong")  # benchmarks.synthetic_class.KINDS; expected 4, 0 and 3
STUDENTS = 6


@pytest.fixture
def cluster(tmp_path):
    started = start_cluster(tmp_path / "cluster", n_workers=2)
    yield started
    started.close()  # also after a failure: the scheduler, the workers and whatever they started


def busy_grading(cluster, client, name: str) -> list[str]:
    """The scheduler's tasks on worker `name` if its grading subprocess is running, else []."""
    address = cluster.worker_addresses(client).get(name)
    keys = client.processing(workers=[address]).get(address, []) if address else []
    try:
        running = psutil.Process(cluster.workers[name].pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return list(keys) if keys and running else []


def test_the_cluster_listens_on_localhost_only(cluster):
    """Hermetic: the scheduler's and the workers' ports (Dask's HTTP servers included) are on 127.0.0.1."""
    listening = [f"{c.laddr.ip}:{c.laddr.port}" for proc in [cluster.scheduler, *cluster.workers.values()]
                 for c in psutil.Process(proc.pid).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert len(listening) >= 3 and all(address.startswith("127.0.0.1:") for address in listening), listening
    assert "127.0.0.1:8787" not in listening


def test_a_worker_killed_mid_run_loses_and_doubles_no_student(cluster, tmp_path):
    from distributed import Client
    from nbgrader.api import Gradebook

    from benchmarks.synthetic_class import EXPECTED, synthetic_class
    from classgrade.autograde import autograde
    from classgrade.course import Settings

    course, students = synthetic_class(tmp_path / "course", STUDENTS, kinds=KINDS)
    expected = {student: EXPECTED[kind] for student, kind in students.items()}
    settings = Settings(cell_timeout=5, notebook_timeout=120, memory_mb=1024, trust_submissions=True)
    done: dict = {}

    def grade():
        try:
            done["summary"] = autograde("tiny", course, settings, scheduler=cluster.address, progress=False)
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            done["error"] = error

    thread = threading.Thread(target=grade, name="autograde", daemon=True)
    thread.start()
    victim = "worker-1"
    with Client(cluster.address, timeout=30) as client:
        while not (in_flight := busy_grading(cluster, client, victim)) and thread.is_alive():
            time.sleep(0.05)  # autograde ends on its own (every notebook has its timeout)
        assert in_flight, f"autograde ended before {victim} got a task: {done}\n{cluster.log_tails()}"
        killed = cluster.kill_worker(victim)
        assert killed >= 2  # the worker and at least its `nbgrader autograde`
        thread.join()  # bounded by autograde's own notebook timeouts, not by a clock here
        survivors = [info["name"] for info in client.scheduler_info(n_workers=-1)["workers"].values()]
    assert survivors == ["worker-0"]
    assert "error" not in done, done.get("error")
    summary = done["summary"]
    print(f"killed {victim} ({killed} processes) while it graded {in_flight}\n{summary.text()}")

    assert summary.graded == expected, summary.text()
    assert not summary.failed and not summary.timed_out, summary.text()
    with Gradebook(f"sqlite:///{course.gradebook}") as gradebook:
        submissions = [(s.student.id, s.score) for s in gradebook.find_assignment("tiny").submissions]
    assert Counter(student for student, _ in submissions) == Counter(list(expected))  # once each
    assert dict(submissions) == expected
    for student in expected:
        assert (course.grading / "autograded" / student / "tiny" / "tiny.ipynb").is_file()


@pytest.mark.skipif(not private_tmp_works(), reason="no mount namespaces here (Linux, as root): the workers "
                                                     "cannot be given a folder of their own")
def test_workers_that_share_only_the_course_folder(tmp_path, monkeypatch):
    """Separate machines share the course folder, not the grading machine's temporary folder: here the workers
    see this process's temporary folder as an empty tmpfs of their own."""
    from benchmarks.synthetic_class import EXPECTED, synthetic_class
    from classgrade.autograde import autograde
    from classgrade.course import Settings

    ours = tmp_path / "grading-machine-tmp"  # this process's tempfile folder, which the workers cannot see
    ours.mkdir()
    course, students = synthetic_class(tmp_path / "course", 2, kinds=("solution", "release"))
    with start_cluster(tmp_path / "cluster", n_workers=2, hide=ours) as cluster:
        monkeypatch.setattr(tempfile, "tempdir", str(ours))
        settings = Settings(cell_timeout=5, notebook_timeout=120, memory_mb=1024, trust_submissions=True)
        summary = autograde("tiny", course, settings, scheduler=cluster.address, progress=False)
    assert summary.graded == {student: EXPECTED[kind] for student, kind in students.items()}, summary.text()
