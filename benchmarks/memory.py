"""Peak resident memory (RSS) of each lecture's kernel in full and smoke mode, and of training each model.

    python -m benchmarks.memory                                    # every lecture, full and smoke mode
    python -m benchmarks.memory --notebooks lectures/06_stable_diffusion.ipynb --modes full
    python -m benchmarks.memory --notebooks --models vae mini-clip   # only these models' training
    python -m benchmarks.memory --models                           # every lecture, then every model's training

A notebook runs as ci.run_notebooks runs it (papermill, SMOKE=True in smoke mode), with an empty model cache, but
its kernel is started through PEAK_WRAPPER (a `python3` kernelspec put first on JUPYTER_PATH), a small process that
starts the kernel, waits for it with os.wait4 and writes the kernel's ru_maxrss to a file: the kernel's own peak
(and of the processes it started), never papermill's. A model trains in a fresh process through the same wrapper
(benchmarks.models.time_training: what it builds on loaded from the shipped checkpoints, an empty
COURSE_CACHE_DIR). os.wait4 exists on Linux and macOS, not on Windows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from benchmarks.markdown import table

REPO = Path(__file__).resolve().parent.parent
MEMORY_BUDGET_MIB = 2048  # every lecture in full mode: Binder gives a user 2 GB
MODES = ("full", "smoke")
# Runs a command and writes its peak RSS to a file; argv: [peak file, command...]. It is small on purpose: a child's
# ru_maxrss starts from its parent's RSS when it was forked. As a kernel's parent it ignores SIGINT and SIGTERM:
# jupyter_client sends them to the kernel's whole process group (an interrupt; a kernel slow to shut down).
PEAK_WRAPPER = ("import os, signal, subprocess, sys\n"
                "child = subprocess.Popen(sys.argv[2:])\n"
                "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                "_, status, usage = os.wait4(child.pid, 0)\n"
                "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
                "sys.exit(os.waitstatus_to_exitcode(status))\n")
TRAIN = ("import sys, torch\n"  # one thread, as `python -m course_lib.recipes train` and the models section
         "from benchmarks.models import time_training\n"
         "from course_lib.recipes.registry import entry\n"
         "torch.set_num_threads(1)\n"
         "time_training(entry(sys.argv[1]), 'cpu')\n")


def to_mib(ru_maxrss: int) -> float:
    """ru_maxrss in MiB: Linux counts it in KiB, macOS in bytes."""
    return ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)


@contextmanager
def environment(**values: str):
    """Set these environment variables (which child processes inherit) for the block, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


def peak_wrapped(command: list[str], peak: Path) -> list[str]:
    """`command` run by PEAK_WRAPPER, which writes its peak RSS (ru_maxrss) into the file `peak`."""
    return [sys.executable, "-c", PEAK_WRAPPER, str(peak), *command]


def child_peak_mib(command: list[str], **run: object) -> float:
    """Run `command` (with subprocess.run's keyword arguments) and return its peak RSS in MiB; raise if it fails."""
    with tempfile.TemporaryDirectory(prefix="memory-") as tmp:
        peak = Path(tmp) / "peak"
        returncode = subprocess.run(peak_wrapped(command, peak), **run).returncode
        if returncode != 0:
            raise RuntimeError(f"{' '.join(command)[:80]} failed (exit status {returncode}; see its output above)")
        return to_mib(int(peak.read_text()))


def notebook_peak_mib(notebook: Path, mode: str, out: Path) -> float:
    """Peak RSS (MiB) of the notebook's kernel, run in `mode` ('full' or 'smoke') with an empty model cache; the
    executed copy goes under out/mode/. Raises RuntimeError, naming the cell, if the notebook fails."""
    from ci.run_notebooks import display_name, execute

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    with tempfile.TemporaryDirectory(prefix="memory-") as tmp:
        jupyter, peak = Path(tmp) / "jupyter", Path(tmp) / "kernel-peak"
        spec = jupyter / "kernels" / "python3"
        spec.mkdir(parents=True)
        argv = peak_wrapped([sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"], peak)
        (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Python 3 (peak RSS)",
                                                      "language": "python"}))
        search = os.pathsep.join(filter(None, [str(jupyter), os.environ.get("JUPYTER_PATH")]))
        with environment(JUPYTER_PATH=search, COURSE_CACHE_DIR=str(Path(tmp) / "cache")):
            result = execute(notebook, out / mode, smoke=mode == "smoke", cell_timeout=900, notebook_timeout=1800)
        if result.status != "ok":
            raise RuntimeError(f"{display_name(notebook)} ({mode}): {result.status}: {result.detail}")
        if not peak.is_file():
            raise RuntimeError(f"{display_name(notebook)} ({mode}): the kernel's peak was not recorded "
                               "(was it killed?)")
        return to_mib(int(peak.read_text()))


