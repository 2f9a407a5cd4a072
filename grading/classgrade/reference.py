"""The reference run: the probe on the instructor's solution (and on each classic mistake), outside the sandbox.

Runs trusted code only (solutions/), in a process of its own so that the grading parent's state is untouched:

    python -m classgrade.reference ASSIGNMENT --seed S --out reference.json [--mistakes] [--notebook PATH] [--root R]

The notebook's parameters and setup cells run once; then, for the solution and for each mistake (its answer
cell edited), the answer cells and the cells the table `needs` run on a copy of that namespace, and the probe
records the results. --notebook runs another notebook the same way (a release, a mutant) without stopping at
errors: that is how tests and `make grading-check` see what a submission would score, without a kernel.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
from pathlib import Path

from course_lib.checking.probe import run_checks
from classgrade.rules import loaded, top_level
from classgrade.table import Table
from classgrade.trusted import check_ids, load_table

REPO = Path(__file__).resolve().parents[2]


def _cells(nb: dict, table: Table) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(grade_id, source) of the set-up cells and of the cells each variant runs again, in notebook order."""
    setup, rest = [], []
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] != "code":
            continue
        if meta.get("grade_id") in ("parameters", "setup"):
            setup.append((meta["grade_id"], source))
        elif meta.get("solution") or meta.get("grade_id") in table.needs:
            rest.append((meta["grade_id"], source))
    return setup, rest


def _execute(grade_id: str, source: str, namespace: dict, strict: bool) -> None:
    try:
        exec(compile(source, f"<{grade_id}>", "exec"), namespace)
    except Exception as error:
        if strict:
            raise RuntimeError(f"cell {grade_id} failed in the reference run: {type(error).__name__}: {error}") from error


def run(nb: dict, table: Table, seed: int, mistakes: bool = False, strict: bool = True,
        all_checks: bool = False) -> dict:
    """{'seed', 'solution': records, 'mistakes': {name: records}} for `nb` (the solution unless told)."""
    checks = check_ids(table)
    setup, rest = _cells(nb, table)
    base: dict = {"__name__": "__main__"}
    for grade_id, source in setup:
        _execute(grade_id, source, base, strict)

    def variant(edits: dict[str, tuple], parts: frozenset | None, solved: dict | None = None) -> list[dict]:
        namespace, records, changed = dict(base), [], set()
        for grade_id, source in rest:
            for old, new in edits.get(grade_id, ()):
                if source.count(old) != 1:
                    raise ValueError(f"{table.assignment}: mistake text {old!r} should occur once in cell {grade_id}")
                source = source.replace(old, new)
            tree = ast.parse(source)
            if solved is not None and grade_id in table.needs and not changed & set(loaded(tree)):
                namespace.update({name: solved[name] for name in top_level(tree) if name in solved})
                continue  # e.g. a training cell that uses nothing the mistake changed: the solution's result
            _execute(grade_id, source, namespace, strict and not edits)
            if grade_id in edits or changed & set(loaded(tree)):
                changed |= top_level(tree)
        spaces.append(namespace)
        wanted = [c for c, check in zip(checks, table.checks) if parts is None or check.part in parts]
        run_checks(wanted, seed, namespace, emit=records.append)
        return records

    spaces: list[dict] = []
    out = {"seed": seed, "solution": variant({}, None), "mistakes": {}}
    if mistakes:
        for name, mistake in table.mistakes.items():
            out["mistakes"][name] = variant({mistake.cell: mistake.edits}, None if all_checks else mistake.parts,
                                            solved=spaces[0])
    return out


def compute(assignment: str, seed: int, folder: Path, mistakes: bool = False, notebook: Path | None = None,
            all_checks: bool = False, also: Path | None = None, root: Path = REPO, python: str = sys.executable,
            timeout: float = 1800) -> dict:
    """Run this module in a fresh process (nothing it does touches the caller); its JSON result."""
    import subprocess

    out = folder / f"reference-{assignment}-{seed}{'-' + notebook.stem if notebook else ''}.json"
    command = [python, "-m", "classgrade.reference", assignment, "--seed", str(seed), "--out", str(out),
               "--root", str(root)]
    command += ["--mistakes"] if mistakes else []
    command += ["--all-checks"] if all_checks else []
    command += ["--notebook", str(notebook)] if notebook else []
    command += ["--also", str(also)] if also else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "grading"), os.environ.get("PYTHONPATH")])),
           "MPLBACKEND": "Agg"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"the reference run of {assignment} failed: {done.stderr.strip()[-2000:]}")
    return json.loads(out.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m classgrade.reference", description=__doc__)
    parser.add_argument("assignment")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--mistakes", action="store_true", help="also run every classic mistake of the table")
    parser.add_argument("--all-checks", action="store_true", help="every check for every mistake (tests)")
    parser.add_argument("--root", type=Path, default=REPO, help="the course: solutions/ and grading/checks/")
    parser.add_argument("--also", type=Path, help="then this notebook too, errors allowed: its records in 'also'")
    parser.add_argument("--notebook", type=Path, help="run this notebook instead, errors allowed")
    args = parser.parse_args(argv)
    table = load_table(args.assignment, args.root / "grading" / "checks")
    path = args.notebook or args.root / "solutions" / args.assignment / f"{args.assignment}.ipynb"
    nb = json.loads(path.read_text(encoding="utf-8"))
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.chdir(args.root / "solutions" / args.assignment)  # the data files the notebook reads
    result = run(nb, table, args.seed, mistakes=args.mistakes, strict=args.notebook is None,
                 all_checks=args.all_checks)
    if args.also:  # one process for two notebooks (tests, grading-check): the imports are paid once
        result["also"] = run(json.loads(args.also.read_text(encoding="utf-8")), table, args.seed, strict=False)["solution"]
    args.out.write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
