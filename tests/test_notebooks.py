"""Every notebook is clean in git and runs top to bottom under papermill in smoke mode."""

import json

import nbformat
import pytest

from ci import run_notebooks
from ci.run_notebooks import REPO, course_notebooks, execute

ALL_IN_GIT = sorted(REPO.glob("lectures/*.ipynb")) + sorted(REPO.glob("solutions/*/*.ipynb")) + sorted(REPO.glob("exercises/*/*.ipynb"))
NAMES = [str(p.relative_to(REPO)) for p in ALL_IN_GIT]


def test_the_course_has_its_notebooks():
    names = [p.name for p in course_notebooks()]
    assert "01_pca_vs_autoencoders.ipynb" in names and "pca_autoencoders.ipynb" in names


@pytest.mark.parametrize("path", ALL_IN_GIT, ids=NAMES)
def test_notebook_has_no_outputs_and_a_parameters_cell(path):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name}: strip outputs"
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    if "exercises" not in path.parts:  # the release keeps the cell, nbgrader may drop nothing else
        tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1 and "SMOKE = False" in "".join(tagged[0]["source"])


MAX_PRINTED_LINES = 40  # lines of text one lecture cell shown on a slide may print


def printed_lines(cell) -> int:
    """Lines of text a code cell printed (streams and plain-text results; pictures and widgets not counted)."""
    texts = [o.get("text", "") if o.get("output_type") == "stream" else o.get("data", {}).get("text/plain", "")
             for o in cell.get("outputs", []) if o.get("output_type") in ("stream", "execute_result")]
    return sum(len("".join(t).splitlines()) for t in texts)


@pytest.mark.parametrize("path", course_notebooks(), ids=lambda p: str(p.relative_to(REPO)))
def test_notebook_runs_in_smoke_mode(path, tmp_path):
    result = execute(path, tmp_path, smoke=True, cell_timeout=300, notebook_timeout=600)
    assert result.status == "ok", result.detail
    executed = nbformat.read(result.executed, as_version=4)
    assert any(o.get("output_type") == "display_data" for c in executed.cells for o in c.get("outputs", [])) \
        or "solutions" in path.parts, "a lecture should draw pictures"
    shown = [c for c in executed.cells if c.cell_type == "code"
             and c.metadata.get("slideshow", {}).get("slide_type", "-") != "skip"]
    long = [(c.source[:60], n) for c in shown if (n := printed_lines(c)) > MAX_PRINTED_LINES]
    assert "lectures" not in path.parts or not long, \
        f"printouts too long for a slide (shorten them, or skip them in ci/slides.py): {long}"


def test_runner_names_the_failing_notebook_and_cell(tmp_path, capsys):
    broken = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("SMOKE = False", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("raise ValueError('the lecture broke here')"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    path = tmp_path / "broken.ipynb"
    nbformat.write(broken, path)
    code = run_notebooks.main([str(path), "--mode", "smoke", "--out", str(tmp_path / "out"), "--no-html"])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAILED" in out and "broken.ipynb" in out and "cell 3" in out and "the lecture broke here" in out


def test_notebooks_run_side_by_side_longest_first_and_report_in_the_given_order(tmp_path, capsys):
    """--jobs 2: two kernels at once; the previous run's timings put the slow one first; results keep the order."""
    kernelspec = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    paths = []
    for name, body in (("quick", "x = 1"), ("slow", "import time; time.sleep(1)"), ("broken", "1 / 0")):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("SMOKE = False", metadata={"tags": ["parameters"]}),
                                             nbformat.v4.new_code_cell(body)], metadata=kernelspec)
        paths.append(tmp_path / f"{name}.ipynb")
        nbformat.write(nb, paths[-1])
    out = tmp_path / "out"
    out.mkdir()
    (out / "timings.json").write_text(json.dumps({run_notebooks.display_name(paths[1]).lstrip("/"): {"seconds": 9.0}}))
    results = run_notebooks.execute_all(paths, out, smoke=True, jobs=2, cell_timeout=60, notebook_timeout=120)
    assert [r.notebook for r in results] == paths and [r.status for r in results] == ["ok", "ok", "failed"]
    started = [line.split()[1] for line in capsys.readouterr().out.splitlines() if line.startswith("running")]
    assert started[0].endswith("slow.ipynb")  # the longest last time goes first
    assert "ZeroDivisionError" in results[2].detail
    with pytest.raises(SystemExit):
        run_notebooks.main([str(paths[0]), "--jobs", "0", "--out", str(out)])
