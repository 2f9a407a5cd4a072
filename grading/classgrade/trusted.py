"""The trusted checker: the points of every checked part, decided outside the student's process.

The grader appends one cell to the notebook as released, the run kept for feedback (probe_cell, execute.py): the probe calls the student's functions on
inputs made from a SEED chosen fresh for each grading run, and emits the results as plain data. Here, in the
grading parent, which never runs student code, those records are decoded strictly (unknown types, subclasses,
mocks, NaN tricks: not right), compared with the solution's results on the same inputs (reference.py, run
once per grading run), and turned into points per part. A part earns its points only when every one of its
checks has a result and it is right; a result missing (the probe cell was stopped, skipped or rewritten) earns
nothing. Expected values never exist in the student's kernel, so nothing there can read or fake a comparison.
Rules such as 'do not call F.conv2d' are read from the student's source (Forbid), not patched at run time.
"""

from __future__ import annotations

import importlib.util
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from course_lib.checking import probe
from classgrade.rules import violations
from classgrade.table import Raised, Table, Unsupported
from classgrade.text import clean
from classgrade.visible import PROBE_CELL

CHECKS = Path(__file__).resolve().parent.parent / "checks"  # grading/checks/<assignment>.py
DTYPES = {"float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"}


def load_table(assignment: str, folder: Path = CHECKS) -> Table:
    path = folder / f"{assignment}.py"
    if not path.is_file():
        raise FileNotFoundError(f"no check table for {assignment!r}: expected {path}")
    spec = importlib.util.spec_from_file_location(f"classgrade_checks_{assignment}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TABLE


def has_table(assignment: str, folder: Path = CHECKS) -> bool:
    return (folder / f"{assignment}.py").is_file()


def check_ids(table: Table) -> list[dict]:
    """The probe's view of a table: what to run, no comparison."""
    return [{"id": i, "given": c.given, "call": c.call} for i, c in enumerate(table.checks)]


def probe_cell(table: Table, seed: int) -> dict:
    """The cell the grader appends to a student's notebook as released (execute.py runs it before the hidden tests)."""
    source = Path(probe.__file__).read_text(encoding="utf-8")
    call = f"\nrun_checks({check_ids(table)!r}, {int(seed)}, globals())\n"
    return {"cell_type": "code", "execution_count": None, "outputs": [], "source": source + call,
            "metadata": {PROBE_CELL: True, "tags": ["classgrade-probe"]}}


def probe_records(nb: dict) -> list[dict]:
    """The records the probe cell emitted, taken from that cell only (the grader's, marked by metadata)."""
    cells = [c for c in nb.get("cells", []) if isinstance(c, dict) and c.get("metadata", {}).get(PROBE_CELL)]
    if not cells:
        return []
    return [o["data"][probe.MIME] for o in cells[-1].get("outputs", [])
            if isinstance(o, dict) and isinstance(o.get("data"), dict) and probe.MIME in o["data"]]


def as_probed(nb: dict, records: list[dict]) -> dict:
    """A copy of `nb` as the grader sees it after a run whose probe cell emitted `records`."""
    cell = {"cell_type": "code", "metadata": {PROBE_CELL: True}, "source": "", "execution_count": None,
            "outputs": [{"output_type": "display_data", "data": {probe.MIME: r}, "metadata": {}} for r in records]}
    return {**nb, "cells": list(nb["cells"]) + [cell]}


def autograded_points(nb: dict) -> dict[str, float]:
    """grade_id -> points of every autograded test cell of a notebook."""
    found = {}
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution") and cell["cell_type"] == "code":
            found[meta["grade_id"]] = meta.get("points", 0)
    return found


def without_probe(nb: dict) -> dict:
    nb["cells"] = [c for c in nb.get("cells", []) if not (isinstance(c, dict) and c.get("metadata", {}).get(PROBE_CELL))]
    return nb


def _number(x, integer: bool = False):
    if isinstance(x, str) and x in ("nan", "inf", "-inf"):
        return float(x)
    if type(x) is int or (type(x) is float and not integer):
        return x
    raise ValueError("not a number")


def decode(data, depth: int = 0):
    """A record's value as Python and torch objects; anything malformed raises ValueError."""
    if depth > 20 or not isinstance(data, dict) or len(data) not in (1, 2, 3):
        raise ValueError("malformed")
    if "v" in data and len(data) == 1:
        if data["v"] is None or type(data["v"]) in (bool, str):
            return data["v"]
    elif "n" in data and set(data) == {"n", "int"}:
        value = _number(data["n"], integer=data["int"] is True)
        return int(value) if data["int"] is True else float(value)
    elif "list" in data and len(data) == 1 and isinstance(data["list"], list):
        return tuple(decode(x, depth + 1) for x in data["list"])
    elif "set" in data and len(data) == 1 and isinstance(data["set"], list):
        return frozenset(decode(x, depth + 1) for x in data["set"])
    elif "dict" in data and len(data) == 1 and isinstance(data["dict"], dict):
        return {str(k): decode(v, depth + 1) for k, v in data["dict"].items()}
    elif "unsupported" in data and len(data) == 1:
        return Unsupported(clean(data["unsupported"], 100))
    elif set(data) == {"tensor", "shape", "data"} and data["tensor"] in DTYPES and isinstance(data["shape"], list):
        shape = [int(_number(s, integer=True)) for s in data["shape"]]
        if any(s < 0 for s in shape) or not isinstance(data["data"], list) or len(data["data"]) != math.prod(shape):
            raise ValueError("malformed tensor")
        if data["tensor"] == "bool":
            if not all(type(x) is bool for x in data["data"]):
                raise ValueError("malformed bool tensor")
            return torch.tensor(data["data"], dtype=torch.bool).reshape(shape)
        integer = data["tensor"].startswith(("int", "uint"))
        numbers = [_number(x, integer) for x in data["data"]]
        return torch.tensor(numbers, dtype=torch.int64 if integer else torch.float64).reshape(shape).to(
            getattr(torch, data["tensor"]))
    raise ValueError("malformed")


def results(records: list[dict], count: int) -> dict[int, object]:
    """check index -> decoded result; a malformed record counts as no result."""
    return _results(records, count, {})


def _results(records: list[dict], count: int, inputs_of: dict) -> dict[int, object]:
    """results(), and the inputs each record sent back into inputs_of[index]."""
    found = {}
    for record in records:
        if not isinstance(record, dict) or type(record.get("check")) is not int or not 0 <= record["check"] < count:
            continue
        if record["check"] in found:
            found[record["check"]] = Unsupported("second result for one check")
            continue
        try:
            if "raised" in record and isinstance(record["raised"], str):
                found[record["check"]] = Raised(clean(record["raised"], 100), clean(record.get("message", ""), 300))
            else:
                found[record["check"]] = decode(record["value"])
                inputs = record.get("inputs", {})
                if not isinstance(inputs, dict):
                    raise ValueError("malformed inputs")
                if not all(isinstance(v, str) and len(v) == 64 for v in inputs.values()):
                    raise ValueError("malformed input digests")
                inputs_of[record["check"]] = {str(k): v for k, v in inputs.items()}
        except (ValueError, TypeError, KeyError, OverflowError, RuntimeError):
            found[record["check"]] = Unsupported("malformed result")
    return found


@dataclass
class Part:
    """One graded part as the trusted checker saw it."""
    points: float
    earned: float = 0.0
    failures: list[str] = field(default_factory=list)  # what was wrong, for the student
    mistakes: list[str] = field(default_factory=list)  # names of the classic mistakes recognised
    forbidden: list[str] = field(default_factory=list)  # lines using what the part forbids

    def message(self, table: Table) -> str:
        if self.earned == self.points:
            return f"Trusted check: every result right, {self.points:g} of {self.points:g} points."
        lines = [f"Trusted check: {self.earned:g} of {self.points:g} points."]
        lines += [f"- not allowed here ({reason}): `{line}`" for reason, line in self.forbidden]
        lines += [f"- {failure}" for failure in self.failures[:5]]
        if len(self.failures) > 5:
            lines.append(f"- ... and {len(self.failures) - 5} more checks of this part")
        lines += [f"- Likely cause: {table.mistakes[name].diagnosis}" for name in self.mistakes]
        return "\n".join(lines)


def score(table: Table, points: dict[str, float], reference: dict, nb: dict) -> dict[str, Part]:
    """part -> Part, from one student's notebook as released, run (the probe's records, their code) and the
    reference run's records of the solution and the mistakes."""
    records = probe_records(nb)
    want_inputs, got_inputs = {}, {}
    want = _results(reference["solution"], len(table.checks), want_inputs)
    mistakes = _Lazy(reference.get("mistakes", {}), len(table.checks))  # decoded only for a wrong part
    got = _results(records, len(table.checks), got_inputs)
    parts = {part: Part(points.get(part, 0.0)) for part in table.parts()}
    for index, check in enumerate(table.checks):
        if index not in want:
            raise RuntimeError(f"{table.assignment}: the solution gave no result for check {index} ({check.what})")
        if index not in got:
            why = "no result: this check never ran (the grader's cell was stopped, skipped or changed)"
        else:
            try:
                plain = not isinstance(got[index], (Raised, Unsupported))  # a call that raised sends no inputs
                why = (plain and _changed_inputs(got_inputs.get(index, {}), want_inputs.get(index, {}))) or \
                    check.compare(got[index], want[index])
            except Exception as error:  # a comparison that cannot be made is not a pass
                why = f"cannot be compared ({type(error).__name__})"
        if why:
            parts[check.part].failures.append(f"{check.what}: {why}")
    for rule in table.forbid:
        if rule.part in parts:
            parts[rule.part].forbidden += [(rule.why, line) for line in violations(nb, rule)]
    for name, part in parts.items():
        part.earned = part.points if not part.failures and not part.forbidden else 0.0
        if part.failures:
            part.mistakes = [m for m in sorted(table.mistakes) if name in table.mistakes[m].parts
                             and _matches(table, name, got, mistakes.get(m, {}))]
    return parts


class _Lazy(dict):
    """name -> a mistake's decoded results, decoded on first use."""

    def __init__(self, records: dict, count: int):
        super().__init__()
        self.records, self.count = records, count

    def get(self, name, default=None):
        if name not in self and name in self.records:
            self[name] = results(self.records[name], self.count)
        return super().get(name, default)


def _changed_inputs(got: dict, want: dict) -> str | None:
    """Inputs must come back as the solution left them: not changed in place, not made differently."""
    for name in sorted(want):
        if name not in got:
            return f"input {name} missing from the result"
        if got[name] != want[name]:
            return f"input {name} is not what the checker made: changed in place, or made differently"
    return None


def _matches(table: Table, part: str, got: dict, mistake: dict) -> bool:
    """Every check of `part` gave what the mistake gives on the same inputs."""
    indices = [i for i, check in enumerate(table.checks) if check.part == part]
    return all(i in got and i in mistake and _same(table.checks[i], got[i], mistake[i]) for i in indices)


def _same(check, got, mistake) -> bool:
    try:
        return check.compare(got, mistake) is None
    except Exception:
        return False


def load_reference(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
