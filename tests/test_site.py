"""The course site (`make course` -> build/site/): Sphinx + MyST-NB + sphinx-book-theme pages, and slides.

Built here from a tiny lecture executed in the test (a plot, the conv-geometry explorer, some math) and a
tiny exercise, so it takes seconds and needs no `make course`. Checked: nothing loads from the internet,
MathJax and reveal.js are local, figures and widgets show as they ran, and the navigation students know
(sidebar, search, previous/next, download and launch links) is there.
"""

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from ci import build_site as site_builder
from ci.build_site import build_site
from ci.offline_check import offline_problems, page_references, remote_references
from ci.course_info import binder_url, colab_url, course_url

TINY_LECTURE = [
    nbformat.v4.new_markdown_cell("# Lecture 9 · A tiny lecture\n\nWhy it matters: $w_\\text{out} = \\lfloor (w + 2p - k) / s \\rfloor + 1$."),
    nbformat.v4.new_code_cell("SMOKE = False", metadata={"tags": ["parameters"]}),
    nbformat.v4.new_markdown_cell("## Set-up"),
    nbformat.v4.new_code_cell("%matplotlib inline\nimport matplotlib.pyplot as plt\nfrom course_lib.widgets import conv_geometry_explorer"),
    nbformat.v4.new_markdown_cell("## 1. A line\n\n$$y = a x + b$$", metadata={"slideshow": {"slide_type": "slide"}}),
    nbformat.v4.new_code_cell("plt.plot([0, 1], [1, 0])\nplt.show()"),
    nbformat.v4.new_markdown_cell("## 2. The geometry explorer", metadata={"slideshow": {"slide_type": "slide"}}),
    nbformat.v4.new_code_cell("conv_geometry_explorer(w_in=7, k=3, s=3, p=1, d=1)"),
    nbformat.v4.new_markdown_cell("## Summary\n\n- done"),
]
TINY_EXERCISE = [
    nbformat.v4.new_markdown_cell("# Exercise 9: a tiny exercise\n\nWrite `double`."),
    nbformat.v4.new_code_cell("def double(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A site built from the tiny lecture, executed like papermill does (widget state saved), and the exercise."""
    executed = tmp_path_factory.mktemp("executed")
    nb = nbformat.v4.new_notebook(cells=TINY_LECTURE, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    (executed / "lectures").mkdir()
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(executed)}}).execute()
    assert "widgets" in nb.metadata, "the run should save the widget state, as papermill's does"
    nbformat.write(nb, executed / "lectures" / "09_tiny.ipynb")
    (executed / "timings.json").write_text(json.dumps(
        {"lectures/09_tiny.ipynb": {"status": "ok", "seconds": 12.3, "mode": "smoke"}}))
    exercises = tmp_path_factory.mktemp("exercises")
    (exercises / "tiny").mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=TINY_EXERCISE), exercises / "tiny" / "tiny.ipynb")
    out = tmp_path_factory.mktemp("site") / "site"
    build_site(executed, out, exercises)
    return out


def read(site: Path, page: str) -> str:
    return (site / page).read_text(encoding="utf-8")


def test_landing_page_says_what_the_course_is_and_lists_lectures_with_topics_and_run_times(site):
    index = read(site, "index.html")
    main = index[index.index("<main"):]
    assert "How to start" in main and "make lab" in main and course_url() in main
    assert 'href="lectures/09_tiny.html"' in main and "Lecture 9 · A tiny lecture" in main
    assert "A line" in main and "The geometry explorer" in main
    assert "Set-up" not in main and "Summary" not in main  # not topics
    assert "12 s (smoke)" in main
    assert "href='slides/09_tiny.slides.html'" in main
    assert 'href="exercises/tiny.html"' in main


PAGES = ["index.html", "lectures/09_tiny.html", "exercises/tiny.html", "search.html", "slides/09_tiny.slides.html"]


@pytest.mark.parametrize("page", PAGES)
def test_pages_load_nothing_from_the_internet(site, page):
    text = read(site, page)
    assert remote_references(text) == []
    for tag, url in page_references(text).loads:  # no scheme at all except data:, and every local file exists
        assert not re.match(r"^\s*([a-z][a-z0-9+.-]*:)?//", url, re.I), f"<{tag}> loads {url}"
        if not url.startswith(("data:", "#")):
            assert ((site / page).parent / url.split("?")[0]).resolve().is_file(), f"<{tag}> {url} is missing"
    assert offline_problems(site) == {}  # every style sheet too (the theme's fonts and icons)


