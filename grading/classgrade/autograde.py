"""Autograde a whole class: one isolated `nbgrader autograde --student` per submission, in parallel on Dask.

Parallelism is Dask distributed's: a LocalCluster of worker processes (n_workers, default: CPU cores), or
a running scheduler's address for a real cluster. n_workers=0 grades serially in this process (benchmarks).
Results are merged into the real gradebook one at a time, here in the parent, as they arrive.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from classgrade.course import GRADING, Course, Settings, make_template
from classgrade.gradebook import State, graded_students, merge
from classgrade.worker import grade_one, submission_hash

COURSE_ID = "dl-vision-attention"


@dataclass
class Summary:
    """What happened to every student in one run."""
    assignment: str
    graded: dict[str, float] = field(default_factory=dict)  # student -> score
    skipped: list[str] = field(default_factory=list)  # unchanged since the last run
    failed: dict[str, str] = field(default_factory=dict)  # student -> why
    timed_out: dict[str, str] = field(default_factory=dict)
    manual: list[str] = field(default_factory=list)  # need a person (formgrader)
    problems: dict[str, list[str]] = field(default_factory=dict)  # student -> what went wrong in which cell
    seconds: dict[str, float] = field(default_factory=dict)

    def text(self) -> str:
        lines = [f"{self.assignment}: {len(self.graded)} graded, {len(self.skipped)} unchanged (skipped), "
                 f"{len(self.failed)} failed, {len(self.timed_out)} timed out, {len(self.manual)} need manual grading"]
        lines += [f"  FAILED     {s}: {why}" for s, why in sorted(self.failed.items())]
        lines += [f"  TIMED OUT  {s}: {why}" for s, why in sorted(self.timed_out.items())]
        lines += [f"  PROBLEM    {s}: {p}" for s, ps in sorted(self.problems.items()) for p in ps]
        if self.manual:
            lines.append(f"  MANUAL     {', '.join(sorted(self.manual))} (nbgrader formgrader)")
        return "\n".join(lines)


def _client(n_workers: int | None, scheduler: str | None):
    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler), None
    # workers import classgrade: make grading/ importable in their (spawned) interpreters
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(GRADING), os.environ.get("PYTHONPATH")]))
    cluster = LocalCluster(n_workers=n_workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                           memory_limit=0, dashboard_address=None, silence_logs=logging.ERROR)
    return Client(cluster), cluster


def autograde(assignment: str, course: Course | None = None, settings: Settings | None = None,
              n_workers: int | None = None, scheduler: str | None = None, students: list[str] | None = None,
              force: bool = False, progress: bool = True) -> Summary:
    """Grade every submitted student (or `students`), skipping unchanged submissions unless `force`."""
    course = course or Course.from_env()
    settings = settings or Settings()
    summary = Summary(assignment)
    state = State(course.grading / "autograded" / ".classgrade-state.json")  # in an ignored folder
    already = graded_students(course.gradebook, assignment)
    submitted = course.submitted(assignment)
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
    if not todo:
        return summary

    work = Path(tempfile.mkdtemp(prefix="classgrade-"))
    try:
        template_db, release_files = make_template(course, assignment, work)
        base = {"assignment": assignment, "template_db": str(template_db), "release_files": str(release_files),
                "notebooks": course.release_notebooks(assignment), "config_dir": str(GRADING),
                "cell_timeout": settings.cell_timeout, "notebook_timeout": settings.notebook_timeout,
                "sandbox": settings.sandbox(course, str(work)), "python": sys.executable,
                "scratch_parent": str(work)}
        jobs = [{**base, "student": s, "submitted": str(p)} for s, p in todo.items()]
        bar = tqdm(total=len(jobs), desc=f"autograde {assignment}", unit="student", disable=not progress)
        for result in _results(jobs, n_workers, scheduler):
            _record(result, course, assignment, state, summary)
            bar.update()
            bar.set_postfix(failed=len(summary.failed) + len(summary.timed_out), refresh=False)
        bar.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summary


def _results(jobs: list[dict], n_workers: int | None, scheduler: str | None):
    """Each job's result as it finishes: in this process when n_workers == 0, else on Dask."""
    if n_workers == 0 and not scheduler:
        for job in jobs:
            yield grade_one(job)
        return
    from distributed import as_completed

    client, cluster = _client(n_workers, scheduler)
    try:
        futures = client.map(grade_one, jobs, pure=False, key=[f"grade-{j['student']}" for j in jobs])
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as error:  # a worker lost: report that student, keep going
                student = future.key.removeprefix("grade-") if isinstance(future.key, str) else str(future.key)
                yield {"student": student, "status": "failed", "reason": f"worker error: {error}",
                       "problems": [], "hash": None, "grades": None, "files": {}}
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _record(result: dict, course: Course, assignment: str, state: State, summary: Summary) -> None:
    student = result["student"]
    if result.get("problems"):
        summary.problems[student] = result["problems"]
    summary.seconds[student] = result.get("seconds", 0.0)
    if result["status"] == "graded":
        merge(course.gradebook, COURSE_ID, assignment, result,
              course.grading / "autograded" / student / assignment)
        grades = result["grades"]
        summary.graded[student] = grades["score"]
        if grades["needs_manual_grade"]:
            summary.manual.append(student)
    elif result["status"] == "timed_out":
        summary.timed_out[student] = result["reason"]
    else:
        summary.failed[student] = result["reason"]
    if os.environ.get("CLASSGRADE_DEBUG") and result["status"] != "graded":
        print(result.get("log_tail", ""), file=sys.stderr)
    state.put(assignment, student, {"hash": result.get("hash"), "status": result["status"],
                                    "reason": result.get("reason", "")})
