"""Checks of a submitted notebook made before grading, outside the sandbox, on plain JSON.

nbgrader finds a test cell by its grade_id. A copy-pasted test cell (a duplicate id) or an extra cell that
claims points would fail the whole submission with a misleading message; here the extra copies lose their
nbgrader metadata (they run as ordinary cells, worth nothing) and are reported, and the rest is graded.
"""

from __future__ import annotations

import json
from pathlib import Path

from classgrade.text import clean


def precheck(folder: Path, notebooks: list[str]) -> list[str]:
    """Problems worth naming before grading: notebooks missing, or not valid JSON."""
    problems = []
    for name in notebooks:
        path = folder / name
        if not path.is_file():
            others = sorted(clean(p.name, 100) for p in folder.glob("*.ipynb"))
            problems.append(f"missing notebook {name} (found: {', '.join(others) or 'none'})")
            continue
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            problems.append(f"{name} is not a valid notebook (JSON: {clean(error, 200)})")
    return problems


def clean_graded_cells(path: Path, known: list[str]) -> list[str]:
    """Strip nbgrader metadata from duplicate grade ids and from ids the assignment does not have."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = nb["cells"]
    except (OSError, ValueError, KeyError, TypeError):
        return []  # missing or invalid: precheck says so, nbgrader decides
    seen, problems = set(), []
    for index, cell in enumerate(cells if isinstance(cells, list) else []):
        meta = cell.get("metadata", {}).get("nbgrader") if isinstance(cell, dict) else None
        if not isinstance(meta, dict) or "grade_id" not in meta:
            continue
        grade_id = meta["grade_id"]
        if grade_id in seen:
            why = "a second copy of a graded cell"
        elif known and grade_id not in known:
            why = "not a cell of this assignment" + (" (it claims points)" if meta.get("points") else "")
        else:
            seen.add(grade_id)
            continue
        del cell["metadata"]["nbgrader"]
        problems.append(f"cell {index} '{clean(grade_id, 100)}': {why}; ignored (run as an ordinary cell, no points)")
    if problems:
        path.write_text(json.dumps(nb), encoding="utf-8")
    return problems
