"""What an exercise's check table is made of (grading/checks/<assignment>.py), and the usual comparisons.

A table lists, per graded part (the grade_id of its test cell):
- `Check`s: code that makes inputs from a fresh SEED, and an expression calling the student's functions. The
  probe (course_lib/checking/probe.py) runs both in the student's sandboxed kernel and in the trusted reference process on the
  solution; a comparison (below, trusted) decides whether the student's result is right.
- `Mistake`s: the classic mistakes (an edit of the solution's answer cell) and the parts each one breaks;
  a wrong result equal to a mistake's result on the same inputs is diagnosed with its sentence.
- `Forbid`: names a part's answer must not use (e.g. `F.conv2d`), read from the source by the trusted side
  (rules.py), not patched at run time where student code could sidestep it.
A comparison takes (got, want), decoded values (trusted.decode), and returns None when right, else why not.
In the reference run the setup cells run once and each variant (solution, mistakes) on a copy of that
namespace: a check must not rely on a setup helper that patches `globals()` (it would patch the original).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch


@dataclass(frozen=True)
class Raised:
    """The call raised this exception (its type name and message)."""
    name: str
    message: str = ""


@dataclass(frozen=True)
class Unsupported:
    """The call returned an object that is not plain data (a mock, a subclass, a custom class)."""
    kind: str


Compare = Callable[[object, object], "str | None"]


def _describe(value) -> str:
    if isinstance(value, Raised):
        return f"raised {value.name}" + (f": {value.message}" if value.message else "")
    if isinstance(value, Unsupported):
        return f"returned a {value.kind}, not plain data (a tensor, a number, a string, a tuple of them)"
    if isinstance(value, torch.Tensor):
        return f"returned a tensor of shape {tuple(value.shape)}"
    return f"returned a {type(value).__name__}"


def close(atol: float = 1e-5, rtol: float = 0.0, exact_dtype: bool = False) -> Compare:
    """Same structure, same shapes and kinds of numbers, values within atol + rtol * |want|."""

    def compare(got, want, where: str = "") -> str | None:
        at = f"{where}: " if where else ""
        if isinstance(want, Raised):
            if isinstance(got, Raised) and got.name == want.name:
                return None
            return f"{at}should raise {want.name}, but {_describe(got)}"
        if isinstance(got, (Raised, Unsupported)):
            return at + _describe(got)
        if isinstance(want, torch.Tensor):
            if not isinstance(got, torch.Tensor):
                return f"{at}expected a tensor, but {_describe(got)}"
            if tuple(got.shape) != tuple(want.shape):
                return f"{at}shape {tuple(got.shape)}, expected {tuple(want.shape)}"
            kind = lambda t: "bool" if t.dtype == torch.bool else "floating" if t.is_floating_point() else "integer"  # noqa: E731
            if kind(got) != kind(want) or (exact_dtype and got.dtype != want.dtype):
                return f"{at}dtype {got.dtype}, expected {want.dtype if exact_dtype else kind(want) + ' numbers'}"
            g, w = got.double(), want.double()
            if not torch.equal(g.isnan(), w.isnan()):
                return f"{at}NaN where the solution has none (or the other way round)"
            g, w = g.nan_to_num(0.0), w.nan_to_num(0.0)
            if g.numel() and not torch.all((g - w).abs() <= atol + rtol * w.abs()):
                return f"{at}values differ from the solution's by up to {(g - w).abs().max().item():.3g}"
            return None
        if isinstance(want, bool) or want is None or isinstance(want, str):
            return None if type(got) is type(want) and got == want else f"{at}{got!r}, expected {want!r}"
        if isinstance(want, int):
            return None if type(got) is int and got == want else f"{at}{got!r}, expected the int {want}"
        if isinstance(want, float):
            if type(got) not in (int, float):
                return f"{at}expected a number, but {_describe(got)}"
            return None if abs(got - want) <= atol + rtol * abs(want) else f"{at}{got:.6g}, expected {want:.6g}"
        if isinstance(want, frozenset):
            return None if got == want else f"{at}{sorted(got) if isinstance(got, frozenset) else got!r} is not right"
        if isinstance(want, tuple):
            if not isinstance(got, tuple) or len(got) != len(want):
                return f"{at}expected {len(want)} results, but {_describe(got)}" + \
                       (f" of length {len(got)}" if isinstance(got, tuple) else "")
            for i, (g, w) in enumerate(zip(got, want)):
                why = compare(g, w, f"{where}[{i}]")
                if why:
                    return why
            return None
        if isinstance(want, dict):
            if not isinstance(got, dict) or set(got) != set(want):
                return f"{at}expected a dict with keys {sorted(want)}"
            return next(filter(None, (compare(got[k], want[k], f"{where}[{k!r}]") for k in sorted(want))), None)
        return f"{at}cannot compare a {type(want).__name__}"

    return compare


equal = close(0.0, 0.0, exact_dtype=True)


@dataclass(frozen=True)
class Check:
    part: str  # the grade_id of the test cell whose points this check decides
    what: str  # shown to the student when it fails: "conv2d, kernel 2x4, stride 3, padding 2"
    call: str  # an expression, evaluated in the notebook's namespace after `given`
    given: str = ""  # code run first, in a copy of the namespace; SEED is a fresh int; makes the inputs
    compare: Compare = field(default=close(), compare=False)


@dataclass(frozen=True)
class Mistake:
    cell: str  # the grade_id of the answer cell
    edits: tuple[tuple[str, str], ...]  # (text of the solution, the mistake), each occurring once in that cell
    parts: frozenset[str]  # the test cells it breaks (the others still earn their points)
    diagnosis: str  # a sentence a student understands: what they did and what to do instead


@dataclass(frozen=True)
class Forbid:
    part: str
    names: tuple[str, ...]  # attribute or imported names: F.conv2d, torch.conv2d, from ... import conv2d
    cell: str  # the answer cell it applies to (and every answer cell that one uses); scratch cells are free
    why: str  # "part 2 is the loop version: no F.conv2d"


@dataclass
class Table:
    assignment: str
    checks: list[Check]
    mistakes: dict[str, Mistake] = field(default_factory=dict)
    forbid: list[Forbid] = field(default_factory=list)
    needs: tuple[str, ...] = ()  # cells besides parameters, setup and answers that checks use (e.g. training)

    def parts(self) -> set[str]:
        return {check.part for check in self.checks}
