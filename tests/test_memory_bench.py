"""The memory benchmark measures the right process: a notebook's kernel (not papermill), a command's own peak;
and its budget names the lectures that break it."""

from __future__ import annotations

import os
import subprocess
import sys

import nbformat
import pytest

from benchmarks.memory import MEMORY_BUDGET_MIB, child_peak_mib, memory_budget_failures, notebook_peak_mib

ALLOCATE = "import numpy as np\nblock = np.ones({mib} * 2**20 // 8)  # written, so resident\nprint(block.sum())"


def notebook(path, *sources: str):
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell("SMOKE = False", metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(nb, path)
    return path


def test_a_notebook_peak_is_its_kernels_and_follows_the_mode(tmp_path):
    big = notebook(tmp_path / "big.ipynb", ALLOCATE.format(mib="(30 if SMOKE else 300)"))
    tiny = notebook(tmp_path / "tiny.ipynb", "print(1 + 1)")
    before = {name: os.environ.get(name) for name in ("JUPYTER_PATH", "COURSE_CACHE_DIR")}
    full = notebook_peak_mib(big, "full", tmp_path / "out")
    smoke = notebook_peak_mib(big, "smoke", tmp_path / "out")
    small = notebook_peak_mib(tiny, "full", tmp_path / "out")
    assert full >= 300 and smoke < full - 200  # SMOKE=True reached the kernel: a tenth of the block
    assert small < full - 250  # the kernel alone: a tiny one has a small peak
    assert (tmp_path / "out" / "smoke").is_dir()  # the executed copies, per mode
    assert {name: os.environ.get(name) for name in before} == before  # the caller's environment is left as it was


def test_a_failing_notebook_is_named_with_its_cell(tmp_path):
    broken = notebook(tmp_path / "broken.ipynb", "print('fine')", "1 / 0")
    with pytest.raises(RuntimeError, match=r"broken.ipynb \(smoke\): failed: cell 3 .*ZeroDivisionError"):
        notebook_peak_mib(broken, "smoke", tmp_path / "out")
    with pytest.raises(ValueError, match="mode"):
        notebook_peak_mib(broken, "fast", tmp_path / "out")


def test_a_commands_peak_is_its_own():
    allocate = [sys.executable, "-c", ALLOCATE.format(mib=200)]
    assert child_peak_mib(allocate, stdout=subprocess.DEVNULL) >= 200
    assert child_peak_mib([sys.executable, "-c", "pass"]) < 100
    with pytest.raises(RuntimeError, match="exit status 3"):
        child_peak_mib([sys.executable, "-c", "raise SystemExit(3)"])


def test_the_budget_holds_lectures_in_full_mode_only():
    assert memory_budget_failures({"lectures/01.ipynb": MEMORY_BUDGET_MIB, "lectures/02.ipynb": 300.0}) == []
    over = {"lectures/06.ipynb": MEMORY_BUDGET_MIB + 1.0, "solutions/a/a.ipynb": 5000.0}  # a solution: no budget
    assert memory_budget_failures(over) == [f"lectures/06.ipynb, full mode: {MEMORY_BUDGET_MIB + 1} MiB > "
                                            f"{MEMORY_BUDGET_MIB} MiB"]
