"""The course's site: Sphinx + MyST-NB + sphinx-book-theme pages of the executed lectures, and their slides.

    python -m ci.build_site                                # from build/executed (`make course` runs it)
    python -m ci.build_site --executed DIR --out DIR [--exercises DIR]

The builder writes a Sphinx source folder (a conf.py, a landing page, the executed lectures and the
exercises' student release) into a temporary folder and renders it without executing anything again
(nb_execution_mode = "off"): a sidebar with the lectures and exercises, an in-page table of contents,
Sphinx's own offline search, previous/next, a download button per notebook and launch links (Colab,
Binder) built from the one repository URL (ci/course_info.py). Widgets are drawn as static HTML from the
widget state that the run saved (a slider appears where it was left; moving it needs JupyterLab).
Each lecture also becomes static reveal.js slides (slides/NN_name.slides.html, nbconvert's SlidesExporter).

Nothing is loaded from the internet when a page is opened: MathJax (the `jupyter-server-mathjax` package)
and reveal.js (the `sphinx-revealjs` package) are copied into the site, the theme ships its fonts and
icons, and a page or style sheet that would still load a remote script, stylesheet, image or font fails
the build (ci/offline_check.py, RuntimeError naming the URL). Widgets: ci/static_widgets.py.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

from ci.course_info import binder_url, colab_url, course_url
from ci.offline_check import offline_problems
from ci.static_widgets import render_widgets_static

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "build"
TEMPLATES = Path(__file__).resolve().parent / "site_template"
MATHJAX_CONFIG = "?config=TeX-AMS-MML_HTMLorMML-full,Safe"
MATHJAX_URL = "mathjax/MathJax.js" + MATHJAX_CONFIG  # relative to the site's _static folder
REVEAL_DIR = "_static/revealjs"  # in the site
LIVE_NOTE = ("Widgets (sliders, drop-downs) are shown as they were when the notebook ran; to move them, open "
             "the notebook in JupyterLab (<code>make lab</code>).")
NOT_TOPICS = re.compile(r"^(set-?up|summary|in-class quiz)\b", re.I)
TITLE = "Deep learning for vision and attention"


# ---- the Sphinx source folder ----------------------------------------------------------------

@dataclass
class Lecture:
    executed: Path  # the executed notebook
    page: str  # its page in the site, e.g. 'lectures/03_cnn.html'
    title: str
    topics: list[str]
    status: str  # 'ok', 'failed', 'timeout' or 'unknown'
    seconds: float | None
    mode: str
    slides: str | None = None  # its slides in the site, e.g. 'slides/03_cnn.slides.html'


def lecture_outline(nb: nbformat.NotebookNode) -> tuple[str, list[str]]:
    """The title (first '# ' heading) and the topics (the '## ' section headings, without their numbers)."""
    title, topics = "", []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            if line.startswith("# ") and not title:
                title = line[2:].strip()
            elif line.startswith("## "):
                topic = re.sub(r"^\d+[.)]\s*", "", line[3:].strip())
                if not NOT_TOPICS.match(topic):
                    topics.append(topic)
    return title, topics


def _timings(executed_dir: Path) -> dict:
    path = executed_dir / "timings.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "not recorded"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _links(repo_path: str, download: str, slides: str | None) -> str:
    """The page's links: download, slides, Colab and Binder (from the one repository URL)."""
    links = [f"<a class='course-download' href='{download}' download>Download the notebook</a>"]
    if slides:
        links.append(f"<a class='course-slides' href='{slides}'>Slides</a>")
    links.append(f"<a class='course-colab' href='{colab_url(repo_path)}'>Open in Colab</a>")
    links.append(f"<a class='course-binder' href='{binder_url(repo_path)}'>Open in Binder</a>")
    return " · ".join(links)


def _with_banner(nb: nbformat.NotebookNode, banner: str) -> None:
    """Insert the banner (raw HTML) right after the title cell."""
    at = next((i + 1 for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.lstrip().startswith("# ")), 0)
    nb.cells.insert(at, nbformat.v4.new_markdown_cell(f"<div class='course-banner'>\n{banner}\n</div>\n"))


