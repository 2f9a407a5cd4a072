"""Grading throughput against plain nbgrader: N copies of one assignment's solution graded three ways, plain
`nbgrader autograde` (serial, as an instructor runs it), classgrade serial and classgrade on a Dask LocalCluster;
or a synthetic class of N students, hostile ones included (synthetic_class.py).

    python benchmarks/grading_throughput.py                       # 20 copies of convolutions, three ways
    python benchmarks/grading_throughput.py --checked             # classgrade with the trusted checker
    python benchmarks/grading_throughput.py --n 8 --tiny          # the tests' tiny assignment: fast kernels
    python benchmarks/grading_throughput.py --n 8 --workers 2 --assignment pca_autoencoders
    python benchmarks/grading_throughput.py --synthetic           # 200 students of the tiny assignment, on a
                                                                  # `dask scheduler` + 2 `dask worker` processes

Each run uses its own scratch course (the instructor's files are never touched); classgrade's runs go through
the same sandbox (bubblewrap where it works) and the same serial merge into a fresh gradebook. Prints a Markdown
table (submissions per minute, ratio to plain nbgrader) and one submission's seconds per phase (process start,
nbgrader start-up, sandbox, kernel start, imports, executing cells, hidden tests, writing results:
classgrade/timing.py), and checks that every copy scored full autograded marks in all three.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "grading"))
sys.path.insert(0, str(REPO))  # benchmarks/ as a package, however this file is started

from classgrade.autograde import autograde  # noqa: E402
from classgrade.course import Course, Settings, bwrap_works  # noqa: E402
from classgrade import timing  # noqa: E402

from benchmarks.synthetic_class import TINY, grade_synthetic_class, synthetic_report  # noqa: E402



def class_of(source: Path, assignment: str, n: int, root: Path) -> Course:
    """A scratch course whose N students all submitted the instructor's solution."""
    shutil.copytree(source, root / "solutions" / assignment)
    (root / "grading").mkdir(parents=True)
    course = Course(root)
    course.nbgrader("generate_assignment", assignment, "--force")
    for i in range(n):
        folder = root / "grading" / "submitted" / f"student{i:03d}" / assignment
        folder.mkdir(parents=True)
        for notebook in (root / "solutions" / assignment).glob("*.ipynb"):
            shutil.copy(notebook, folder / notebook.name)
    return course


PLAIN_CONFIG = """c = get_config()  # noqa: F821
__import__("classgrade.timing").timing.mark({timing!r}, "config")
load_subconfig({config!r})  # noqa: F821 (the course's own)
c.Autograde.autograde_preprocessors = ["classgrade.execute.TimedExecute" if p is Execute else p
                                       for p in Autograde.class_traits()["autograde_preprocessors"].default()]
c.TimedExecute.timing_file = {timing!r}
"""


