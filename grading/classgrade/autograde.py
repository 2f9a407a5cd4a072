"""Autograde a whole class: one isolated `nbgrader autograde --student` per submission, in parallel on Dask.

Parallelism is Dask distributed's: a LocalCluster of worker processes (n_workers, default: CPU cores), or
a running scheduler's address for a real cluster. n_workers=0 grades serially in this process (benchmarks).
Results are merged into the real gradebook one at a time, here in the parent, as they arrive. A lock file
keeps two runs on one course from interleaving.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from classgrade import forkserver
from classgrade.checker import Checker
from classgrade.checker import summary as checked_summary
from classgrade.course import GRADING, Course, Settings, assignment_cells, make_template
from classgrade.gradebook import State, graded_students, merge, record_failure, save_visible
from classgrade.text import clean
from classgrade.files import submission_hash
from classgrade.visible import released_sources
from classgrade.worker import grade_one

COURSE_ID = "dl-vision-attention"


@dataclass
class Summary:
    """What happened to every student in one run."""
    assignment: str
    protections: str = ""  # which sandbox held, in words
    checks: str = ""  # where the points came from, in words
    graded: dict[str, float] = field(default_factory=dict)  # student -> score
    skipped: list[str] = field(default_factory=list)  # unchanged since the last run
    failed: dict[str, str] = field(default_factory=dict)  # student -> why
    timed_out: dict[str, str] = field(default_factory=dict)
    manual: list[str] = field(default_factory=list)  # need a person (formgrader)
    problems: dict[str, list[str]] = field(default_factory=dict)  # student -> what went wrong in which cell
    previous: dict[str, str] = field(default_factory=dict)  # student -> the earlier result a failure replaced
    seconds: dict[str, float] = field(default_factory=dict)
    timing: dict[str, dict] = field(default_factory=dict)  # student -> phase -> seconds (timing=True: timing.py)

    def text(self) -> str:
        lines = [f"{self.assignment}: {len(self.graded)} graded, {len(self.skipped)} unchanged (skipped), "
                 f"{len(self.failed)} failed, {len(self.timed_out)} timed out, {len(self.manual)} need manual grading"]
        if self.protections:
            lines.append(f"  SANDBOX    {self.protections}")
        if self.checks:
            lines.append(f"  POINTS     {self.checks}")
        lines += [f"  FAILED     {clean(s, 100)}: {clean(why, 300)}" for s, why in sorted(self.failed.items())]
        lines += [f"  TIMED OUT  {clean(s, 100)}: {clean(why, 300)}" for s, why in sorted(self.timed_out.items())]
        lines += [f"  HISTORY    {clean(s, 100)}: {clean(was, 300)}" for s, was in sorted(self.previous.items())]
        lines += [f"  PROBLEM    {clean(s, 100)}: {clean(p, 300)}" for s, ps in sorted(self.problems.items()) for p in ps]
        if self.manual:
            lines.append(f"  MANUAL     {', '.join(clean(s, 100) for s in sorted(self.manual))} (nbgrader formgrader)")
        return "\n".join(lines)


@contextmanager
def course_lock(course: Course):
    """One autograde run per course at a time (an exclusive lock on grading/.classgrade/lock)."""
    path = course.grading / ".classgrade" / "lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            raise RuntimeError(f"another autograde run holds {path} (pid {f.read().strip() or '?'}); "
                               "wait for it to finish") from None
        f.truncate(0)
        f.write(str(os.getpid()))
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _client(n_workers: int | None, scheduler: str | None):
    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler), None
    # workers import classgrade: make grading/ importable in their (spawned) interpreters
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(GRADING), os.environ.get("PYTHONPATH")]))
    # No dashboard: Dask always starts an HTTP server (health, metrics) beside it, so the scheduler's, in this
    # process, is stopped, and the workers' listen on a free port of 127.0.0.1 with no dashboard routes.
    cluster = LocalCluster(n_workers=n_workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                           host="127.0.0.1", memory_limit=0, dashboard_address="127.0.0.1:0",
                           scheduler_kwargs={"dashboard": False}, worker_dashboard_address="127.0.0.1:0",
                           silence_logs=logging.ERROR)
    cluster.scheduler.http_server.stop()
    return Client(cluster), cluster


def autograde(assignment: str, course: Course | None = None, settings: Settings | None = None,
              n_workers: int | None = None, scheduler: str | None = None, students: list[str] | None = None,
              force: bool = False, progress: bool = True, timing: bool = False) -> Summary:
    """Grade every submitted student (or `students`), skipping unchanged submissions unless `force`;
    with `timing`, each student's seconds per phase in summary.timing (benchmarks: classgrade/timing.py)."""
    course = course or Course.from_env()
    settings = settings or Settings()
    settings.check()
    summary = Summary(assignment, protections=settings.protections())
    with course_lock(course):
        state = State(course.grading / ".classgrade" / "state.json")
        already = graded_students(course.gradebook, assignment)
        submitted, refused = course.submitted(assignment)
        for name, why in refused.items():
            summary.problems[name] = [why]
        if students is not None:
            submitted = {s: p for s, p in submitted.items() if s in students}
        todo = {}
        for student, folder in submitted.items():
            record = state.get(assignment, student)
            if (not force and record.get("status") == "graded" and student in already
                    and record.get("hash") == submission_hash(folder)):
                summary.skipped.append(student)
            else:
                todo[student] = folder
        if todo:
            _grade(assignment, course, settings, todo, n_workers, scheduler, state, summary, progress, timing)
    return summary


