"""The static site (`make course` -> build/site/): offline pages, embedded figures, widgets as they ran.

Built here from a tiny lecture executed in the test (a plot, the conv-geometry explorer, some math),
so it takes seconds and needs no `make course`.
"""

import json
import re

import nbformat
import pytest
from nbclient import NotebookClient

from ci import build_site as site_builder
from ci.build_site import build_site, page_references, remote_references

TINY_LECTURE = [
    nbformat.v4.new_markdown_cell("# Lecture 9 · A tiny lecture\n\nWhy it matters: $w_\\text{out} = \\lfloor (w + 2p - k) / s \\rfloor + 1$."),
    nbformat.v4.new_code_cell("SMOKE = False", metadata={"tags": ["parameters"]}),
    nbformat.v4.new_markdown_cell("## Set-up"),
    nbformat.v4.new_code_cell("%matplotlib inline\nimport matplotlib.pyplot as plt\nfrom course_lib.widgets import conv_geometry_explorer"),
    nbformat.v4.new_markdown_cell("## 1. A line\n\n$$y = a x + b$$"),
    nbformat.v4.new_code_cell("plt.plot([0, 1], [1, 0])\nplt.show()"),
    nbformat.v4.new_markdown_cell("## 2. The geometry explorer"),
    nbformat.v4.new_code_cell("conv_geometry_explorer(w_in=7, k=3, s=3, p=1, d=1)"),
    nbformat.v4.new_markdown_cell("## Summary\n\n- done"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A site built from the tiny lecture, executed like papermill does (widget state saved)."""
    executed = tmp_path_factory.mktemp("executed")
    nb = nbformat.v4.new_notebook(cells=TINY_LECTURE, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    (executed / "lectures").mkdir()
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(executed)}}).execute()
    assert "widgets" in nb.metadata, "the run should save the widget state, as papermill's does"
    nbformat.write(nb, executed / "lectures" / "09_tiny.ipynb")
    (executed / "timings.json").write_text(json.dumps(
        {"lectures/09_tiny.ipynb": {"status": "ok", "seconds": 12.3, "mode": "smoke"}}))
    out = tmp_path_factory.mktemp("site")
    build_site(executed, out)
    return out


def test_index_lists_lectures_with_topics_and_run_times(site):
    index = (site / "index.html").read_text()
    assert "Lecture 9 · A tiny lecture" in index and "href='09_tiny.html'" in index
    assert "A line" in index and "The geometry explorer" in index
    assert "Set-up" not in index and "Summary" not in index  # not topics
    assert "12 s (smoke)" in index
    assert "JupyterLab" in index


@pytest.mark.parametrize("page", ["index.html", "09_tiny.html"])
def test_pages_load_nothing_from_the_internet(site, page):
    text = (site / page).read_text()
    assert remote_references(text) == []
    refs = page_references(text)
    for tag, url in refs.loads:  # belt and braces: no scheme at all except data:, and local files exist
        assert not re.match(r"^\s*([a-z][a-z0-9+.-]*:)?//", url, re.I), f"<{tag}> loads {url}"
        if not url.startswith("data:"):
            assert (site / url.split("?")[0]).is_file(), f"<{tag}> {url} is missing from the site"


def test_figures_are_embedded_and_widgets_drawn_as_they_ran(site):
    page = (site / "09_tiny.html").read_text()
    images = [url for tag, url in page_references(page).loads if tag == "img"]
    assert sum(url.startswith("data:image/png;base64,") for url in images) >= 2  # the plot and the explorer's drawing
    assert all(url.startswith("data:") for url in images)
    stride = re.search(r"<label>stride s</label><input[^>]*>", page)
    assert stride and 'type="range"' in stride.group(0) and 'value="3"' in stride.group(0) and "disabled" in stride.group(0)
    assert "kernel_size=3, stride=3" in page  # the explorer's readout, as it was computed
    assert "application/vnd.jupyter.widget-state+json" not in page and "widget-view+json" not in page
    assert "needs JupyterLab" in page or "in JupyterLab" in page
    assert "ran in 12 s (smoke mode)" in page


def test_math_is_typeset_by_a_local_mathjax(site):
    page = (site / "09_tiny.html").read_text()
    assert site_builder.MATHJAX_URL in page and (site / "mathjax" / "MathJax.js").is_file()
    assert "cdnjs" not in page and "unpkg" not in page and "require.js" not in page


def test_the_check_catches_what_nbconvert_loads_by_default():
    """nbconvert's own lab template loads require.js, MathJax and the widget manager from CDNs."""
    from nbconvert import HTMLExporter

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("$x$")])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2, "version_minor": 0}}
    body, _ = HTMLExporter().from_notebook_node(nb)
    found = " ".join(remote_references(body))
    assert "require" in found and "mathjax" in found.lower() and "html-manager" in found
    assert remote_references("<link rel='stylesheet' href='//cdn.example.org/a.css'><img srcset='https://x.org/a.png 2x'>")
    assert remote_references("<style>@import url('https://fonts.example.org/f.css');</style>")
    assert remote_references("<script type='module'>await import('https://cdn.example.org/m.mjs')</script>")
    assert remote_references("<img src='data:image/png;base64,AAAA'><a href='https://example.org'>a link</a>") == []


def test_a_page_that_would_load_a_remote_image_fails_the_build(tmp_path):
    executed = tmp_path / "executed"
    (executed / "lectures").mkdir(parents=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Remote\n\n![logo](https://example.org/logo.png)")])
    nbformat.write(nb, executed / "lectures" / "01_remote.ipynb")
    with pytest.raises(RuntimeError, match="example.org/logo.png"):
        build_site(executed, tmp_path / "site")