def plain_nbgrader(course: Course, assignment: str, folder: Path) -> tuple[float, dict[str, float]]:
    """`nbgrader autograde ASSIGNMENT` as an instructor runs it (serially, the course's config); its seconds and
    one submission's seconds per phase (timing.PHASES, the whole run's start-up shared by its submissions).

    The course's config is loaded from a scratch folder that adds one thing: nbgrader's own Execute step,
    subclassed to write timestamps (classgrade.execute.TimedExecute: a line appended per event)."""
    folder.mkdir(parents=True)
    stamps = folder / "timing.txt"
    (folder / "nbgrader_config.py").write_text(
        "from nbgrader.converters import Autograde\nfrom nbgrader.preprocessors import Execute\n"
        + PLAIN_CONFIG.format(timing=str(stamps), config=str(REPO / "grading" / "nbgrader_config.py")))
    path = os.pathsep.join(filter(None, [str(REPO / "grading"), os.environ.get("PYTHONPATH")]))  # classgrade.timing
    env = {**course.env(), "PYTHONPATH": path}
    timing.mark(stamps, "run")
    start = time.perf_counter()
    run = subprocess.run(["nbgrader", "autograde", assignment], cwd=folder, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    timing.mark(stamps, "exited")
    if run.returncode != 0:
        raise RuntimeError(f"`nbgrader autograde {assignment}` failed:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
    return seconds, plain_phases(stamps.read_text().splitlines())


def plain_phases(lines: list[str]) -> dict[str, float]:
    """One plain-nbgrader submission's seconds per phase from a whole run's timestamps (one notebook after another)."""
    run, notebooks = {}, []
    for line in lines:
        event, _, value = line.partition(" ")
        if event == "execute":
            notebooks.append({})
        mine = run if event in ("run", "config", "exited") or not notebooks else notebooks[-1]
        mine.setdefault(event, float(value))
    n = len(notebooks)
    each = [timing.phases(nb) for nb in notebooks]  # kernel start (from the launch), imports, executing cells
    ends = [nb["done"] for nb in notebooks] + [run["exited"]]
    between = ends[-1] - ends[-2] + sum(later["launch"] - end for later, end in zip(notebooks[1:], ends))
    return {"process start": (run["config"] - run["run"]) / n,
            "nbgrader start-up": (notebooks[0]["launch"] - run["config"]) / n, "sandbox": 0.0,
            **{phase: sum(e.get(phase, 0.0) for e in each) / n
               for phase in ("kernel start", "imports", "executing cells")},
            "writing results": between / n}


def full_marks(course: Course, assignment: str, students: list[str]) -> list[str]:
    """The students whose autograded cells did not all score full marks (or who are missing) in the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    short = []
    with Gradebook(f"sqlite:///{course.gradebook}") as gradebook:
        for student in students:
            try:
                submission = gradebook.find_submission(assignment, student)
            except MissingEntry:
                short.append(student)
                continue
            grades = [g for nb in submission.notebooks for g in nb.grades if g.auto_score is not None]
            if not grades or any(g.auto_score != g.max_score for g in grades):
                short.append(student)
    return short


def against_plain(n: int = 20, assignment: str = "convolutions", workers: int | None = None,
                  checked: bool = False) -> dict:
    """The same n copies of the solution graded three ways, each in its own scratch course: plain `nbgrader
    autograde` (serial), classgrade serial and classgrade on `workers` Dask workers; `checked`: classgrade with
    the assignment's check table (the trusted checker: one reference run, a probe cell per submission). Returns
    one row per run (seconds, submissions per minute, ratio to plain nbgrader) and one submission's seconds per phase."""
    workers = workers or os.cpu_count() or 1
    source = TINY if assignment == "tiny" else REPO / "solutions" / assignment
    settings = Settings(cell_timeout=300, notebook_timeout=900)
    students = [f"student{i:03d}" for i in range(n)]
    rows, breakdown = [], {}
    for label, n_workers in [("plain `nbgrader autograde` (serial)", None), ("classgrade serial", 0),
                             (f"classgrade, {workers} Dask workers", workers)]:
        with tempfile.TemporaryDirectory(prefix="classgrade-bench-") as tmp:
            course = class_of(source, assignment, n, Path(tmp) / "course")
            if checked and n_workers is not None:
                table = (TINY.parent / "checks" if assignment == "tiny" else REPO / "grading" / "checks") / f"{assignment}.py"
                (course.grading / "checks").mkdir()
                shutil.copy(table, course.grading / "checks")
            if n_workers is None:
                seconds, breakdown["plain nbgrader"] = plain_nbgrader(course, assignment, Path(tmp) / "plain")
            else:
                start = time.perf_counter()
                summary = autograde(assignment, course, settings, n_workers=n_workers, progress=False,
                                    timing=n_workers == 0)
                seconds = time.perf_counter() - start
                if n_workers == 0:
                    breakdown.update(classgrade_phases(summary.timing, seconds / n))
            short = full_marks(course, assignment, students)
        if short:
            raise RuntimeError(f"{label}: not every copy of the solution scored full marks: {short}")
        rows.append({"run": label, "seconds": seconds, "per_minute": n / seconds * 60})
    for row in rows:
        row["ratio"] = row["per_minute"] / rows[0]["per_minute"]
    return {"n": n, "assignment": assignment, "workers": workers, "rows": rows, "breakdown": breakdown}


def classgrade_phases(by_student: dict[str, dict], per_submission: float) -> dict[str, dict[str, float]]:
    """Mean seconds per phase over the students: its grading run (one kernel: timing.PHASES), and the rest."""
    from statistics import mean

    mine = [t["grading run"] for t in by_student.values() if "grading run" in t]
    phases = list(dict.fromkeys(phase for m in mine for phase in m))
    out = {"classgrade grading run": {phase: mean(m.get(phase, 0.0) for m in mine) for phase in phases}}
    other = {key: mean(t.get(key, 0.0) for t in by_student.values()) for key in
             ("copying the submission", "reading results", "merging into the gradebook")}
    accounted = sum(other.values()) + sum(sum(r.values()) for r in out.values())
    other["the rest (the run's start-up, between submissions)"] = max(per_submission - accounted, 0.0)
    out["classgrade, outside the runs"] = other
    return out


def comparison_report(result: dict) -> list[str]:
    """Markdown: the three runs, then one submission's seconds per phase."""
    from benchmarks.markdown import table

    lines = table(["run", "seconds", "submissions / minute", "vs plain nbgrader"],
                  [[r["run"], f"{r['seconds']:.0f}", f"{r['per_minute']:.1f}", f"{r['ratio']:.2f}x"]
                   for r in result["rows"]])
    b = result["breakdown"]
    runs = [k for k in ("plain nbgrader", "classgrade grading run") if b.get(k)]
    phases = [p for p in timing.PHASES if any(p in b[k] for k in runs)]  # in the order they happen
    rows = [[phase] + [f"{b[k][phase]:.2f}" if phase in b[k] else "" for k in runs] for phase in phases]
    blank = [""] * (len(runs) - 2)
    rows += [[f"classgrade: {key}", "", f"{value:.2f}", *blank]
             for key, value in b.get("classgrade, outside the runs", {}).items()]
    classgrade = sum(sum(b[k].values()) for k in runs[1:]) + sum(b.get("classgrade, outside the runs", {}).values())
    plain = sum(b["plain nbgrader"].values())
    rows.append(["**total**", f"**{plain:.2f}**", f"**{classgrade:.2f}** (its run, the rest)", *blank])
    return lines + ["", "One submission's seconds (mean over the serial runs' submissions; plain nbgrader's start-up "
                        "shared by its submissions):", ""] + table(["phase"] + runs, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, help="submissions: copies of the solution (default 20), or students of "
                                              "the synthetic class (default 200)")
    parser.add_argument("--assignment", default="convolutions")
    parser.add_argument("--tiny", action="store_true", help="tests/class_grading_notebooks/tiny instead")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="Dask worker processes")
    parser.add_argument("--checked", action="store_true", help="classgrade with the trusted checker's table")
    parser.add_argument("--synthetic", action="store_true",
                        help="a synthetic class of --n students (hostile ones too) on separately started workers")
    args = parser.parse_args()
    args.n = args.n or (200 if args.synthetic else 20)
    if args.synthetic:
        print(f"synthetic class of {args.n} x tiny; sandbox: "
              f"{'bubblewrap + rlimits' if bwrap_works() else 'rlimits only'}; {os.cpu_count()} cores")
        print("\n".join(synthetic_report(grade_synthetic_class(args.n, args.workers))))
        return
    assignment = "tiny" if args.tiny else args.assignment
    print(f"{args.n} x {assignment}; sandbox: {'bubblewrap + rlimits' if bwrap_works() else 'rlimits only'}; "
          f"{os.cpu_count()} cores; trusted checker: {'yes' if args.checked else 'no'}")
    print("\n".join(comparison_report(against_plain(args.n, assignment, args.workers, args.checked))))


if __name__ == "__main__":
    main()
