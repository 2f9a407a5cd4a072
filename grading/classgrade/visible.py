"""The feedback run: the student's notebook with the release's test cells (visible tests only), in the sandbox.

nbgrader grades with the hidden tests restored, and student code runs in that kernel: it can read them (a
pre_run_cell hook, `In`, the cell being run) and print them in any encoding, which no scrubber recognises.
So the notebook a student gets back as feedback comes from a second run in which the hidden tests never
existed: every test and locked cell has the release's source (what the student's own *Validate* ran),
the student's cells are theirs. Points per part come from the gradebook when nbgrader renders it.

    python -m classgrade.visible SPEC.json      (under classgrade.supervise, like `nbgrader autograde`)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def visible_notebook(submitted: dict, release: dict) -> dict:
    """`submitted` with each locked or test cell's source replaced by the release's cell of the same grade id."""
    sources = {}
    for cell in release.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade_id") and not meta.get("solution"):
            sources[meta["grade_id"]] = cell["source"]
    for cell in submitted.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {}) if isinstance(cell, dict) else {}
        if isinstance(meta, dict) and meta.get("grade_id") in sources and not meta.get("solution"):
            cell["source"] = sources[meta["grade_id"]]
            if cell.get("cell_type") == "code":
                cell["outputs"] = []
    return submitted


def run(spec: dict) -> None:
    """Execute spec['notebook'] in the sandbox kernel; write it, outputs capped, to spec['out']."""
    import nbformat
    from jupyter_client.manager import AsyncKernelManager

    from classgrade.execute import SandboxExecute
    from classgrade.timing import mark

    mark(spec.get("timing_file"), "config")  # the interpreter and its imports: as nbgrader's config (worker.py)
    nb = nbformat.reads(Path(spec["notebook"]).read_text(encoding="utf-8"), as_version=4)
    km = AsyncKernelManager(kernel_name=spec["kernel"], transport="ipc", ip=spec["ip"])
    execute = SandboxExecute(timeout=spec["cell_timeout"], kernel_name=spec["kernel"], startup_timeout=60,
                             max_output_bytes=spec["output_bytes"], skip_cells=spec.get("skip_cells", []),
                             crash_file=spec.get("crash_file", ""), timing_file=spec.get("timing_file", ""),
                             allow_errors=True)
    try:
        execute.preprocess(nb, {"metadata": {"path": spec["cwd"]}}, km=km)
    finally:
        Path(spec["out"]).write_text(nbformat.writes(nb), encoding="utf-8")


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        run(json.load(f))
