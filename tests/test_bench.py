"""The benchmark suite's own logic: budgets, the slowest-cells profile, tables, and a model list that misses none."""

from __future__ import annotations

import json

import pytest

from benchmarks.bench import BUDGETS, NOTEBOOK_BUDGETS, budget_failures, slowest_cells
from benchmarks.markdown import table


def test_budgets_pass_when_kept_and_name_what_is_broken():
    full = {"lectures/01.ipynb": 60.0, "solutions/a/a.ipynb": 30.0}
    smoke = {"lectures/01.ipynb": 10.0, "solutions/a/a.ipynb": 5.0}
    assert budget_failures(full, smoke) == []
    slow_lecture = {**full, "lectures/06.ipynb": BUDGETS["any lecture, full mode"] + 1}
    assert [f.split(",")[0] for f in budget_failures(slow_lecture, smoke)] == ["lectures/06.ipynb"]
    slow_solution = {**full, "solutions/b/b.ipynb": BUDGETS["any lecture, full mode"] + 1}  # not a lecture
    assert budget_failures(slow_solution, smoke) == []
    many = {f"lectures/{i:02d}.ipynb": 250.0 for i in range(8)}  # each under 5 min, together over 30
    assert [f.split(":")[0] for f in budget_failures(many, smoke)] == ["whole course, full mode"]
    slow_smoke = {"lectures/01.ipynb": BUDGETS["whole course, smoke mode"] + 1}
    assert [f.split(":")[0] for f in budget_failures(full, slow_smoke)] == ["whole course, smoke mode"]


def test_a_lecture_with_its_own_budget_is_held_to_it():
    lecture8 = "lectures/08_vision_transformers.ipynb"
    full, smoke = NOTEBOOK_BUDGETS[(lecture8, "full")], NOTEBOOK_BUDGETS[(lecture8, "smoke")]
    assert budget_failures({lecture8: full}, {lecture8: smoke}) == []
    assert budget_failures({lecture8: full + 1}, {lecture8: smoke + 1}) == [
        f"{lecture8}, full mode: {full + 1} s > {full} s", f"{lecture8}, smoke mode: {smoke + 1} s > {smoke} s"]


def test_slowest_cells_reads_papermill_durations(tmp_path):
    cells = [{"cell_type": "markdown", "metadata": {}, "source": ["# title"]}]
    cells += [{"cell_type": "code", "metadata": {"papermill": {"duration": d}}, "source": [f"step_{i}()\n", "more"]}
              for i, d in enumerate([0.5, 12.0, None, 3.0])]
    path = tmp_path / "executed.ipynb"
    path.write_text(json.dumps({"cells": cells}))
    assert slowest_cells(path, k=2) == [(12.0, 2, "step_1()"), (3.0, 4, "step_3()")]


def test_table_aligns_numbers_right_and_rejects_ragged_rows():
    lines = table(["model", "seconds"], [["VAE", "12.5"], ["U-Net", "**300**"]])
    assert lines[1] == "|---|---:|" and lines[3] == "| U-Net | **300** |"
    with pytest.raises(ValueError, match="2 cells"):
        table(["model", "seconds"], [["VAE"]])


@pytest.mark.parametrize("ratio, broken", [(1.12, False), (0.8, True)])
def test_the_grading_section_holds_classgrade_serial_to_plain_nbgrader(monkeypatch, ratio, broken):
    import benchmarks.grading_throughput as throughput
    from benchmarks.bench import GRADING_BUDGET, grading_section

    rows = [{"run": "plain `nbgrader autograde` (serial)", "seconds": 60.0, "per_minute": 10.0, "ratio": 1.0},
            {"run": "classgrade serial", "seconds": 60 / ratio, "per_minute": 10 * ratio, "ratio": ratio}]
    monkeypatch.setattr(throughput, "against_plain", lambda n, assignment, workers: {"rows": rows, "breakdown": {}})
    monkeypatch.setattr(throughput, "comparison_report", lambda result: ["(table)"])
    lines, failures = grading_section(2, "tiny")
    assert "(table)" in lines
    assert failures == ([f"classgrade serial: {ratio:.2f}x plain nbgrader < {GRADING_BUDGET:g}x"] if broken else [])
