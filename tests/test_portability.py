"""The course runs on Windows: no POSIX-only module outside the grading sandbox, paths through pathlib, and the
`python -m ci` commands (the Makefile's targets without make) work."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from IPython.core.inputtransformer2 import TransformerManager

from ci import __main__ as ci_main
from ci.run_notebooks import REPO

POSIX_ONLY = {"resource", "fcntl", "termios", "pwd", "grp", "posix", "pty", "tty"}
PORTABLE = ["course_lib", "ci", "benchmarks"]  # grading/classgrade (Linux-only by design) is left out


def sources() -> list[tuple[str, str]]:
    """(where, Python source) for every module of PORTABLE and every lecture code cell (magics made Python)."""
    found = [(str(p.relative_to(REPO)), p.read_text()) for d in PORTABLE for p in sorted((REPO / d).rglob("*.py"))]
    to_python = TransformerManager().transform_cell
    for notebook in sorted((REPO / "lectures").glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        found += [(f"{notebook.name} cell {i}", to_python("".join(c["source"])))
                  for i, c in enumerate(cells) if c["cell_type"] == "code"]
    return found


@pytest.fixture(scope="module")
def trees() -> list[tuple[str, ast.AST]]:
    return [(where, ast.parse(source)) for where, source in sources()]


def posix_imports(tree: ast.AST) -> set[str]:
    """The POSIX-only modules a tree imports (anywhere, lazily too)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & POSIX_ONLY


def slash_paths(tree: ast.AST) -> list[int]:
    """Lines that build a path with a '/' string: `x + "/..."`, `".../" + x`, `os.path.join(..., "a/b")`."""
    def slashed(node: ast.AST, at_end: bool) -> bool:  # a plain string starting (or ending) with "/", not a URL
        return (isinstance(node, ast.Constant) and isinstance(node.value, str) and "://" not in node.value
                and (node.value.endswith("/") if at_end else node.value.startswith("/")))

    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            if slashed(node.left, at_end=True) or slashed(node.right, at_end=False):
                lines.append(node.lineno)
        elif isinstance(node, ast.Call) and ast.unparse(node.func) == "os.path.join":
            if any(isinstance(a, ast.Constant) and isinstance(a.value, str) and "/" in a.value for a in node.args):
                lines.append(node.lineno)
    return lines


def test_the_scans_find_what_they_look_for():
    tree = ast.parse("import resource\nfrom fcntl import flock\ndef f():\n    import pwd.x\nimport os, json")
    assert posix_imports(tree) == {"resource", "fcntl", "pwd"}
    tree = ast.parse('a = d + "/x"\nb = "out/" + n\nc = os.path.join(d, "a/b")\nu = "https://h.org/" + n\n'
                     'v = d / "x"\nw = "a" + "b"\nr = 1 / 2')
    assert slash_paths(tree) == [1, 2, 3]


def test_no_posix_only_module_outside_the_grading_sandbox(trees):
    found = {where: sorted(names) for where, tree in trees if (names := posix_imports(tree))}
    assert not found, f"POSIX-only imports (Windows has none of them): {found}"
    assert len(trees) > 100  # the scan saw the library, ci/, benchmarks/ and the lectures


def test_paths_are_not_built_from_slash_strings(trees):
    found = {where: lines for where, tree in trees if (lines := slash_paths(tree))}
    assert not found, f"build paths with pathlib (Path(a) / b), not with '/' strings: {found}"


def test_classgrade_refuses_clearly_where_its_sandbox_cannot_run(monkeypatch, capsys):
    """On Windows, collect and autograde would fail at import (fcntl, os.O_NOFOLLOW): a message instead."""
    monkeypatch.syspath_prepend(str(REPO / "grading"))
    from classgrade.__main__ import main

    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(os, "name", "nt")
    assert main(["autograde", "x"]) == 2 and "needs Linux" in capsys.readouterr().err
    assert main(["collect", "x"]) == 2 and "WSL2" in capsys.readouterr().err


def test_each_ci_command_runs_what_its_make_target_runs():
    makefile = (REPO / "Makefile").read_text()
    for target, (argv, cwd) in ci_main.commands([]).items():
        if target == "lab":
            assert "--config=$(CURDIR)/ci/lab/jupyter_lab_config.py" in makefile and cwd == REPO / "grading"
            assert f"--config={REPO / 'ci' / 'lab' / 'jupyter_lab_config.py'}" in argv
            continue
        recipe = makefile.split(f"\n{target}: ", 1)[1].split("\n\n", 1)[0]
        assert f"$(BIN)/python {' '.join(argv)}".replace("-m not slow", '-m "not slow"') in recipe, target


def test_python_m_ci_help_and_test_run_on_this_machine(tmp_path):
    run = {"cwd": REPO, "capture_output": True, "text": True, "timeout": 120}
    usage = subprocess.run([sys.executable, "-m", "ci", "--help"], **run)
    assert usage.returncode == 0 and all(c in usage.stdout for c in ("course", "test-fast", "site", "lab"))
    probe = tmp_path / "test_probe.py"  # a one-test file: checks the arguments and the environment the suite gets
    probe.write_text("import os\n\ndef test_cache():\n"
                     f"    assert os.environ['COURSE_CACHE_DIR'] == {str(REPO / 'build' / 'checkpoints')!r}\n")
    env = {k: v for k, v in os.environ.items() if k != "COURSE_CACHE_DIR"}
    result = subprocess.run([sys.executable, "-m", "ci", "test", "--", str(probe), "-q", "-n", "0",
                             "-p", "no:cacheprovider", f"--rootdir={tmp_path}"], env=env, **run)
    assert result.returncode == 0 and "1 passed" in result.stdout, result.stdout + result.stderr
    failing = subprocess.run([sys.executable, "-m", "ci", "test", "--", str(probe), "-q", "-n", "0",
                              "-p", "no:cacheprovider", f"--rootdir={tmp_path}"], env={**env, "COURSE_CACHE_DIR": "x"},
                             **run)
    assert failing.returncode == 1  # a failing test fails the command
