"""Grade ONE submission in a private scratch course: `nbgrader autograde --student` under a supervisor.

One supervised run per submission, forked from this worker process's fork server (forkserver.py), which has
done its imports once; the kernel is a new process in the sandbox. Its Execute step (execute.py) runs the
notebook as released, with the trusted checker's probe cell, and keeps that for the feedback, then the hidden
tests in the same kernel. A cell that kills the kernel is skipped in a second run (CRASH_RERUNS).
Runs inside a Dask worker (or in-process when serial). Everything it needs travels in the job (plain data)
and everything it returns is plain data, so workers on another machine work the same way, provided the
course repository sits at the same path there. The scratch course holds a copy of the template gradebook,
the release's data files and a link-free copy of the student's submission; it is deleted afterwards.
Nothing here reads or writes through a path the kernel could have changed: the kernel never sees the
scratch course, and the notebooks written there are read back with O_NOFOLLOW, regular files only, size-capped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from classgrade import forkserver, sandbox, timing
from classgrade.cgroup import Cgroup
from classgrade.cells import clean_graded_cells, precheck
from classgrade.files import copy_submission, read_regular, submission_hash
from classgrade.text import clean

MAX_NOTEBOOK_BYTES = 64 * 2**20  # an autograded notebook read back (outputs are capped at 2 MiB by execute.py)
CRASH_RERUNS = 2  # a kernel crash: graded again at most this often, the crashing cells not run
PREPROCESSORS = ["classgrade.execute.SandboxExecute", "nbgrader.preprocessors.IgnorePattern",
                 "nbconvert.preprocessors.ClearMetadataPreprocessor", "nbgrader.preprocessors.LimitOutput",
                 "nbgrader.preprocessors.SaveAutoGrades", "nbgrader.preprocessors.AssignLatePenalties",
                 "nbgrader.preprocessors.CheckCellMetadata"]


def _read_grades(db: Path, assignment: str, student: str) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db}") as gradebook:
        submission = gradebook.find_submission(assignment, student)
        return {
            "timestamp": submission.timestamp.isoformat() if submission.timestamp else None,
            "score": submission.score, "max_score": submission.max_score,
            "needs_manual_grade": submission.needs_manual_grade,
            "notebooks": {
                nb.name: {
                    "flagged": nb.flagged,
                    "grades": {g.name: [g.auto_score, g.needs_manual_grade, g.max_score] for g in nb.grades},
                    "comments": {c.name: c.auto_comment for c in nb.comments},
                }
                for nb in submission.notebooks
            },
        }


WRONG_ANSWER = {"AssertionError", "NotImplementedError"}
WHAT = {"CellTimeoutError": "timed out (cell time limit)", "KeyboardInterrupt": "timed out (interrupted)",
        "MemoryError": "MemoryError (memory limit)", "SystemExit": "called sys.exit()",
        "KernelDied": "stopped the kernel (os._exit(), a kill, a crash or a limit): not run, scored 0"}


def cell_problems(nb: dict) -> list[str]:
    """Errors seen in an autograded notebook's answer and test cells, e.g. 'square: MemoryError'."""
    found = []
    for index, cell in enumerate(nb.get("cells", [])):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        name = clean(meta.get("grade_id") or f"cell {index}", 100)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                ename = str(output.get("ename", "Error"))
                if meta.get("grade") and not meta.get("solution") and ename in WRONG_ANSWER:
                    continue  # a test that failed: an ordinary wrong (or missing) answer, not a problem to report
                found.append(f"{name}: {WHAT.get(ename, clean(ename, 100))}")
    return found


def _scratch_course(job: dict, scratch: Path, submission: Path) -> Path:
    course = scratch / "c"
    (course / "grading").mkdir(parents=True)
    shutil.copy(job["template_db"], course / "grading" / "gradebook.db")
    shutil.copytree(job["release_files"], course / "solutions" / job["assignment"])  # data files only
    shutil.copytree(submission, course / "grading" / "submitted" / job["student"] / job["assignment"])
    return course


def _nbgrader_config(folder: Path, skip: list[int], crash_file: Path, max_output: int, timing_file: str,
                     feedback: Path | None) -> None:
    """The course's nbgrader_config.py, plus the class-scale Execute step (execute.py)."""
    folder.mkdir()
    stamp = f"__import__('classgrade.timing').timing.mark({timing_file!r}, 'config')\n" if timing_file else ""
    (folder / "nbgrader_config.py").write_text(
        stamp + "c = get_config()  # noqa: F821\n"
        f"load_subconfig({str(Path(sandbox.__file__).parent.parent / 'nbgrader_config.py')!r})  # noqa: F821\n"
        f"c.Autograde.autograde_preprocessors = {PREPROCESSORS!r}\n"
        f"c.SandboxExecute.skip_cells = {skip!r}\n"
        f"c.SandboxExecute.crash_file = {str(crash_file)!r}\n"
        f"c.SandboxExecute.max_output_bytes = {max_output}\n"
        "c.SandboxExecute.shutdown_kernel = 'immediate'  # killed after its last cell (the supervisor kills the rest)\n"
        f"c.SandboxExecute.timing_file = {timing_file!r}\n"
        f"c.SandboxExecute.feedback_spec = {str(feedback / 'spec.json') if feedback else ''!r}\n"
        f"c.SandboxExecute.feedback_dir = {str(feedback) if feedback else ''!r}\n")


