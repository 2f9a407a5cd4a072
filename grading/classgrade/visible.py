"""The notebook a student gets back as feedback: their cells and the release's test cells (visible tests only).

nbgrader grades with the hidden tests restored, and student code runs in that kernel: it can read them (a
pre_run_cell hook, `In`, the cell being run) and print them in any encoding, which no scrubber recognises.
So the feedback notebook is executed before the hidden tests exist in the kernel (execute.py runs it first,
in the grading run's kernel): every locked and test cell has the release's source (what the student's own
*Validate* ran), the student's cells are theirs. Points per part come from the gradebook when nbgrader renders it.
"""

from __future__ import annotations

PROBE_CELL = "classgrade_probe"  # the metadata key marking the grader's cell (trusted.probe_cell; never a student's)


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else source


def released_sources(release: dict) -> dict[str, str]:
    """grade id -> source of every locked or test cell of the release notebook."""
    sources = {}
    for cell in release.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade_id") and not meta.get("solution"):
            sources[meta["grade_id"]] = _text(cell["source"])
    return sources


def as_released(nb: dict, sources: dict[str, str]) -> dict[int, str]:
    """Give each locked or test cell of `nb` the release's source (`sources`, by grade id), in place, and take
    the probe's mark off every cell; return index -> the source put aside, for the cells where it differed."""
    hidden = {}
    for index, cell in enumerate(nb.get("cells", [])):
        if not isinstance(cell, dict) or not isinstance(cell.get("metadata"), dict):
            continue
        cell["metadata"].pop(PROBE_CELL, None)
        meta = cell["metadata"].get("nbgrader", {})
        if not isinstance(meta, dict) or meta.get("solution") or meta.get("grade_id") not in sources:
            continue
        if sources[meta["grade_id"]] != _text(cell.get("source", "")):
            hidden[index] = cell.get("source", "")
            cell["source"] = sources[meta["grade_id"]]
    return hidden
