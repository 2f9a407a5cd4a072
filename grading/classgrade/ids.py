"""Student ids: a name from an LMS (or a folder in grading/submitted/) -> an id nbgrader can always use.

An id becomes a folder name and the pattern of `nbgrader autograde --student=ID` (a glob), so only letters,
digits (any script: 'José', '名前') and `._-@+` are kept; inner whitespace becomes '_'. Anything else is
refused with the reason, never silently rewritten: two students must not end up with the same id.
"""

from __future__ import annotations

import unicodedata

PUNCTUATION = "._-@+"
MAX_LENGTH = 100


def shown(ch: str) -> str:
    """A character as a terminal can show it safely: repr escapes the invisible ones."""
    return f"{ch!r} (U+{ord(ch):04X})"


def _char_problem(ch: str) -> str | None:
    category = unicodedata.category(ch)
    if category[0] in "LM" or category == "Nd" or ch in PUNCTUATION:  # letters, their accents, digits
        return None
    if category == "Cc":
        return f"{shown(ch)} is a control character"
    if ch in "/\\":
        return f"{shown(ch)} is a path separator"
    if ch in "*?[]":
        return f"{shown(ch)} is a glob character (nbgrader's --student is a pattern)"
    return f"{shown(ch)} is not a letter, a digit or one of {PUNCTUATION}"


def student_id(raw: str) -> str:
    """The id for `raw`; ValueError with a one-line reason when it cannot be one."""
    name = unicodedata.normalize("NFC", raw)
    control = next((ch for ch in name if unicodedata.category(ch) == "Cc"), None)
    if control is not None:  # before stripping: 'jdoe\n' is refused, not trimmed
        raise ValueError(_char_problem(control))
    name = "_".join(name.split())  # strip, and each inner run of whitespace -> '_'
    if not name:
        raise ValueError("the name is empty")
    bad = next((p for p in map(_char_problem, name) if p), None)
    if bad:
        raise ValueError(bad)
    if name.startswith("."):
        raise ValueError("names starting with '.' ('.', '..', '.name') are reserved for the grader's files")
    if len(name) > MAX_LENGTH:
        raise ValueError(f"the name is longer than {MAX_LENGTH} characters ({len(name)})")
    return name


def id_problem(raw: str) -> str | None:
    """Why `raw` is not a usable id as it stands (None: it is one), e.g. to skip folders in grading/submitted/."""
    try:
        return None if student_id(raw) == raw else f"not an id as written (the id would be {student_id(raw)!r})"
    except ValueError as refused:
        return str(refused)
