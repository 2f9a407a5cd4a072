"""Grade ONE submission in a private scratch course: `nbgrader autograde --student` in its own process group.

Runs inside a Dask worker (or in-process when serial). Everything it needs travels in the job (plain data)
and everything it returns is plain data, so workers on another machine work the same way, provided the
course repository sits at the same path there. The scratch course holds a copy of the template gradebook
(private to this worker), the release's data files and the student's submission; it is deleted afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from classgrade import sandbox


def submission_hash(folder: Path) -> str:
    """sha256 over the names and bytes of every file a student submitted."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def precheck(folder: Path, notebooks: list[str]) -> list[str]:
    """Problems worth naming before grading: notebooks missing, or not valid JSON."""
    problems = []
    for name in notebooks:
        path = folder / name
        if not path.is_file():
            others = sorted(p.name for p in folder.glob("*.ipynb"))
            problems.append(f"missing notebook {name} (found: {', '.join(others) or 'none'})")
            continue
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            problems.append(f"{name} is not a valid notebook (JSON: {error})")
    return problems


WRONG_ANSWER = {"AssertionError", "NotImplementedError"}


def cell_problems(notebook: Path) -> list[str]:
    """Errors seen in an autograded notebook's answer and test cells, e.g. 'square: MemoryError'."""
    try:
        nb = json.loads(notebook.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    found = []
    for index, cell in enumerate(nb.get("cells", [])):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        name = meta.get("grade_id") or f"cell {index}"
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                ename = output.get("ename", "Error")
                if meta.get("grade") and not meta.get("solution") and ename in WRONG_ANSWER:
                    continue  # a test that failed: an ordinary wrong (or missing) answer, not a problem to report
                what = {"CellTimeoutError": "timed out (cell time limit)", "KeyboardInterrupt": "timed out (interrupted)",
                        "MemoryError": "MemoryError (memory limit)", "SystemExit": "called sys.exit()"}.get(ename, ename)
                found.append(f"{name}: {what}")
    return found


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


def _run(cmd: list[str], cwd: str, env: dict, timeout: float) -> tuple[int | None, str]:
    """Run in a new process group; on timeout kill the whole group (nbgrader, kernel, bwrap). None = timed out."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return None, out


def grade_one(job: dict) -> dict:
    """Autograde one student's submission; return its grades, autograded files and problems (plain data)."""
    start = time.monotonic()
    student, assignment = job["student"], job["assignment"]
    submitted = Path(job["submitted"])
    result = {"student": student, "hash": submission_hash(submitted), "status": "failed", "reason": "",
              "problems": precheck(submitted, job["notebooks"]), "files": {}, "grades": None}
    scratch = Path(tempfile.mkdtemp(prefix="cg-", dir=job.get("scratch_parent")))
    try:
        course = scratch / "c"
        (course / "grading").mkdir(parents=True)
        shutil.copy(job["template_db"], course / "grading" / "gradebook.db")
        shutil.copytree(job["release_files"], course / "solutions" / assignment)  # data files only: no notebooks
        shutil.copytree(submitted, course / "grading" / "submitted" / student / assignment)
        runtime = scratch / "r"
        runtime.mkdir()
        config = {**job["sandbox"], "writable": [str(runtime)]}
        config["hide"] = sorted(set(config.get("hide", [])) | {str(scratch)})
        kernel = sandbox.kernelspec(str(scratch / "j"), config, python=job.get("python", sys.executable))
        env = {**os.environ, "COURSE_ROOT": str(course), "COURSE_EXCHANGE": str(scratch / "x"),
               "JUPYTER_PATH": str(scratch / "j"), "JUPYTER_RUNTIME_DIR": str(runtime),
               "PATH": f"{Path(job.get('python', sys.executable)).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        cmd = ["nbgrader", "autograde", assignment, f"--student={student}", "--force",
               f"--Execute.timeout={job['cell_timeout']}", f"--Execute.kernel_name={kernel}",
               "--Execute.startup_timeout=60",
               "--KernelManager.transport=ipc", f"--KernelManager.ip={runtime}/k"]  # unix sockets: no network needed
        code, log = _run(cmd, job["config_dir"], env, job["notebook_timeout"])
        autograded = course / "grading" / "autograded" / student / assignment
        for notebook in job["notebooks"]:
            result["problems"] += cell_problems(autograded / notebook)
        if code is None:
            result["status"], result["reason"] = "timed_out", f"whole notebook over {job['notebook_timeout']} s: killed"
        elif code != 0 or "There was an error processing" in log or not autograded.is_dir():
            died = "DeadKernelError" in log or "Kernel died" in log or "kernel died" in log.lower()
            result["reason"] = ("the kernel died (os._exit(), a crash or the memory limit)" if died
                                else _last_error(log))
        else:
            result["status"] = "graded"
            result["grades"] = _read_grades(course / "grading" / "gradebook.db", assignment, student)
            for notebook, data in result["grades"]["notebooks"].items():
                present = _grade_ids(autograded / f"{notebook}.ipynb")
                result["problems"] += [f"{name}: deleted by the student (scored 0, flagged for manual grading)"
                                       for name in sorted(set(data["grades"]) - present)]
            result["files"] = {str(p.relative_to(autograded)): p.read_bytes()
                               for p in autograded.rglob("*") if p.is_file()}
        result["log_tail"] = log[-2000:] if not os.environ.get("CLASSGRADE_DEBUG") else log
        invalid = [p for p in result["problems"] if "not a valid notebook" in p or p.startswith("missing notebook")]
        if result["status"] == "failed" and invalid:
            result["reason"] = "; ".join(invalid)
    except Exception as error:  # the grader survives whatever a submission does
        result["reason"] = f"grader error: {type(error).__name__}: {error}"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result["seconds"] = round(time.monotonic() - start, 2)
    return result


def _grade_ids(notebook: Path) -> set[str]:
    try:
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return set()
    return {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in cells} - {None}


def _last_error(log: str) -> str:
    lines = [l.strip() for l in log.splitlines() if "error" in l.lower() and l.strip()]
    return (lines[-1] if lines else "nbgrader autograde failed")[:300]
