"""Rules such as 'conv2d must not call F.conv2d', checked by reading the student's code (trusted side).

A patch at run time (the hidden test's `mock.patch`) is sidestepped by a reference saved earlier. Here the
rule follows what an answer can reach: its own cell and the answer cells whose names it uses. A violation is
- a forbidden name used there (`F.conv2d`, `torch.conv2d`, `from torch.nn.functional import conv2d`);
- a lookup the reader cannot follow there (`getattr`, `eval`, `__dict__`, `importlib`, `torch.ops`, `torch._C`);
- a name it uses that only a cell of the student's own defines (`_saved = F.conv2d` in a scratch cell), or
  that no cell defines (`globals()["_saved"] = ...`);
- any cell of theirs rebinding or patching a name the answer uses (`F = ...`, `F.pad = F.conv2d`, `setattr`).
Scratch cells may otherwise call anything: the intro tells students to check themselves against PyTorch.
"""

from __future__ import annotations

import ast
import builtins

from classgrade.table import Forbid
from classgrade.text import clean

DYNAMIC = {"getattr", "setattr", "delattr", "eval", "exec", "compile", "__import__", "vars", "globals", "locals",
           "import_module", "attrgetter", "methodcaller", "__dict__", "__getattribute__", "__setattr__", "modules",
           "ops", "_C", "__builtins__", "builtins"}
RISKY_MODULES = {"importlib", "operator", "builtins", "inspect", "ctypes", "gc", "sys"}


def _bound(tree: ast.AST) -> set[str]:
    """Every name a piece of code binds: assignments, arguments, definitions, imports, loop targets."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def top_level(tree: ast.Module) -> set[str]:
    """Names a cell leaves in the notebook's namespace (not the locals of its functions)."""
    names = set()
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(statement.name)
        else:
            names |= _bound(statement) - _locals(statement)
    return names


def _locals(statement: ast.AST) -> set[str]:
    """Names bound inside functions or classes nested in a statement (a top-level if or with)."""
    names = set()
    for node in ast.walk(statement):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            names |= _bound(node) - ({node.name} if hasattr(node, "name") else set())
    return names


def loaded(tree: ast.AST) -> dict[str, int]:
    """Names read, with the first line each is read on."""
    found: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            found[node.id] = min(found.get(node.id, node.lineno), node.lineno)
    return found


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _parse(cell: dict) -> tuple[ast.AST, list[str]] | None:
    source = cell.get("source", "")
    source = "".join(source) if isinstance(source, list) else str(source)
    try:
        return ast.parse(source), source.splitlines()
    except SyntaxError:
        return None


def _cells(nb: dict):
    """(instructor cells, {answer grade_id: parsed}, the student's own cells), code cells only."""
    instructor, answers, own = [], {}, []
    for cell in nb.get("cells", []):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code" or cell.get("metadata", {}).get("classgrade_probe"):
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        meta = meta if isinstance(meta, dict) else {}
        parsed = _parse(cell)
        if parsed is None:
            continue
        if meta.get("solution") and meta.get("grade_id"):
            answers[meta["grade_id"]] = parsed
        elif meta.get("grade_id"):
            instructor.append(parsed)
        else:
            own.append(parsed)
    return instructor, answers, own


def violations(nb: dict, rule: Forbid) -> list[str]:
    """Lines of the student's notebook that break `rule` (empty when it holds), each with why."""
    instructor, answers, own = _cells(nb)
    if rule.cell not in answers:
        return []  # no answer cell: its checks fail on their own
    given = set().union(*(_bound(tree) for tree, _ in instructor)) | set(dir(builtins))
    answer_names = {cell: top_level(tree) for cell, (tree, _) in answers.items()}
    reach, todo = set(), [rule.cell]
    while todo:
        cell = todo.pop()
        if cell not in reach:
            reach.add(cell)
            used = set(loaded(answers[cell][0])) - _bound(answers[cell][0])  # a parameter is not a use
            todo += [other for other, names in answer_names.items() if other not in reach and used & names]
    everything_answers = set().union(*answer_names.values())
    own_names = set().union(*(top_level(tree) for tree, _ in own))
    found, used_outside = [], set()
    for cell in sorted(reach):
        tree, lines = answers[cell]
        line = lambda node: clean(lines[node.lineno - 1].strip(), 200)  # noqa: E731
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in rule.names:
                found.append(f"{line(node)}  (uses {node.attr})")
            elif isinstance(node, ast.Attribute) and node.attr in DYNAMIC or \
                    isinstance(node, ast.Name) and node.id in DYNAMIC:
                found.append(f"{line(node)}  (a dynamic lookup the grader cannot follow)")
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                paths = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                parts = {part for path in paths for part in path.split(".")}
                if any(a.name in rule.names or a.name == "*" for a in node.names) or parts & set(rule.names) or \
                        {path.split(".")[0] for path in paths} & RISKY_MODULES:
                    found.append(f"{line(node)}  (imports what the rule forbids)")
        bound = _bound(tree)
        for name, lineno in loaded(tree).items():
            if name in bound or name in everything_answers:
                continue
            if name in rule.names:  # e.g. a class an instructor cell imported
                found.append(f"{clean(lines[lineno - 1].strip(), 200)}  (uses {name})")
            if name in own_names and name not in given:
                found.append(f"{clean(lines[lineno - 1].strip(), 200)}  (uses {name}, defined in a cell of your own)")
            elif name not in given:
                found.append(f"{clean(lines[lineno - 1].strip(), 200)}  (uses {name}, which no cell defines)")
            else:
                used_outside.add(name)
    for tree, lines in own + list(answers.values()):
        for node in ast.walk(tree):
            target = None
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                target = next((t for t in targets if _root(t) in used_outside and
                               (not isinstance(t, ast.Name) or node in getattr(tree, "body", []))), None)
            elif isinstance(node, ast.Name) and node.id in ("setattr", "delattr", "__builtins__") or \
                    isinstance(node, ast.Attribute) and node.attr in ("__dict__", "__setattr__", "modules"):
                target = node
            if target is not None:
                found.append(f"{clean(lines[node.lineno - 1].strip(), 200)}  (changes what the answer uses)")
    return sorted(set(found))