def _grade(assignment, course, settings, todo, n_workers, scheduler, state, summary, progress, timing) -> None:
    # in the course folder, which every worker machine shares (its /tmp it does not); never seen by a kernel
    (course.grading / ".classgrade").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="work-", dir=course.grading / ".classgrade"))
    try:
        template_db, release_files = make_template(course, assignment, work)
        notebooks = course.release_notebooks(assignment)
        checker = Checker.prepare(course.root, assignment, notebooks, work)
        summary.checks = (f"trusted checker: {len(checker.table.checks)} checks of {len(checker.table.parts())} "
                          f"parts, fresh inputs (seed {checker.seed}), compared outside the kernels" if checker else
                          "NO check table (grading/checks/): points from the notebook's tests, run in the student's "
                          "kernel, which student code can influence")
        base = {"assignment": assignment, "template_db": str(template_db), "release_files": str(release_files),
                "notebooks": notebooks, "config_dir": str(GRADING),
                "grade_cells": assignment_cells(template_db, assignment),
                "feedback": _feedback_spec(course, assignment, notebooks, checker),
                "cell_timeout": settings.cell_timeout, "notebook_timeout": settings.notebook_timeout,
                "sandbox": settings.sandbox(), "limits": settings.limits(), "python": sys.executable, "timing": timing}
        jobs = [{**base, "student": s, "submitted": str(p)} for s, p in todo.items()]
        bar = tqdm(total=len(jobs), desc=f"autograde {assignment}", unit="student", disable=not progress)
        for result in _results(jobs, n_workers, scheduler):
            _record(result, course, assignment, state, summary, checker)
            bar.update()
            bar.set_postfix(failed=len(summary.failed) + len(summary.timed_out), refresh=False)
        bar.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _feedback_spec(course: Course, assignment: str, notebooks: list[str], checker: Checker | None) -> dict:
    """notebook -> what the Execute step needs to run it as released before the hidden tests (execute.py): the
    release's locked and test cells' sources, and the trusted checker's probe cell (or None)."""
    probes = checker.probe_cells() if checker else {}
    return {name: {"sources": released_sources(json.loads((course.root / "exercises" / assignment / name).read_text(
        encoding="utf-8"))), "probe": probes.get(name)} for name in notebooks}


def _results(jobs: list[dict], n_workers: int | None, scheduler: str | None):
    """Each job's result as it finishes: in this process when n_workers == 0, else on Dask."""
    if n_workers == 0 and not scheduler:
        try:
            for job in jobs:
                yield grade_one(job)
        finally:
            forkserver.stop()
        return
    from distributed import as_completed

    client, cluster = _client(n_workers, scheduler)
    try:
        keys = {f"grade-{i}": job["student"] for i, job in enumerate(jobs)}  # ids stay out of Dask's keys
        futures = client.map(_grade_on_worker, jobs, pure=False, key=list(keys))
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as error:  # a worker lost too often: report that student, keep going
                yield {"student": keys[future.key], "status": "failed", "reason": f"worker error: {error}",
                       "problems": [], "hash": None, "grades": None, "files": {}}
    finally:
        try:
            client.run(forkserver.stop)  # each worker's fork server: no process outlives the run
        except Exception:  # noqa: BLE001 (a worker lost: its server died with it)
            pass
        client.close()
        if cluster is not None:
            cluster.close()


def _grade_on_worker(job: dict) -> dict:
    """On a Dask worker: a uid of this worker process's own (several workers share one machine)."""
    if job["sandbox"].get("uid") is not None:
        job = {**job, "sandbox": {**job["sandbox"], "uid": 100000 + os.getpid() % 50000}}
    return grade_one(job)


def _record(result: dict, course: Course, assignment: str, state: State, summary: Summary,
            checker: Checker | None = None) -> None:
    student, start = result["student"], time.monotonic()
    checks = None
    summary.seconds[student] = result.get("seconds", 0.0)
    before = state.get(assignment, student)
    score = None
    if result["status"] == "graded":
        if checker is not None:
            checks = checked_summary(checker.apply(result))
        merge(course.gradebook, COURSE_ID, assignment, result, course.grading / "autograded" / student / assignment)
        save_visible(course.grading, assignment, student, result.get("visible", {}))
        score = summary.graded[student] = result["grades"]["score"]
        if result["grades"]["needs_manual_grade"]:
            summary.manual.append(student)
    else:
        (summary.timed_out if result["status"] == "timed_out" else summary.failed)[student] = result["reason"]
        record_failure(course.gradebook, COURSE_ID, assignment, student, clean(result["reason"], 300), course.grading)
        if before.get("status") == "graded":
            summary.previous[student] = (f"earlier submission scored {before.get('score')} ({before.get('when', '?')}); "
                                         "kept as history only, the gradebook now shows this failure")
    if result.get("problems"):  # after the checker, which may add one
        summary.problems[student] = result["problems"]
    if os.environ.get("CLASSGRADE_DEBUG") and result["status"] != "graded":
        print(result.get("log_tail", ""), file=sys.stderr)
    state.put(assignment, student, {"hash": result.get("hash"), "status": result["status"],
                                    "reason": clean(result.get("reason", ""), 300), "score": score, "checks": checks,
                                    "problems": [clean(p, 300) for p in result.get("problems", [])][:20]})
    if result.get("timing"):
        summary.timing[student] = {**result["timing"], "merging into the gradebook": round(time.monotonic() - start, 3)}
