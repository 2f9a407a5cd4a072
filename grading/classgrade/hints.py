"""Write each exercise's hints.json (course_lib/checking/hints.py) from its check table: the classic mistakes'
fingerprints on inputs from a fixed seed, for the hints a failing test cell shows in the student's kernel.

    python -m classgrade.hints [ASSIGNMENT ...]      (from grading/; then `make release` for each)

The file goes into solutions/<assignment>/ (nbgrader copies it into the release) and exercises/<assignment>/.
It holds no expected value: the checks' code (public: it only builds inputs and calls the student's
functions), the seed, the digests of the release's test cells, and per mistake its sentence and fingerprints.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from course_lib.checking.hints import FILE, digest, fingerprint

from classgrade.reference import REPO, compute
from classgrade.table import Table
from classgrade.trusted import check_ids, load_table

SEED = 20261130  # fixed: the hints file is committed, and tests compare it with a fresh reference run


def hints(table: Table, reference: dict, release: dict) -> dict:
    """The hints file's content, from a reference run with mistakes (seed SEED) and the release notebook."""
    cells = {}
    for cell in release["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] == "code" and meta.get("grade_id") in table.parts():
            cells[digest("".join(cell["source"]))] = meta["grade_id"]
    checks = [{**c, "part": check.part} for c, check in zip(check_ids(table), table.checks)]
    mistakes = []
    for name, mistake in sorted(table.mistakes.items()):
        records = {r["check"]: r for r in reference["mistakes"][name]}
        ids = [c["id"] for c in checks if c["part"] in mistake.parts]
        mistakes.append({"name": name, "parts": sorted(mistake.parts), "diagnosis": mistake.diagnosis,
                         "fingerprints": {str(i): fingerprint(records[i]) for i in ids if i in records}})
    return {"seed": reference["seed"], "cells": cells, "checks": checks, "mistakes": mistakes}


def text(content: dict) -> str:
    return json.dumps(content, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or sorted(p.stem for p in (REPO / "grading" / "checks").glob("*.py"))
    with tempfile.TemporaryDirectory() as tmp:
        for assignment in names:
            table = load_table(assignment)
            release = json.loads((REPO / "exercises" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))
            content = text(hints(table, compute(assignment, SEED, Path(tmp), mistakes=True), release))
            for folder in ("solutions", "exercises"):
                (REPO / folder / assignment / FILE).write_text(content, encoding="utf-8")
            print(f"{assignment}: {FILE} with {len(table.mistakes)} classic mistakes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
