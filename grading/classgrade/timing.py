"""Where one submission's seconds go (opt-in, for benchmarks/grading_throughput.py): timestamps, then phases.

With `autograde(..., timing=True)` each process of a run appends `event time` lines to a file of its run
folder: the worker (`run`, `exited`), nbgrader when it loads its config (`config`), the Execute step
(`execute`, `launch`, `ready`, `answer`, `feedback`, `done`) and the kernel launcher (`sandbox`); stage 2 of the
launcher, inside bubblewrap, writes its own time (`inside`) to a file in the kernel's socket folder. Without
timing nothing is written. `phases()` turns one run's events into the seconds of PHASES. Light on purpose (no
nbgrader): the worker imports it; the Execute step's timestamps are execute.py's TimedExecute.
"""

from __future__ import annotations

import time
from pathlib import Path

PHASES = {  # phase -> the events it lies between (the first found of each tuple)
    "process start": (("run",), ("config",)),  # the interpreter and nbgrader's imports (the supervisor's too)
    "nbgrader start-up": (("config",), ("launch",)),  # config, gradebook, copying, sanitising, converting
    "sandbox": (("launch",), ("inside", "sandbox")),  # stage 1, bubblewrap, stage 2 (see sandbox.py)
    "kernel start": (("inside", "sandbox", "launch"), ("ready",)),  # ipykernel's start, until it answers
    "imports": (("ready",), ("answer", "done")),  # the cells before the first answer cell (imports, set-up)
    "executing cells": (("answer", "ready"), ("feedback", "done")),  # as released, with the probe cell
    "hidden tests": (("feedback",), ("done",)),  # the test cells that hide tests, again, in full
    "writing results": (("done",), ("exited",)),  # nbgrader's other steps, the notebook, its gradebook
}


def mark(path: str | Path | None, event: str) -> None:
    """Append `event time` to `path` (nothing when path is empty)."""
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{event} {time.time():.6f}\n")


def events(path: Path, inside: Path | None = None) -> dict[str, float]:
    """event -> its first time, from a run's file (and the launcher's stage-2 file, written in the sandbox)."""
    found: dict[str, float] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    if inside is not None and inside.is_file() and not inside.is_symlink() and inside.stat().st_size < 100:
        lines.append(f"inside {inside.read_text(encoding='utf-8', errors='replace').strip()}")
    for line in lines:
        event, _, value = line.partition(" ")
        try:
            found.setdefault(event, float(value))
        except ValueError:
            continue
    return found


def phases(found: dict[str, float]) -> dict[str, float]:
    """PHASES' seconds for one run's events; a phase whose events are missing is left out."""
    seconds = {}
    for phase, (starts, ends) in PHASES.items():
        start = next((found[e] for e in starts if e in found), None)
        end = next((found[e] for e in ends if e in found), None)
        if start is not None and end is not None:
            seconds[phase] = round(max(end - start, 0.0), 3)
    return seconds
