"""classgrade's fork server (grading/classgrade/forkserver.py) and the timing of a run (timing.py).

The whole grading path through the server is covered by tests/test_class_grading*.py; here, what a forked
run must keep from a started one: its environment and folder, its exit status and output in the supervisor's
report, the timeout; one server reused across runs and stopped at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "grading"))

from classgrade import forkserver, timing  # noqa: E402

SCRIPT = """import os, sys, time
print("cwd", os.getcwd(), "marker", os.environ.get("MARKER"), "args", sys.argv[1:], flush=True)
time.sleep(float(os.environ.get("SLEEP", "0")))
sys.exit(int(os.environ.get("CODE", "0")))
"""


def forked(tmp_path: Path, name: str, timeout: float = 60, **env: str) -> tuple[int, dict]:
    """Run tmp_path/probe_module.py forked under the supervisor; its exit status and the supervisor's report."""
    folder = tmp_path / name
    folder.mkdir()
    spec = {"timeout": 30, "memory_bytes": 2**31, "max_processes": 64, "disk_bytes": 2**20,
            "report": str(folder / "report.json")}
    (folder / "spec.json").write_text(json.dumps(spec))
    path = os.pathsep.join([str(tmp_path / "mods"), str(REPO / "grading")])
    environment = {"PATH": os.environ["PATH"], "PYTHONPATH": path, **env}
    code = forkserver.run([str(folder / "spec.json"), "--", sys.executable, "-m", "probe_module", "a b"],
                          environment, str(folder), timeout=timeout)
    return code, json.loads((folder / "report.json").read_text()) if (folder / "report.json").exists() else {}


@pytest.fixture
def mods(tmp_path: Path) -> Path:
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "probe_module.py").write_text(SCRIPT)
    return tmp_path


def test_a_forked_run_gets_its_environment_folder_and_exit_status(mods: Path):
    code, report = forked(mods, "one", MARKER="first")
    assert code == 0 and report["returncode"] == 0 and report["killed"] is None
    assert f"cwd {mods / 'one'} marker first args ['a b']" in report["log"]
    server = forkserver._servers[(sys.executable, os.pathsep.join([str(mods / "mods"), str(REPO / "grading")]))]
    code, report = forked(mods, "two", MARKER="second", CODE="3")
    assert report["returncode"] == 3 and "marker second" in report["log"] and "first" not in report["log"]
    assert server.poll() is None and server in forkserver._servers.values()  # the same server, still serving
    forkserver.stop()  # as at the end of a grading run
    assert server.poll() is not None and not forkserver._servers


def test_a_run_past_its_timeout_is_killed_and_the_server_serves_on(mods: Path):
    with pytest.raises(subprocess.TimeoutExpired):
        forked(mods, "slow", timeout=2, SLEEP="60")
    code, report = forked(mods, "after", MARKER="after")
    assert code == 0 and "marker after" in report["log"]


def test_answers_sent_together_are_each_read_at_once():
    server = subprocess.Popen(["printf", "pid 12\\nexit 3\\n"], stdout=subprocess.PIPE)
    server.wait()  # both lines are in the pipe before the first is read
    start = time.monotonic()
    assert forkserver._answer(server, "pid", start + 5) == "12"
    assert forkserver._answer(server, "exit", start + 5) == "3"
    with pytest.raises(OSError, match="stopped"):  # the pipe's end: the server is gone
        forkserver._answer(server, "pid", start + 5)


def test_phases_from_events():
    found = {"run": 0.0, "config": 1.0, "launch": 1.5, "inside": 1.75, "ready": 2.5, "answer": 4.0, "feedback": 6.0,
             "done": 7.0, "exited": 8.0}
    assert timing.phases(found) == {"process start": 1.0, "nbgrader start-up": 0.5, "sandbox": 0.25,
                                    "kernel start": 0.75, "imports": 1.5, "executing cells": 2.0,
                                    "hidden tests": 1.0, "writing results": 1.0}
    one_pass = timing.phases({k: v for k, v in found.items() if k != "feedback"})  # no feedback notebook asked
    assert one_pass["executing cells"] == 3.0 and "hidden tests" not in one_pass
    outside = timing.phases({k: v for k, v in found.items() if k != "inside"})  # no stage-2 time: no sandbox phase
    assert "sandbox" not in outside and outside["kernel start"] == 1.0
    assert "process start" not in timing.phases({"config": 1.0})


def test_the_seconds_of_one_submission_plain_and_through_classgrade(tmp_path):
    """What the grading bench compares: plain `nbgrader autograde` (its Execute step timed: execute.TimedExecute)
    and classgrade's one kernel per submission, both of the tiny assignment's solution, both full marks."""
    sys.path.insert(0, str(REPO))
    from benchmarks.grading_throughput import (TINY, class_of, classgrade_phases, comparison_report, full_marks,
                                               plain_nbgrader)
    from classgrade.autograde import autograde
    from classgrade.course import Settings

    course = class_of(TINY, "tiny", 2, tmp_path / "plain")
    seconds, plain = plain_nbgrader(course, "tiny", tmp_path / "plain-config")
    assert full_marks(course, "tiny", ["student000", "student001"]) == []
    assert plain["kernel start"] > 0 and plain["executing cells"] > 0 and 0 < sum(plain.values()) <= seconds
    course = class_of(TINY, "tiny", 1, tmp_path / "classgrade")
    settings = Settings(cell_timeout=60, notebook_timeout=120, bwrap=False, trust_submissions=True)
    summary = autograde("tiny", course, settings, n_workers=0, progress=False, timing=True)
    run = summary.timing["student000"]["grading run"]
    assert summary.graded == {"student000": 4.0} and "feedback run" not in summary.timing["student000"]
    assert run["executing cells"] > 0 and run["hidden tests"] > 0 and "sandbox" in run
    rows = [{"run": name, "seconds": 1.0, "per_minute": 60.0, "ratio": 1.0} for name in ("plain", "classgrade serial")]
    report = "\n".join(comparison_report({"rows": rows, "breakdown": {"plain nbgrader": plain,
                                                                      **classgrade_phases(summary.timing, 10.0)}}))
    assert "| hidden tests |  | " in report and "| kernel start | " in report and "classgrade: the rest" in report