def _lecture_page(lecture: Lecture, source: Path) -> None:
    nb = nbformat.read(lecture.executed, as_version=4)
    render_widgets_static(nb)
    ran = f"ran in {_duration(lecture.seconds)}" + (f" ({lecture.mode} mode)" if lecture.mode else "")
    status = "" if lecture.status in ("ok", "unknown") else f" <b>The run {lecture.status}.</b>"
    name = lecture.executed.name
    links = _links(f"lectures/{name}", f"../_sources/lectures/{name}", f"../{lecture.slides}" if lecture.slides else None)
    _with_banner(nb, f"Executed notebook, {ran}.{status} {LIVE_NOTE}<br>\n{links}")
    nbformat.write(nb, source / "lectures" / name)


def _exercise_page(notebook: Path, source: Path) -> tuple[tuple[int, str], str]:
    """The exercise's student release as a page; returns (its order: number in the title, title) and its document name."""
    nb = nbformat.read(notebook, as_version=4)
    repo_path = f"exercises/{notebook.parent.name}/{notebook.name}"  # where the repository keeps it
    note = ("The exercise as students receive it (the student release): answer the cells marked "
            "<code>YOUR CODE HERE</code> in JupyterLab and check them with nbgrader's Validate button.")
    _with_banner(nb, f"{note}<br>\n{_links(repo_path, f'../_sources/exercises/{notebook.name}', None)}")
    if not any(c.cell_type == "markdown" and c.source.lstrip().startswith("# ") for c in nb.cells):
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(f"# Exercise: {notebook.stem.replace('_', ' ')}"))
    nbformat.write(nb, source / "exercises" / notebook.name)
    title, _ = lecture_outline(nb)
    number = re.search(r"\d+", title)
    return (int(number.group()) if number else 10**6, title), f"exercises/{notebook.stem}"


def _landing_page(lectures: list[Lecture], exercises: list[str]) -> str:
    rows = []
    for lecture in lectures:
        doc = Path(lecture.page).with_suffix("").as_posix()
        state = "" if lecture.status in ("ok", "unknown") else f" **The run {lecture.status}.**"
        mode = f" ({lecture.mode})" if lecture.mode else ""
        slides = f" · <a href='{lecture.slides}'>slides</a>" if lecture.slides else ""
        rows.append(f"- {{doc}}`{lecture.title.replace('`', '')} <{doc}>` — {'; '.join(lecture.topics)}. "
                    f"Ran in {_duration(lecture.seconds)}{mode}.{state}{slides}")
    lecture_docs = "\n".join(Path(lecture.page).with_suffix("").as_posix() for lecture in lectures)
    exercise_toc = f"```{{toctree}}\n:hidden:\n:caption: Exercises\n\n{chr(10).join(exercises)}\n```\n" if exercises else ""
    exercise_list = "\n".join(f"- {{doc}}`{doc}`" for doc in exercises) or "- (none yet)"
    return f"""# {TITLE}

An interactive course in Jupyter notebooks: convolutional networks, attention and transformers, vision
transformers, CLIP, autoencoders and diffusion models, each built from the smallest working code, with
pictures and questions. Every lecture here is the notebook as it ran, figures included; the exercises are
graded notebooks (nbgrader).

## How to start

- **Read** a lecture below: the executed notebook, with a table of contents on the right and search at the top left.
- **Run it yourself**: each page has *Download the notebook*, *Open in Colab* and *Open in Binder* links.
  On your machine: `git clone {course_url()}`, then `make setup` and `make lab` (without `make`, e.g. on
  Windows, follow the README's commands).
- **Teach from it**: each lecture has static slides (reveal.js, offline); in JupyterLab the notebook itself
  presents as slides.

{LIVE_NOTE}

## Lectures

{chr(10).join(rows)}

## Exercises

{exercise_list}

```{{toctree}}
:hidden:
:caption: Lectures

{lecture_docs}
```

{exercise_toc}"""