def test_figures_are_present_and_widgets_drawn_as_they_ran(site):
    page = read(site, "lectures/09_tiny.html")
    images = [url for tag, url in page_references(page).loads if tag == "img"]
    plots = [url for url in images if url.startswith("../_images/") and url.endswith(".png")]
    assert plots and all((site / "lectures" / url).resolve().stat().st_size > 1000 for url in plots)  # the plot
    assert any(url.startswith("data:image/png;base64,") for url in images)  # the explorer's drawing, in the widget
    stride = re.search(r"<label>stride s</label><input[^>]*>", page)
    assert stride and "type='range'" in stride.group(0) and "value='3'" in stride.group(0) and "disabled" in stride.group(0)
    assert "kernel_size=3, stride=3" in page  # the explorer's readout, as it was computed
    assert "widget-state+json" not in page and "widget-view+json" not in page and "html-manager" not in page
    assert "in JupyterLab" in page and "ran in 12 s (smoke mode)" in page


def test_math_is_typeset_by_a_local_mathjax(site):
    page = read(site, "lectures/09_tiny.html")
    assert 'src="../_static/' + site_builder.MATHJAX_URL + '"' in page
    assert (site / "_static" / "mathjax" / "MathJax.js").is_file()
    assert r"\(w_\text{out}" in page and "cdnjs" not in page and "unpkg" not in page


def test_sidebar_lists_lectures_and_exercises_with_previous_and_next(site):
    page = read(site, "lectures/09_tiny.html")
    sidebar = page[page.index('class="bd-links'):page.index("</nav>", page.index('class="bd-links'))]
    assert "Lectures" in sidebar and "Exercises" in sidebar
    assert 'href="#"' in sidebar or "current" in sidebar  # this lecture, highlighted
    assert 'href="../exercises/tiny.html"' in sidebar and "Exercise 9: a tiny exercise" in sidebar
    assert re.search(r'class="left-prev"[^>]*href="../index.html"|href="../index.html"[^>]*class="left-prev"', page)
    assert re.search(r'class="right-next"[^>]*href="../exercises/tiny.html"|href="../exercises/tiny.html"[^>]*class="right-next"', page)
    toc = page[page.index('id="pst-page-toc-nav"'):]
    assert 'href="#the-geometry-explorer"' in toc[:toc.index("</nav>")]  # the in-page table of contents


def test_search_works_offline_from_sphinx_index(site):
    assert 'id="search-results"' in read(site, "search.html") or "search-results" in read(site, "search.html")
    index = read(site, "searchindex.js")
    assert "09_tiny" in index and "tiny" in index and "geometri" in index  # stemmed words of the lecture


def test_download_and_launch_links_come_from_the_one_repository_url(site):
    lecture = read(site, "lectures/09_tiny.html")
    assert "href='../_sources/lectures/09_tiny.ipynb' download" in lecture
    assert json.loads((site / "_sources" / "lectures" / "09_tiny.ipynb").read_text())["cells"]  # the notebook itself
    assert colab_url("lectures/09_tiny.ipynb") in lecture and binder_url("lectures/09_tiny.ipynb") in lecture
    assert colab_url("x").startswith("https://colab.research.google.com/github/" + course_url().split("github.com/")[1])
    assert binder_url("x") == f"https://mybinder.org/v2/gh/{course_url().split('github.com/')[1]}/main?urlpath=lab/tree/x"
    assert "href='../slides/09_tiny.slides.html'" in lecture
    exercise = read(site, "exercises/tiny.html")
    assert colab_url("exercises/tiny/tiny.ipynb") in exercise and "raise NotImplementedError" in exercise
    assert "cell_output" not in exercise  # the student release: no outputs


def test_slides_use_a_local_reveal_js(site):
    slides = read(site, "slides/09_tiny.slides.html")
    scripts = [url for tag, url in page_references(slides).loads if tag == "script"]
    assert "../_static/revealjs/dist/reveal.js" in scripts and "../_static/" + site_builder.MATHJAX_URL in scripts
    assert (site / "_static" / "revealjs" / "dist" / "reveal.js").is_file()
    assert slides.count("<section") >= 3 and "kernel_size=3, stride=3" in slides  # a slide per section, the widget
    assert "Reveal.initialize" in slides and "require(" not in slides
    assert "SMOKE = False" not in slides  # the parameters cell is skipped on slides


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
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Remote\n\n<img src='https://example.org/logo.png'>")])
    nbformat.write(nb, executed / "lectures" / "01_remote.ipynb")
    with pytest.raises(RuntimeError, match="example.org/logo.png"):
        build_site(executed, tmp_path / "site", exercises_dir=None)
