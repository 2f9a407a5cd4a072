"""Give each lecture its install cell and every cell a slide type (`metadata.slideshow.slide_type`: RISE, reveal.js).

    python -m ci.slides            # write: the install cell first, then every cell's slide type
    python -m ci.slides --check    # exit 1 naming the lectures whose cells differ (the tests run this)

The types follow from the cells' text alone, so a rerun changes nothing:
- the title (`# `) and every section (`## `) start a slide; a `### ` heading starts a sub-slide;
- the install, parameters and set-up code cells, and a cell that only prints a model's layers, are skipped on slides;
- `> **Question.**` cells appear as a fragment under the content they ask about; in a quiz, each numbered question
  (`**1. ...**`) starts a sub-slide and its answer (`<details>`) appears as a fragment;
- a code cell after a long paragraph of prose, or a cell that would push its slide past MAX_LINES, starts a
  sub-slide; every other cell continues the slide ("-").
Only `metadata.slideshow` (and the install cell) change; the rest of each notebook stays byte for byte.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from ci.install_cell import CELL_ID, install_cell_source

REPO = Path(__file__).resolve().parent.parent
SLIDE_TYPES = ("slide", "subslide", "fragment", "-", "skip", "notes")
MAX_LINES = 40  # source lines (markdown + code) on one slide or sub-slide
MAX_MARKDOWN_LINES = 25  # a longer markdown cell is split in the notebook (tests/test_slides.py checks)
LONG_PROSE = 15  # a code cell after a markdown cell this long starts a sub-slide
# a code cell that only prints a model (a listing of its layers, often 40 lines and more): skipped on slides
QUIZ_QUESTION = re.compile(r"\*\*\d+\. ")
LONG_PRINTOUT = re.compile(r"print\([\w.]*(model|unet|net)\)\s*")


def lectures() -> list[Path]:
    """Every lecture notebook, in order."""
    return sorted((REPO / "lectures").glob("*.ipynb"))


def text(cell: dict) -> str:
    """A cell's source as one string."""
    return "".join(cell["source"])


def slide_types(cells: list[dict]) -> list[str]:
    """The slide type of each cell, from the cells' text alone."""
    params = next(i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", []))
    setup = next((i for i, c in enumerate(cells) if text(c).startswith("## Set-up")), len(cells))
    setup_code = next((i for i in range(setup + 1, len(cells)) if cells[i]["cell_type"] == "code"), None)
    types, lines, previous = [], 0, None  # lines so far on the current (sub-)slide; previous shown cell
    for i, cell in enumerate(cells):
        source, code = text(cell), cell["cell_type"] == "code"
        n = len(source.splitlines())
        if (code and i <= params) or i == setup_code or source.startswith("**Parameters.**") \
                or (i == params + 1 and source.startswith("if SMOKE")) or (code and LONG_PRINTOUT.fullmatch(source)):
            types.append("skip")
            continue
        if not code and (source.startswith("# ") or source.startswith("## ")):
            kind = "slide"
        elif not code and source.startswith("### "):
            kind = "subslide"
        elif not code and QUIZ_QUESTION.match(source):  # a new sub-slide, unless right under its heading
            kind = "-" if previous is not None and text(previous).startswith("#") else "subslide"
        elif lines and lines + n > MAX_LINES:
            kind = "subslide"
        elif code and previous is not None and previous["cell_type"] == "markdown" \
                and len(text(previous).splitlines()) >= LONG_PROSE:
            kind = "subslide"
        elif not code and (source.startswith("> **Question.**") or source.startswith("<details>")):
            kind = "fragment"
        else:
            kind = "-"
        lines = n if kind in ("slide", "subslide") else lines + n
        types.append(kind)
        previous = cell
    return types


def with_install_cell(cells: list[dict]) -> list[dict]:
    """The cells with the install cell as the first code cell (inserted after the title, or brought up to date)."""
    cells = [dict(c) for c in cells]
    cell = {"cell_type": "code", "execution_count": None, "id": CELL_ID, "metadata": {}, "outputs": [],
            "source": install_cell_source().splitlines(keepends=True)}
    if not any("id" in c for c in cells):
        del cell["id"]
    existing = next((i for i, c in enumerate(cells) if c.get("id") == CELL_ID
                     or (c["cell_type"] == "code" and text(c) == install_cell_source())), None)
    if existing is None:
        first_code = next(i for i, c in enumerate(cells) if c["cell_type"] == "code")
        cells.insert(min(1, first_code), cell)
    else:
        cells[existing] = {**cells[existing], "source": cell["source"]}
    return cells


def updated(nb: dict) -> dict:
    """The notebook with its install cell and every cell's slide type."""
    cells = with_install_cell(nb["cells"])
    for cell, kind in zip(cells, slide_types(cells)):
        cell["metadata"] = {**cell.get("metadata", {}), "slideshow": {"slide_type": kind}}
    return {**nb, "cells": cells}


def dumps(nb: dict) -> str:
    """The notebook as the course writes it."""
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every lecture")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook is out of date")
    args = parser.parse_args(argv)
    stale = []
    for path in args.notebooks or lectures():
        old = path.read_text(encoding="utf-8")
        new = dumps(updated(json.loads(old)))
        if new != old:
            stale.append(path)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    for path in stale:
        print(f"{'out of date' if args.check else 'updated'}: {path}")
    if args.check and stale:
        print("run `python -m ci.slides` to update them")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
