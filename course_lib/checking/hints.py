"""Hints for a failed test cell, in the student's own kernel: 'this looks like a classic mistake: ...'.

An exercise folder ships `hints.json`, written from the exercise's check table by `python -m classgrade.hints`:
for each test cell (by a digest of its source, as the release shows it) the checks of its part and a seed,
and for each classic mistake of that part a fingerprint of what the mistake returns on those inputs. It holds
no expected value and nothing of the solution: fingerprints of wrong answers only. The exercise's setup cell
calls `explain_failures()`; when a test cell then fails with an AssertionError (in Jupyter, or when nbgrader's
*Validate* runs the notebook), the part's checks run on the student's functions, and if every fingerprint
equals one mistake's, that mistake's sentence is added to the error message. A hint is a hint: points come
from the grader's trusted checker, which makes the same diagnosis in the feedback.
"""

import hashlib
import json
from pathlib import Path

from course_lib.checking.probe import run_checks

FILE = "hints.json"
_registered = {}  # shell -> the pre_run_cell callback explain_failures() registered on it


def digest(text: str) -> str:
    return hashlib.sha256(text.strip().encode()).hexdigest()[:16]


def _rounded(encoded):
    """An encoded result with its numbers rounded to 4 significant digits (a tensor's values below a millionth
    of its largest are 0), so that the same mistake made another way still matches."""
    if isinstance(encoded, list):
        return [_rounded(item) for item in encoded]
    if not isinstance(encoded, dict):
        return encoded
    if "tensor" in encoded:
        numbers = [abs(x) for x in encoded["data"] if type(x) in (int, float)]
        scale = max(numbers, default=0) or 1
        data = [(float(f"{x:.4g}") if abs(x) > 1e-6 * scale else 0.0) + 0.0 if type(x) is float else x
                for x in encoded["data"]]
        return {**encoded, "data": data}
    if type(encoded.get("n")) is float:
        return {**encoded, "n": float(f"{encoded['n']:.4g}") + 0.0}
    return {key: _rounded(value) for key, value in encoded.items()}


def fingerprint(record: dict) -> str:
    """What a probe record returned (or raised), rounded, and its inputs' digests, as a short digest."""
    what = {"raised": record["raised"]} if "raised" in record else \
        {"value": _rounded(record.get("value")), "inputs": record.get("inputs", {})}  # changed in place?
    return digest(json.dumps(what, sort_keys=True))


def hint(hints: dict, part: str, namespace: dict) -> str | None:
    """The diagnosis of the classic mistake whose results the namespace's functions reproduce, if any."""
    checks = [check for check in hints["checks"] if check["part"] == part]
    records: list = []
    run_checks(checks, hints["seed"], namespace, emit=records.append)
    got = {str(record["check"]): fingerprint(record) for record in records}
    for mistake in hints["mistakes"]:
        if part in mistake["parts"] and all(got.get(str(c["id"])) == mistake["fingerprints"].get(str(c["id"]))
                                            for c in checks):
            return mistake["diagnosis"]
    return None


def explain_failures(path: str = FILE) -> None:
    """Add classic-mistake hints to failing test cells of this notebook (a no-op outside IPython or without
    the hints file). Registers one pre_run_cell callback and an AssertionError handler on the running shell."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        hints = json.loads(Path(path).read_text(encoding="utf-8"))
    except (ImportError, OSError, ValueError):
        return
    if shell is None:
        return
    current = {"part": None}

    def remember(info):
        current["part"] = hints["cells"].get(digest(info.raw_cell or ""))

    def explain(shell, etype, value, tb, tb_offset=None):
        found = None
        if current["part"] and etype is AssertionError:
            try:
                found = hint(hints, current["part"], shell.user_ns)
            except Exception:  # a hint never hides the student's own error
                found = None
        if found:
            value = AssertionError(f"{value}\n\nHint: this looks like a classic mistake. {found}")
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)

    if shell in _registered:
        shell.events.unregister("pre_run_cell", _registered[shell])
    shell.events.register("pre_run_cell", remember)
    _registered[shell] = remember
    shell.set_custom_exc((AssertionError,), explain)
