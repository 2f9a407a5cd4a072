"""The trusted checker in a grading run (autograde.py): one reference run, then each student's points.

Per run: a fresh seed (no one can prepare answers for inputs that do not exist yet), the reference run on
the solution and the classic mistakes (reference.py, a process of its own), and the probe cell that ends
every notebook as released (execute.py). Per student, in the grading parent: the probe's records scored
(trusted.score); every checked part's points replace the ones nbgrader computed in the student's kernel; the feedback notebook loses the
probe cell and gains, under each test cell, what the checker found and which classic mistake it looks like.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from classgrade.reference import compute
from classgrade.trusted import Part, has_table, load_table, probe_cell, probe_records, score, without_probe


@dataclass
class Checker:
    assignment: str
    notebook: str  # the notebook the table checks
    table: object
    seed: int
    reference: dict

    @classmethod
    def prepare(cls, root: Path, assignment: str, notebooks: list[str], work: Path) -> "Checker | None":
        """None when the assignment has no table (its points then come from the kernel's own tests)."""
        folder = root / "grading" / "checks"
        if not has_table(assignment, folder):
            return None
        notebook = f"{assignment}.ipynb" if f"{assignment}.ipynb" in notebooks else notebooks[0]
        seed = secrets.randbelow(2**30)
        reference = compute(assignment, seed, work, mistakes=True, root=root)
        return cls(assignment, notebook, load_table(assignment, folder), seed, reference)

    def probe_cells(self) -> dict[str, dict]:
        return {self.notebook: probe_cell(self.table, self.seed)}

    def apply(self, result: dict) -> dict[str, Part]:
        """Score one graded result in place: its grades, its score, its feedback notebook."""
        grades = result["grades"]["notebooks"].get(Path(self.notebook).stem, {}).get("grades", {})
        points = {part: grades[part][2] for part in self.table.parts() if part in grades}
        try:
            nb = json.loads(result.get("visible", {}).get(self.notebook, b"{}"))
            nb = nb if isinstance(nb, dict) and isinstance(nb.get("cells"), list) else {"cells": []}
        except ValueError:
            nb = {"cells": []}
        parts = score(self.table, points, self.reference, nb)
        if not probe_records(nb):
            result.setdefault("problems", []).append(
                "no results from the trusted checker (its run failed, timed out, or the probe cell was changed): "
                "every checked part scored 0")
        change = 0.0
        for name, part in parts.items():
            if name in grades:
                change += part.earned - (grades[name][0] or 0.0)
                grades[name][0], grades[name][1] = part.earned, False
        result["grades"]["score"] = (result["grades"]["score"] or 0.0) + change
        if nb["cells"]:
            result["visible"][self.notebook] = json.dumps(annotated(without_probe(nb), parts, self.table)).encode()
        return parts


def annotated(nb: dict, parts: dict[str, Part], table) -> dict:
    """Each checked test cell followed, in its outputs, by the checker's verdict (in place; returned)."""
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {}) if isinstance(cell, dict) else {}
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if grade_id in parts and cell.get("cell_type") == "code":
            text = parts[grade_id].message(table)
            cell.setdefault("outputs", []).append({"output_type": "display_data", "metadata": {},
                                                   "data": {"text/markdown": text, "text/plain": text}})
    return nb


def summary(parts: dict[str, Part]) -> dict:
    """What the state file keeps of one student's check: points per part and the mistakes recognised."""
    return {name: {"earned": p.earned, "points": p.points, "mistakes": p.mistakes,
                   "forbidden": [line for _, line in p.forbidden]} for name, p in sorted(parts.items())}