def _run_once(job: dict, scratch: Path, course: Path, skip: list[int], attempt: int) -> tuple[dict, int | None]:
    """One supervised `nbgrader autograde`; returns the supervisor's report (with the feedback notebooks the
    Execute step wrote, by name, in report['feedback']) and the cell that crashed, if any."""
    run = scratch / f"run{attempt}"
    sockets, private = run / "s", run / "k"
    sockets.mkdir(parents=True)
    limits = job["limits"]
    cgroup = Cgroup.create(limits["memory_bytes"], limits["max_processes"])  # None where the machine has none
    timing_file = str(run / "timing.txt") if job.get("timing") else ""
    config = {**job["sandbox"], "private": str(private), "sockets": str(sockets),
              "cgroup_procs": cgroup.procs() if cgroup else [],
              "timing_file": timing_file, "inside_file": str(sockets / "t") if timing_file else ""}
    if config.get("uid") is not None:
        os.chown(sockets, config["uid"], config["uid"])
    kernel = sandbox.kernelspec(str(run / "j"), config)
    crash_file, feedback = run / "crashed", (run / "feedback" if job.get("feedback") else None)
    if feedback:
        feedback.mkdir()
        (feedback / "spec.json").write_text(json.dumps(job["feedback"]), encoding="utf-8")
    _nbgrader_config(run / "cfg", skip, crash_file, limits["output_bytes"], timing_file, feedback)
    spec = {"timeout": job["notebook_timeout"], "memory_bytes": limits["memory_bytes"],
            "max_processes": limits["max_processes"], "disk_bytes": limits["disk_bytes"],
            "watch": [str(sockets)] + ([] if config["bwrap"] else [str(private)]),
            "command_memory_bytes": limits["memory_bytes"] + 1536 * 2**20, "report": str(run / "report.json")}
    (run / "spec.json").write_text(json.dumps(spec))
    python, kills = job["python"], 0
    env = {**os.environ, "COURSE_ROOT": str(course), "COURSE_EXCHANGE": str(scratch / "x"),
           "JUPYTER_PATH": str(run / "j"), "JUPYTER_RUNTIME_DIR": str(run),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent / "fast_imports"), job["config_dir"]]),
           "PATH": f"{Path(python).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [python, "-m", "nbgrader", "autograde", job["assignment"], f"--student={job['student']}",
               "--force", f"--Execute.timeout={job['cell_timeout']}", f"--Execute.kernel_name={kernel}",
               "--Execute.startup_timeout=60", "--KernelManager.transport=ipc", f"--KernelManager.ip={sockets}/k"]
    timing.mark(timing_file, "run")
    try:  # `python -m classgrade.supervise SPEC -- COMMAND`, forked from the fork server (forkserver.py)
        forkserver.run([str(run / "spec.json"), "--", *command], env, str(run / "cfg"),
                       timeout=job["notebook_timeout"] + 120)
        report = json.loads((run / "report.json").read_text())
    except (subprocess.TimeoutExpired, OSError, ValueError) as error:
        report = {"returncode": None, "killed": f"the supervisor failed: {type(error).__name__}", "log": ""}
    finally:
        timing.mark(timing_file, "exited")
        if cgroup is not None:
            kills = cgroup.oom_kills()
            cgroup.remove()
    if cgroup is not None and kills and not report.get("killed"):
        report["killed"] = f"memory of all its processes over {limits['memory_bytes'] // 2**20} MiB " \
                           f"(the cgroup's OOM killer stopped {kills} process(es))"
    crashed = int(crash_file.read_text()) if crash_file.is_file() else None
    report["feedback"] = {}
    for notebook in (job.get("feedback") or {}):
        try:
            report["feedback"][notebook] = read_regular(feedback / notebook, MAX_NOTEBOOK_BYTES)
        except OSError:
            pass  # not written (the kernel died first) or over the cap: no feedback notebook, no checked points
    if timing_file:
        report["timing"] = timing.phases(timing.events(Path(timing_file), sockets / "t"))
    return report, crashed


