"""Execute the course's notebooks with papermill and report a table: notebook, status, seconds.

    python -m ci.run_notebooks --mode full            # `make course`: embedded defaults, HTML, the site
    python -m ci.run_notebooks --mode smoke           # `make test`: SMOKE=True, small and fast
    python -m ci.run_notebooks --mode smoke lectures/01_pca_vs_autoencoders.ipynb
    python -m ci.run_notebooks --jobs 1                # one notebook at a time

Runs the lectures and the instructor versions of the exercises (the student releases stop at
their `raise NotImplementedError()` stubs; the grading check runs those). Exits non-zero if any
notebook fails, naming the notebook and the cell. Run times go to <out>/timings.json; in full mode
the static site (ci/build_site.py) is then built into build/site/ from every executed lecture.

Every lecture computes on one CPU thread (its set-up cell says so: small tensors gain nothing from more), so
the notebooks run side by side, one per core (--jobs), the longest first (the previous run's timings.json
says which); each still reports its own wall time. Models they train are saved atomically (write, then
rename), so two notebooks that train the same model never read a half-written file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "build"


@dataclass
class Result:
    notebook: Path
    executed: Path  # where the executed copy was written
    status: str  # 'ok', 'failed' or 'timeout'
    seconds: float
    detail: str = ""


def course_notebooks() -> list[Path]:
    """Every lecture, then every instructor exercise notebook, in order."""
    return sorted((REPO / "lectures").glob("*.ipynb")) + sorted((REPO / "solutions").glob("*/*.ipynb"))


def display_name(path: Path) -> str:
    """The path relative to the repository when it lies inside it."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


PAPERMILL_TAGS = {"injected-parameters", "papermill-error-cell-tag"}  # cells papermill adds to its copy


def first_error(executed: Path) -> str:
    """'cell N (first line): Error: message' for the first cell that raised, N counted from 1 in the source notebook."""
    if not executed.is_file():
        return "no executed notebook was written"
    nb = nbformat.read(executed, as_version=4)
    own_cells = [c for c in nb.cells if not PAPERMILL_TAGS & set(c.metadata.get("tags", []))]
    for number, cell in enumerate(own_cells, start=1):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                first_line = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
                return f"cell {number} ({first_line[:60]!r}): {output.ename}: {output.evalue}"
    return "no cell recorded an error (see papermill's log above)"


def execute(notebook: Path, out_dir: Path, *, smoke: bool, cell_timeout: int, notebook_timeout: int) -> Result:
    """Run one notebook top to bottom in its own folder with papermill, in a child process."""
    executed = out_dir / display_name(notebook).lstrip("/")
    executed.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "papermill", str(notebook), str(executed), "--cwd", str(notebook.parent),
               "--execution-timeout", str(cell_timeout), "--kernel", "python3", "--no-progress-bar", "--log-level", "WARNING"]
    if smoke:
        command += ["-p", "SMOKE", "True"]
    start = time.perf_counter()
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=notebook_timeout)
    except subprocess.TimeoutExpired:
        return Result(notebook, executed, "timeout", time.perf_counter() - start, f"took over {notebook_timeout} s")
    seconds = time.perf_counter() - start
    if run.returncode != 0:
        sys.stderr.write(run.stderr[-4000:])
        return Result(notebook, executed, "failed", seconds, first_error(executed))
    return Result(notebook, executed, "ok", seconds)


def execute_all(notebooks: list[Path], out_dir: Path, *, smoke: bool, jobs: int, cell_timeout: int,
                notebook_timeout: int) -> list[Result]:
    """Run the notebooks, `jobs` at a time, the longest first; the results in the order given."""
    previous = json.loads((out_dir / "timings.json").read_text()) if (out_dir / "timings.json").is_file() else {}
    expected = {n: (previous.get(display_name(n).lstrip("/")) or {}).get("seconds", 0.0) for n in notebooks}
    order = sorted(notebooks, key=lambda n: -expected[n])  # a stable sort: unknown ones keep the given order

    def run(notebook: Path) -> Result:
        print(f"running {display_name(notebook)} ({'smoke' if smoke else 'full'}) ...", flush=True)
        result = execute(notebook, out_dir, smoke=smoke, cell_timeout=cell_timeout, notebook_timeout=notebook_timeout)
        print(f"  {result.status} {display_name(notebook)} in {result.seconds:.1f} s", flush=True)
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:  # threads only wait on papermill's processes
        done = dict(zip(order, pool.map(run, order)))
    return [done[n] for n in notebooks]


