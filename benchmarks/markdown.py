"""A Markdown table from rows of strings (numbers right-aligned), for build/bench.md."""

from __future__ import annotations

import re

_NUMBER = re.compile(r"^\**[-+]?[\d.,]+( ?[%x])?\**$")


def table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """Lines of a Markdown table; a column whose cells are all numbers is right-aligned."""
    if any(len(row) != len(headers) for row in rows):
        raise ValueError(f"Every row needs {len(headers)} cells: {headers}.")
    numeric = [bool(rows) and all(_NUMBER.match(row[i]) for row in rows) for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]
