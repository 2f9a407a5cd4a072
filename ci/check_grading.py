"""The grading check: the release is fresh and clean, solutions score full marks, the release scores zero.

    python -m ci.check_grading            # every assignment in solutions/

Everything happens in a scratch course directory (COURSE_ROOT), through the course's own
grading/nbgrader_config.py, so the instructor's gradebook and folders are never touched.
Scores are read from the gradebook: `nbgrader validate` exits 0 even when tests fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import symtable
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
GRADING = REPO / "grading"
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


def assignments() -> list[str]:
    """The assignment names: one folder per assignment under solutions/."""
    return sorted(p.name for p in (REPO / "solutions").iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def nbgrader(course_root: Path, *args: str, cwd: Path = GRADING) -> subprocess.CompletedProcess:
    """Run an nbgrader command on `course_root` with the course's configuration (found in `cwd`)."""
    env = {**os.environ, "COURSE_ROOT": str(course_root), "COURSE_EXCHANGE": str(course_root / "exchange")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # nbgrader shells out to `alembic`
    run = subprocess.run(["nbgrader", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"`nbgrader {' '.join(args)}` failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    return run


def scratch_course(tmp: Path) -> Path:
    """A course directory holding a copy of solutions/: the nbgrader source."""
    shutil.copytree(REPO / "solutions", tmp / "solutions")
    (tmp / "grading").mkdir()
    return tmp


def generate_release(course_root: Path, assignment: str) -> Path:
    """`nbgrader generate_assignment` into course_root/exercises/<assignment>/."""
    nbgrader(course_root, "generate_assignment", assignment, "--force")
    return course_root / "exercises" / assignment


def notebook_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def release_files(folder: Path) -> set[Path]:
    """The files of a release folder, relative to it, without editor and Python caches."""
    if not folder.is_dir():
        return set()
    skip = {".ipynb_checkpoints", "__pycache__"}
    return {p.relative_to(folder) for p in folder.rglob("*") if p.is_file() and not skip & set(p.parts)}


def stale_files(generated: Path, committed: Path) -> list[str]:
    """Files that differ between a fresh release and the committed exercises/ folder."""
    stale = []
    for name in sorted(release_files(generated) | release_files(committed)):
        fresh, kept = generated / name, committed / name
        if not (fresh.is_file() and kept.is_file()):
            stale.append(f"{name}: only in {'the fresh release' if fresh.is_file() else 'exercises/'}")
        elif (notebook_json(fresh) != notebook_json(kept)) if name.suffix == ".ipynb" else (fresh.read_bytes() != kept.read_bytes()):
            stale.append(f"{name}: differs from a fresh release")
    return stale


def solution_lines(source: Path) -> set[str]:
    """Lines that stand only inside solution or hidden-test regions of the instructor notebook."""
    inside_lines, outside_lines, inside = set(), set(), False
    for cell in nbformat.read(source, as_version=4).cells:
        for line in cell.source.splitlines():
            stripped = line.strip()
            if stripped.startswith(("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS")):
                inside = True
            elif stripped.startswith(("### END SOLUTION", "### END HIDDEN TESTS")):
                inside = False
            elif len(stripped) > 12:  # skip `return x`, brackets and other lines too short to give anything away
                (inside_lines if inside else outside_lines).add(stripped)
    return inside_lines - outside_lines


def release_leaks(release: Path, source: Path) -> list[str]:
    """What a student release must not hold: markers, solution or hidden-test lines, outputs."""
    secret = solution_lines(source)
    problems = []
    for index, cell in enumerate(nbformat.read(release, as_version=4).cells):
        where = f"{release.name} cell {index}"
        problems += [f"{where}: marker {m!r}" for m in SOLUTION_MARKERS if m in cell.source]
        problems += [f"{where}: solution line {line!r}" for line in secret if line in cell.source]
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            problems.append(f"{where}: has outputs or an execution count")
    return problems


@dataclass
class Score:
    student: str
    score: float
    max_score: float
    auto_score: float  # points from autograded tests
    max_auto_score: float
    needs_manual_grade: bool
    grades: dict[str, float]  # grade_id -> points


def _scopes(table: symtable.SymbolTable):
    yield table
    for child in table.get_children():
        yield from _scopes(child)


def _globals(source: str) -> tuple[set[str], set[str]]:
    """The global names a cell binds (at its top level) and the ones it reads without binding them."""
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    top = symtable.symtable(code, "cell", "exec")
    bound = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    read = {s.get_name() for scope in _scopes(top) for s in scope.get_symbols()
            if s.is_referenced() and (s.is_global() or scope is top)}
    return bound, read - bound


def late_rebinds(source: Path) -> list[str]:
    """Test cells with hidden tests that read a global name a later cell binds again. classgrade runs those
    cells a second time after the whole notebook (grading/classgrade/execute.py): they must not depend on it."""
    code = [c for c in notebook_json(source)["cells"] if c["cell_type"] == "code"]
    names = [_globals("".join(c["source"])) for c in code]
    problems = []
    for index, cell in enumerate(code):
        meta, text = cell["metadata"].get("nbgrader", {}), "".join(cell["source"])
        if meta.get("grade") and not meta.get("solution") and "### BEGIN HIDDEN TESTS" in text:
            clash = names[index][1] & set().union(*(bound for bound, _ in names[index + 1:]))
            if clash:
                problems.append(f"{source.parent.name}: {meta['grade_id']} reads {sorted(clash)}, bound again by a "
                                "later cell (its hidden tests run again after the whole notebook: use names of its own)")
    return problems


def autograde(course_root: Path, assignment: str, submissions: dict[str, Path]) -> dict[str, Score]:
    """Submit each folder of notebooks as one student, run `nbgrader autograde`, read the scores from the gradebook."""
    from nbgrader.api import Gradebook

    for student, folder in submissions.items():
        target = course_root / "grading" / "submitted" / student / assignment
        target.mkdir(parents=True, exist_ok=True)
        for notebook in folder.glob("*.ipynb"):
            shutil.copy(notebook, target / notebook.name)
    nbgrader(course_root, "autograde", assignment, "--force")
    scores = {}
    with Gradebook(f"sqlite:///{course_root / 'grading' / 'gradebook.db'}") as gradebook:
        for student in submissions:
            submission = gradebook.find_submission(assignment, student)
            grades = [g for notebook in submission.notebooks for g in notebook.grades]
            code = [g for g in grades if g.cell.cell_type == "code"]  # test cells: graded automatically
            scores[student] = Score(
                student=student,
                score=submission.score,
                max_score=submission.max_score,
                auto_score=sum(g.score for g in code),
                max_auto_score=sum(g.max_score for g in code),
                needs_manual_grade=submission.needs_manual_grade,
                grades={g.name: g.score for g in grades},
            )
    return scores


def check_assignment(assignment: str, tmp: Path) -> list[str]:
    """All problems found for one assignment (an empty list means it passes)."""
    return grade_assignment(assignment, tmp)[0]


def grade_assignment(assignment: str, tmp: Path, students: dict[str, Path] | None = None, trusted: bool = True
                     ) -> tuple[list[str], dict[str, Score]]:
    """check_assignment's problems, and the scores of more `students` (folders of notebooks) graded in the same
    nbgrader run as the solution and the untouched release: one autograde run per assignment. trusted=False
    leaves out the trusted checker's table (tests/test_trusted_checks.py checks the same, on its own runs)."""
    course = scratch_course(tmp)
    source_dir = REPO / "solutions" / assignment
    release_dir = generate_release(course, assignment)
    stale = stale_files(release_dir, REPO / "exercises" / assignment)
    problems = [f"exercises/{assignment}/{p} (run `make release`)" for p in stale]
    for source in sorted(source_dir.glob("*.ipynb")):
        problems += release_leaks(release_dir / source.name, source) + late_rebinds(source)

    scores = autograde(course, assignment, {"instructor-solution": source_dir, "untouched-release": release_dir,
                                            **(students or {})})
    solution, untouched = scores["instructor-solution"], scores["untouched-release"]
    print(f"{assignment}: solution {solution.auto_score:g}/{solution.max_auto_score:g} autograded points, "
          f"untouched release {untouched.score:g}/{untouched.max_score:g}")
    if solution.auto_score != solution.max_auto_score:
        problems.append(f"{assignment}: the solution scores {solution.auto_score:g}/{solution.max_auto_score:g} autograded points")
    if untouched.score != 0:
        problems.append(f"{assignment}: the untouched release scores {untouched.score:g}, not 0")
    return problems + (trusted_problems(assignment, tmp) if trusted else []), scores


def trusted_problems(assignment: str, tmp: Path) -> list[str]:
    """The trusted checker's table (grading/checks/): every autograded part checked; the solution earns every
    point, the untouched release none (scored as classgrade scores a student, on fresh inputs)."""
    import random

    sys.path.insert(0, str(REPO / "grading"))
    from classgrade.reference import compute
    from classgrade.trusted import as_probed, autograded_points, has_table, load_table, score

    if not has_table(assignment):
        return [f"{assignment}: no check table grading/checks/{assignment}.py (its points would come from the "
                "student's kernel)"]
    table, seed, problems = load_table(assignment), random.randrange(2**30), []
    name = f"{assignment}.ipynb"
    solution, release = (notebook_json(REPO / folder / assignment / name) for folder in ("solutions", "exercises"))
    points = autograded_points(solution)
    if table.parts() != set(points):
        problems.append(f"{assignment}: checked parts {sorted(table.parts())} differ from the test cells {sorted(points)}")
    reference = compute(assignment, seed, tmp, also=REPO / "exercises" / assignment / name)
    probed = {"solution": reference["also"]}
    full = score(table, points, reference, as_probed(solution, reference["solution"]))
    zero = score(table, points, reference, as_probed(release, probed["solution"]))
    earned = sum(p.earned for p in full.values()), sum(p.earned for p in zero.values())
    print(f"{assignment}: trusted checker (seed {seed}): solution {earned[0]:g}/{sum(points.values()):g}, "
          f"untouched release {earned[1]:g}")
    problems += [f"{assignment}: the trusted checker gives the solution {p.earned:g}/{p.points:g} in {n}: "
                 f"{(p.failures + [line for _, line in p.forbidden])[:2]}" for n, p in full.items() if p.earned != p.points]
    problems += [f"{assignment}: the trusted checker gives the untouched release {p.earned:g} in {n}"
                 for n, p in zero.items() if p.earned]
    return problems


def main() -> int:
    problems = []
    for assignment in assignments():
        with tempfile.TemporaryDirectory(prefix=f"grading-{assignment}-") as tmp:
            problems += check_assignment(assignment, Path(tmp))
    for problem in problems:
        print("PROBLEM:", problem)
    print("grading check:", "passed" if not problems else f"{len(problems)} problem(s)")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
