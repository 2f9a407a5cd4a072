"""Text from a submission made safe for a terminal, a log, a CSV or the summary.

Student code controls what its kernel prints, what nbgrader logs about it, and the names in an LMS zip.
Before any of it reaches the instructor: terminal escape sequences and control characters are removed,
newlines folded to ' / ' where one line is expected, and the length capped with a visible note.
"""

from __future__ import annotations

import re
import unicodedata

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), other two-byte ESC sequences, and their 8-bit forms
ESCAPES = re.compile(r"(\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|(\x1b\]|\x9d).*?(\x07|\x1b\\|\x9c)|\x1b[@-Z\\-_]", re.S)


def _kept(ch: str, one_line: bool) -> str:
    if ch in "\n\r":
        return " / " if one_line else ("\n" if ch == "\n" else "")
    if ch == "\t" or unicodedata.category(ch)[0] != "C":  # C*: control, format, surrogate, unassigned
        return ch
    return ""


def clean(text: object, limit: int = 2000, one_line: bool = True) -> str:
    """`text` without escapes or control characters (tabs kept), capped at `limit` characters."""
    text = "".join(_kept(ch, one_line) for ch in ESCAPES.sub("", str(text)))
    if one_line:
        text = re.sub(r"^( / )+|( / )+$", "", re.sub(r"( / )+", " / ", text))
    if len(text) > limit:
        text = text[:limit] + f" [... {len(text) - limit} more characters not shown]"
    return text
