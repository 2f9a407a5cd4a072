"""The probe: calls the notebook's functions on a check table's inputs and emits the results as plain data.

It runs in two places with the same code. In the student's sandboxed kernel, after their notebook, as one cell
the grader appends (this file's source, then one call): every result goes out as a display message of its own
MIME type, so results already sent survive a later timeout. In the trusted reference process, on the
instructor's solution and on each classic mistake. It compares nothing and knows no expected value: the
trusted side (classgrade.trusted) decodes the records strictly and compares them. Only the standard library
at import time: the student's kernel may have replaced anything else, which at worst spoils their own results.
"""

import hashlib
import json

MIME = "application/vnd.classgrade.probe+json"
MAX_NUMBERS = 1_000_000  # per result: a check's outputs are small; a huge one is refused, not sent


def _encode(value, budget):
    """Plain JSON for a result: exact types only (a subclass, a mock or a lazy object is 'unsupported')."""
    kind = type(value)
    if value is None or kind in (bool, str):
        return {"v": value}
    if kind in (int, float):
        return {"n": value if value == value and abs(value) != float("inf") else repr(value), "int": kind is int}
    if kind in (tuple, list):
        return {"list": [_encode(item, budget) for item in value]}
    if kind in (set, frozenset):
        items = [_encode(item, budget) for item in value]
        return {"set": sorted(items, key=repr)}
    if kind is dict:
        return {"dict": {str(key): _encode(item, budget) for key, item in value.items() if type(key) is str}}
    module = getattr(kind, "__module__", "")
    if module == "numpy" and kind.__name__.startswith(("float", "int", "uint", "bool")):  # a numpy scalar
        return _encode(value.item(), budget)
    if kind.__name__ == "Tensor" and module == "torch":
        value = value.detach().cpu()
        dtype, numbers = str(value.dtype).replace("torch.", ""), value.flatten().tolist()
    elif kind.__name__ == "ndarray" and module == "numpy":
        dtype, numbers = str(value.dtype), value.ravel().tolist()
    else:
        return {"unsupported": f"{module}.{kind.__name__}"}
    budget[0] -= len(numbers)
    if budget[0] < 0:
        return {"unsupported": "a result over a million numbers"}
    numbers = [x if x == x and abs(x) != float("inf") else repr(float(x)) for x in numbers]
    return {"tensor": dtype, "shape": list(value.shape), "data": numbers}


def outcome(function, *args, **kwargs):
    """The function's result, or {'raised': name of the exception} (for checks over many inputs)."""
    try:
        return function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001
        return {"raised": type(error).__name__}


def _inputs(scope, namespace, budget):
    """What `given` made (names it bound), as it is after the call: a digest of each, which the trusted side
    compares with the reference's (an input changed in place, or made differently, does not match)."""
    made = {}
    for name, value in scope.items():
        if name in ("SEED", "outcome") or name.startswith("__") or (name in namespace and namespace[name] is value):
            continue
        text = json.dumps(_encode(value, budget), sort_keys=True)
        if '"unsupported"' not in text:  # plain all the way down
            made[name] = hashlib.sha256(text.encode()).hexdigest()
    return made


def run_checks(checks, seed, namespace, emit=None):
    """For each check: run its `given` code (inputs from `seed`), evaluate its `call`, emit one record
    with the result and the inputs as they are after the call (changed in place: the trusted side sees it)."""
    if emit is None:
        from IPython.display import display

        def emit(record):
            display({MIME: record}, raw=True)

    for check in checks:
        scope = dict(namespace)
        scope["SEED"], scope["outcome"] = seed + check["id"], outcome
        try:
            exec(check["given"], scope)
            value = eval(check["call"], scope)
            budget = [MAX_NUMBERS]
            record = {"check": check["id"], "value": _encode(value, budget), "inputs": _inputs(scope, namespace, budget)}
        except BaseException as error:  # noqa: BLE001 (a KeyboardInterrupt is the cell timeout: stop)
            if type(error).__name__ == "KeyboardInterrupt":
                raise
            record = {"check": check["id"], "raised": type(error).__name__, "message": str(error)[:500]}
        emit(record)