def _without_crashing_cells(run, skip: list[int]) -> tuple[dict, list[int]]:
    """`run(skip, attempt)` -> (report, crashed cell), again without each cell that killed the kernel, at most
    CRASH_RERUNS times; the last report and the cells skipped."""
    skip = list(skip)
    for attempt in range(CRASH_RERUNS + 1):
        report, crashed = run(skip, attempt)
        if crashed is None or crashed in skip or (report.get("killed") or "").startswith("whole notebook"):
            break
        skip.append(crashed)
    return report, skip


def grade_one(job: dict) -> dict:
    """Autograde one student's submission; return its grades, autograded notebooks and problems (plain data)."""
    start = time.monotonic()
    student, assignment = job["student"], job["assignment"]
    submitted = Path(job["submitted"])
    result = {"student": student, "status": "failed", "reason": "", "problems": [], "files": {}, "grades": None,
              "hash": None, "visible": {}}
    scratch = Path(tempfile.mkdtemp(prefix="cg-", dir=job.get("scratch_parent")))
    try:
        result["hash"] = submission_hash(submitted)
        submission = scratch / "submission"
        submission.mkdir()
        result["problems"] += copy_submission(submitted, submission)
        invalid = precheck(submission, job["notebooks"])
        result["problems"] += invalid
        for notebook in job["notebooks"]:
            result["problems"] += clean_graded_cells(submission / notebook, job["grade_cells"].get(notebook, []))
        course = _scratch_course(job, scratch, submission)
        result["timing"] = {"copying the submission": round(time.monotonic() - start, 3)} if job.get("timing") else {}

        def graded(skip: list[int], attempt: int) -> tuple[dict, int | None]:
            report, crashed = _run_once(job, scratch, course, skip, attempt)
            if "timing" in report:
                result["timing"]["grading run"] = report["timing"]
            result["visible"] = report["feedback"]
            if report.get("killed") and (crashed is not None or "cgroup" in report["killed"]):
                result["problems"].append(f"killed: {report['killed']}")
            return report, crashed

        report, skip = _without_crashing_cells(graded, [])
        autograded = course / "grading" / "autograded" / student / assignment
        read = time.monotonic()
        _finish(result, job, report, autograded, course)
        if job.get("timing"):
            result["timing"]["reading results"] = round(time.monotonic() - read, 3)
        if skip and result["status"] != "graded":
            result["reason"] += f" (after {len(skip)} re-run(s) without the crashing cells)"
        result["log_tail"] = clean(report.get("log", "")[-3000:], 3000, one_line=False)
    except Exception as error:  # the grader survives whatever a submission does
        result["reason"] = f"grader error: {type(error).__name__}: {clean(error, 300)}"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result["seconds"] = round(time.monotonic() - start, 2)
    return result


def _finish(result: dict, job: dict, report: dict, autograded: Path, course: Path) -> None:
    """Status, grades and the autograded notebooks (read back safely) from one run's outcome."""
    log = report.get("log", "")
    for notebook in job["notebooks"]:
        try:
            data = read_regular(autograded / notebook, MAX_NOTEBOOK_BYTES)
            nb = json.loads(data)
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as error:
            result["problems"].append(f"{notebook}: autograded notebook not kept ({clean(error, 200)})")
            continue
        result["problems"] += cell_problems(nb)
        result["files"][notebook] = data
    killed = report.get("killed") or ""
    if killed.startswith("whole notebook"):
        result["status"], result["reason"] = "timed_out", f"{killed}: killed"
    elif report.get("returncode") != 0 or "There was an error processing" in log or not result["files"]:
        died = "DeadKernelError" in log or "kernel died" in log.lower()
        invalid = [p for p in result["problems"] if "not a valid notebook" in p or p.startswith("missing notebook")]
        result["reason"] = ("; ".join(invalid) if invalid else
                            f"killed: {killed}" if killed else
                            "the kernel died (os._exit(), a crash or the memory limit)" if died else
                            clean(_last_error(log), 300))
    else:
        result["status"] = "graded"
        result["grades"] = _read_grades(course / "grading" / "gradebook.db", job["assignment"], job["student"])
        for notebook, data in result["grades"]["notebooks"].items():
            present = _grade_ids(result["files"].get(f"{notebook}.ipynb", b"{}"))
            result["problems"] += [f"{clean(name, 100)}: deleted by the student (flagged for manual grading; the trusted checker still scores the answer where the assignment has a check table)"
                                   for name in sorted(set(data["grades"]) - present)]


def _grade_ids(data: bytes) -> set[str]:
    try:
        cells = json.loads(data)["cells"]
    except (ValueError, KeyError, TypeError):
        return set()
    return {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in cells} - {None}


def _last_error(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if "error" in line.lower() and line.strip()]
    return lines[-1] if lines else "nbgrader autograde failed"