CONF = '''# Written by ci/build_site.py for one build; not kept.
project = {title!r}
html_title = {title!r}
author = "the course team"
extensions = ["myst_nb"]
exclude_patterns = ["_build"]
nb_execution_mode = "off"  # the notebooks ran already (ci.run_notebooks)
nb_ipywidgets_js = {{}}  # widgets are static HTML drawn from the saved state: no widget manager from a CDN
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_update_mathjax = False
mathjax_path = {mathjax!r}  # the local MathJax 2 copied into _static/mathjax
mathjax3_config = None
mathjax2_config = {{
    "tex2jax": {{"inlineMath": [["\\\\(", "\\\\)"]], "displayMath": [["\\\\[", "\\\\]"]], "processEscapes": True}},
    "HTML-CSS": {{"availableFonts": [], "imageFont": None, "preferredFont": None, "webFont": "STIX-Web"}},
    "messageStyle": "none",
}}
html_theme = "sphinx_book_theme"
html_theme_options = {{
    "repository_url": {url!r},
    "repository_branch": "main",
    "use_repository_button": True,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "show_toc_level": 2,
    "home_page_in_toc": True,
}}
html_sourcelink_suffix = ""  # the download button gives the .ipynb itself
html_static_path = ["_course_static"]
html_css_files = ["course.css"]
html_last_updated_fmt = None
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type", "toc.not_included", "misc.highlighting_failure"]
'''

COURSE_CSS = """
.course-banner { font-size: 0.9em; padding: 8px 12px; margin: 0 0 1em 0; background: #fff8e1;
                 border: 1px solid #e0c46c; border-radius: 4px; }
.course-widget-box { display: flex; gap: 4px 16px; flex-wrap: wrap; }
.course-widget-vbox { flex-direction: column; }
.course-widget-row { display: inline-flex; align-items: center; gap: 8px; }
.course-widget-row > label { min-width: 6em; text-align: right; }
.course-widget-output img { max-width: 100%; }
"""


def _mathjax_source() -> Path:
    try:
        import jupyter_server_mathjax
    except ImportError as error:
        raise RuntimeError("the site needs a local MathJax: pip install jupyter-server-mathjax") from error
    return Path(jupyter_server_mathjax.__file__).parent / "static"


def _reveal_source() -> Path | None:
    """reveal.js as the sphinx-revealjs package ships it; None if that package is missing."""
    try:
        import sphinx_revealjs
    except ImportError:
        return None
    return Path(sphinx_revealjs.__file__).parent / "_static" / "revealjs"


def _reveal_unused(folder: str, names: list[str]) -> list[str]:
    """What the slides do not use: source maps, ES modules, css sources and the themes (some load Google fonts) but white."""
    themes = Path(folder).name == "theme" and Path(folder).parent.name == "dist"
    return [n for n in names if n.endswith((".map", ".esm.js")) or n in ("css", "markdown", "math", "search", "zoom")
            or (themes and n.endswith(".css") and n != "white.css")]


def build_slides(lecture: Lecture, site: Path) -> Path:
    """The lecture's static reveal.js slides, with reveal.js and MathJax from the site's _static folder."""
    from nbconvert import SlidesExporter

    nb = nbformat.read(lecture.executed, as_version=4)
    render_widgets_static(nb)
    nb.metadata["title"] = lecture.title
    for cell in nb.cells:  # the run's parameters are for the notebook, not for the audience
        if {"parameters", "injected-parameters"} & set(cell.metadata.get("tags", [])):
            cell.metadata.setdefault("slideshow", {})["slide_type"] = "skip"
    exporter = SlidesExporter(template_name="course_slides", extra_template_basedirs=[str(TEMPLATES)],
                              reveal_url_prefix=f"../{REVEAL_DIR}", reveal_theme="white", embed_images=True)
    resources = {"course_mathjax_url": f"../_static/{MATHJAX_URL}",
                 "metadata": {"name": lecture.executed.stem, "path": str(lecture.executed.parent)}}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    target = site / (lecture.slides or f"slides/{lecture.executed.stem}.slides.html")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(body, encoding="utf-8")
    return target