def training_peak_mib(name: str) -> float:
    """Peak RSS (MiB) of a fresh process that trains the registry's recipe `name` from scratch on the CPU."""
    from course_lib.recipes.registry import entry

    entry(name)  # an unknown name fails here, with the registry's message
    with tempfile.TemporaryDirectory(prefix="memory-cache-") as cache:
        return child_peak_mib([sys.executable, "-c", TRAIN, name], cwd=REPO,
                              env={**os.environ, "COURSE_CACHE_DIR": cache})


def memory_budget_failures(full: dict[str, float]) -> list[str]:
    """The lectures whose kernel peaks (MiB, by notebook name) in full mode break MEMORY_BUDGET_MIB, as sentences."""
    return [f"{name}, full mode: {mib:.0f} MiB > {MEMORY_BUDGET_MIB} MiB" for name, mib in full.items()
            if name.startswith("lectures/") and mib > MEMORY_BUDGET_MIB]


def lectures() -> list[Path]:
    from ci.run_notebooks import course_notebooks

    return [p for p in course_notebooks() if p.parent.name == "lectures"]


def measure(notebooks: list[Path], modes: list[str], models: list[str], out: Path) -> tuple[list[str], list[str]]:
    """Markdown tables of the peaks (notebook x mode, then model), and the broken budgets."""
    from ci.run_notebooks import display_name

    peaks: dict[str, dict[str, float]] = {mode: {} for mode in modes}
    for notebook in notebooks:
        for mode in modes:
            peaks[mode][display_name(notebook)] = mib = notebook_peak_mib(notebook, mode, out)
            print(f"  {mode:>5} {display_name(notebook):<50} {mib:7.0f} MiB", flush=True)
    lines: list[str] = []
    if notebooks and modes:
        rows = [[display_name(n)] + [f"{peaks[mode][display_name(n)]:.0f}" for mode in modes] for n in notebooks]
        lines += table(["notebook"] + [f"{mode} (MiB)" for mode in modes], rows)
    failures = memory_budget_failures(peaks.get("full", {}))
    if "full" in peaks and notebooks:
        lines += ["", f"Budget: every lecture in full mode under {MEMORY_BUDGET_MIB} MiB (Binder's 2 GB): "
                  + ("**kept**." if not failures else "**broken**: " + "; ".join(failures) + ".")]
    if models:
        from course_lib.recipes.registry import entry

        rows = []
        for name in models:
            mib = training_peak_mib(name)
            print(f"  train {name:<50} {mib:7.0f} MiB", flush=True)
            rows.append([str(entry(name).lecture), name, f"{mib:.0f}"])
        lines += ([""] if lines else []) + table(["lecture", "model", "training peak (MiB)"], rows)
    return lines, failures


def memory_section(train: bool, out: Path) -> tuple[list[str], list[str]]:
    """For `make bench`: every lecture in both modes and, with `train`, every model's training; lines, failures."""
    from benchmarks.models import course_models

    lines, failures = measure(lectures(), list(MODES), [e.name for e in course_models()] if train else [], out)
    return ["## Memory (peak resident memory in MiB: a lecture's kernel, empty model cache; a model's training "
            "in a fresh process)", ""] + lines, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notebooks", nargs="*", type=Path, help="default: every lecture; none when given empty")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--models", nargs="*", help="registry names to train (given empty: every model)")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "memory", help="the executed notebooks")
    args = parser.parse_args(argv)
    notebooks = lectures() if args.notebooks is None else [p.resolve() for p in args.notebooks]
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        parser.error(f"--notebooks: no such notebook: {', '.join(missing)}")
    from benchmarks.models import course_models

    models = [] if args.models is None else args.models or [e.name for e in course_models()]
    lines, failures = measure(notebooks, args.modes, models, args.out)
    print("\n" + "\n".join(lines))
    for failure in failures:
        print(f"BUDGET BROKEN: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