def render_html(executed: Path, html_dir: Path) -> Path:
    """An HTML page of the executed notebook, figures embedded."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(embed_images=True).from_notebook_node(nbformat.read(executed, as_version=4))
    target = html_dir / executed.with_suffix(".html").name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(body, encoding="utf-8")
    return target


def print_table(results: list[Result]) -> None:
    width = max(len(display_name(r.notebook)) for r in results)
    print(f"\n{'notebook':<{width}}  {'status':<8} {'seconds':>8}")
    print(f"{'-' * width}  {'-' * 8} {'-' * 8}")
    for r in results:
        print(f"{display_name(r.notebook):<{width}}  {r.status:<8} {r.seconds:8.1f}")
    print(f"{'total':<{width}}  {'':<8} {sum(r.seconds for r in results):8.1f}")
    for r in results:
        if r.status != "ok":
            print(f"\nFAILED {display_name(r.notebook)}: {r.detail}")


def record_timings(results: list[Result], out_dir: Path, mode: str) -> Path:
    """Add this run's status and seconds per notebook to <out_dir>/timings.json (the site shows them)."""
    path = out_dir / "timings.json"
    timings = json.loads(path.read_text()) if path.is_file() else {}
    for r in results:  # keyed like the executed copy inside out_dir: 'lectures/03_cnn_stride_padding.ipynb'
        key = str(r.executed.relative_to(out_dir)) if r.executed.is_relative_to(out_dir) else str(r.executed)
        timings[key] = {"status": r.status, "seconds": round(r.seconds, 1), "mode": mode}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(timings, indent=1, sort_keys=True) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every lecture and solution notebook")
    parser.add_argument("--mode", choices=("full", "smoke"), default="full")
    parser.add_argument("--out", type=Path, help="default: build/executed (full) or build/smoke")
    parser.add_argument("--cell-timeout", type=int, default=600, help="seconds one cell may run")
    parser.add_argument("--notebook-timeout", type=int, default=1200, help="seconds one notebook may run")
    parser.add_argument("--no-html", action="store_true", help="skip the HTML rendering and the site")
    parser.add_argument("--site", type=Path, help="build the static site here (default: build/site in full mode)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="notebooks run side by side (default: one per CPU core)")
    args = parser.parse_args(argv)

    smoke = args.mode == "smoke"
    out_dir = args.out or BUILD / ("smoke" if smoke else "executed")
    notebooks = [p.resolve() for p in args.notebooks] or course_notebooks()
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")

    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    start = time.perf_counter()
    results = execute_all(notebooks, out_dir, smoke=smoke, jobs=args.jobs, cell_timeout=args.cell_timeout,
                          notebook_timeout=args.notebook_timeout)
    wall = time.perf_counter() - start
    if not args.no_html:
        for result in results:
            if result.status == "ok":
                render_html(result.executed, out_dir / "html")
    print_table(results)
    print(f"wall time with {min(args.jobs, len(notebooks))} at a time: {wall:.1f} s")
    record_timings(results, out_dir, args.mode)
    if not args.no_html:
        print(f"\nexecuted notebooks and HTML pages: {display_name(out_dir)}/html/")
    site = args.site or (None if smoke or args.no_html else BUILD / "site")
    if site is not None and (out_dir / "lectures").is_dir():
        from ci.build_site import build_site

        lectures = build_site(out_dir, site)
        print(f"static site ({len(lectures)} lectures, offline): {display_name(site.resolve())}/index.html")
    return 0 if all(r.status == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