def _sphinx(source: Path, site: Path, doctrees: Path) -> None:
    from sphinx.application import Sphinx
    from sphinx.util.docutils import docutils_namespace

    with docutils_namespace():
        app = Sphinx(str(source), str(source), str(site), str(doctrees), "html", status=None,
                     warning=sys.stderr, freshenv=True, keep_going=True)
        app.build()
    if app.statuscode:
        raise RuntimeError(f"sphinx failed to build the site (status {app.statuscode})")



def build_site(executed_dir: Path = BUILD / "executed", site: Path = BUILD / "site",
               exercises_dir: Path | None = REPO / "exercises") -> list[Lecture]:
    """Render the executed lectures in `executed_dir`/lectures, the exercises and the slides into `site`.

    Run times come from `executed_dir`/timings.json (written by ci.run_notebooks). Raises RuntimeError
    naming the URL if a page would load anything from the internet.
    """
    notebooks = sorted((executed_dir / "lectures").glob("*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no executed lectures in {executed_dir / 'lectures'}: run `make course` first")
    reveal = _reveal_source()
    if reveal is None:
        print("slides skipped: reveal.js comes from the sphinx-revealjs package (pip install sphinx-revealjs)")
    timings = _timings(executed_dir)
    lectures = []
    for path in notebooks:
        title, topics = lecture_outline(nbformat.read(path, as_version=4))
        timing = timings.get(f"lectures/{path.name}", {})
        lectures.append(Lecture(path, f"lectures/{path.stem}.html", title or path.stem, topics,
                                timing.get("status", "unknown"), timing.get("seconds"), timing.get("mode", ""),
                                f"slides/{path.stem}.slides.html" if reveal else None))
    exercise_notebooks = sorted(exercises_dir.glob("*/*.ipynb")) if exercises_dir and exercises_dir.is_dir() else []
    with tempfile.TemporaryDirectory(prefix="course-site-") as tmp:
        source = Path(tmp) / "source"
        for folder in ("lectures", "exercises", "_course_static"):
            (source / folder).mkdir(parents=True)
        for lecture in lectures:
            _lecture_page(lecture, source)
        exercises = [doc for _, doc in sorted(_exercise_page(path, source) for path in exercise_notebooks)]
        (source / "index.md").write_text(_landing_page(lectures, exercises), encoding="utf-8")
        (source / "_course_static" / "course.css").write_text(COURSE_CSS, encoding="utf-8")
        (source / "conf.py").write_text(CONF.format(title=TITLE, mathjax=MATHJAX_URL, url=course_url()),
                                        encoding="utf-8")
        if site.exists() and any(site.iterdir()):
            if not (site / "searchindex.js").is_file():  # never wipe a folder that is not an earlier site
                raise FileExistsError(f"{site} is not empty and not a course site: choose another --out")
            shutil.rmtree(site)
        _sphinx(source, site, Path(tmp) / "doctrees")
    shutil.copytree(_mathjax_source(), site / "_static" / "mathjax", ignore=shutil.ignore_patterns("png"))
    if reveal is not None:
        shutil.copytree(reveal, site / REVEAL_DIR, ignore=_reveal_unused)
        for lecture in lectures:
            build_slides(lecture, site)
    problems = offline_problems(site)
    if problems:
        raise RuntimeError(f"pages would load from the internet: {problems}")
    return lectures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executed", type=Path, default=BUILD / "executed", help="folder with lectures/*.ipynb")
    parser.add_argument("--exercises", type=Path, default=REPO / "exercises", help="the exercises' student release")
    parser.add_argument("--out", type=Path, default=BUILD / "site")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    lectures = build_site(args.executed, args.out, args.exercises)
    print(f"site: {args.out / 'index.html'} ({len(lectures)} lectures, slides in {args.out / 'slides'}, "
          f"{time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
