"""The course's static site: build/site/index.html and one HTML page per executed lecture.

    python -m ci.build_site                                # from build/executed (`make course` runs it)
    python -m ci.build_site --executed DIR --out DIR

The index lists every lecture with its topics (its sections) and how long it ran. A page shows the
executed notebook with its figures embedded, and its widgets drawn as static HTML from the widget state
that the run saved (a slider appears where it was left; moving it needs JupyterLab, and the page says so).
The pages load nothing from the internet: nbconvert's require.js, widget manager and Mermaid scripts are
left out and MathJax comes from a local copy (the `jupyter-server-mathjax` package). A page that would
still load a remote script, stylesheet or image fails the build (`remote_references`).
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import re
import shutil
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "build"
TEMPLATES = Path(__file__).resolve().parent / "site_template"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
MATHJAX_URL = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"
LIVE_NOTE = ("Widgets (sliders, drop-downs) are shown as they were when the notebook ran; to move them, open "
             "the notebook in JupyterLab (<code>make lab</code>).")
NOT_TOPICS = re.compile(r"^(set-?up|summary|in-class quiz)\b", re.I)


# ---- widgets as static HTML --------------------------------------------------------------------

def _ref(value: object) -> str | None:
    """The model id in an 'IPY_MODEL_<id>' reference."""
    return value[len("IPY_MODEL_"):] if isinstance(value, str) and value.startswith("IPY_MODEL_") else None


def _labelled(state: dict, control: str) -> str:
    label = html.escape(state.get("description") or "")
    return f"<span class='course-widget-row'><label>{label}</label>{control}</span>"


def _output_html(output: dict, models: dict) -> str:
    """One nbformat output (from an Output widget's state) as HTML, images inline."""
    kind = output.get("output_type")
    if kind == "stream":
        return f"<pre>{html.escape(output.get('text', ''))}</pre>"
    if kind == "error":
        return f"<pre>{html.escape(output.get('ename', ''))}: {html.escape(output.get('evalue', ''))}</pre>"
    data = output.get("data", {})
    if WIDGET_VIEW in data:
        return widget_html(data[WIDGET_VIEW].get("model_id", ""), models)
    for mime in ("image/png", "image/jpeg"):
        if mime in data:
            payload = "".join(data[mime]) if isinstance(data[mime], list) else data[mime]
            return f"<img src='data:{mime};base64,{payload.strip()}' alt='figure'>"
    if "image/svg+xml" in data:
        svg = "".join(data["image/svg+xml"]) if isinstance(data["image/svg+xml"], list) else data["image/svg+xml"]
        return f"<img src='data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode()}' alt='figure'>"
    if "text/html" in data:
        return "".join(data["text/html"]) if isinstance(data["text/html"], list) else data["text/html"]
    if "text/plain" in data:
        text = "".join(data["text/plain"]) if isinstance(data["text/plain"], list) else data["text/plain"]
        return f"<pre>{html.escape(text)}</pre>"
    return ""


def widget_html(model_id: str, models: dict, _depth: int = 0) -> str:
    """The widget `model_id` (and its children) as static HTML, from the saved widget state."""
    model = models.get(model_id)
    if model is None or _depth > 50:
        return "<span class='course-widget'>[widget not saved]</span>"
    name, state = model.get("model_name", ""), model.get("state", {})
    value = state.get("value")
    if name in ("VBoxModel", "HBoxModel", "BoxModel", "GridBoxModel", "AccordionModel", "TabModel", "StackModel"):
        kind = "course-widget-vbox" if name in ("VBoxModel", "AccordionModel", "TabModel", "StackModel") else ""
        children = "".join(widget_html(_ref(c) or "", models, _depth + 1) for c in state.get("children", []))
        return f"<div class='course-widget course-widget-box {kind}'>{children}</div>"
    if name == "OutputModel":
        inner = "".join(_output_html(o, models) for o in state.get("outputs", []))
        return f"<div class='course-widget course-widget-output'>{inner}</div>"
    if name in ("IntSliderModel", "FloatSliderModel", "FloatLogSliderModel"):
        control = (f"<input type='range' min='{state.get('min')}' max='{state.get('max')}' "
                   f"step='{state.get('step') or 'any'}' value='{value}' disabled><output>{value}</output>")
        return _labelled(state, control)
    if name in ("SelectionSliderModel", "DropdownModel", "SelectModel", "RadioButtonsModel", "ToggleButtonsModel"):
        labels, index = state.get("_options_labels", []), state.get("index")
        options = "".join(f"<option{' selected' if i == index else ''}>{html.escape(str(label))}</option>"
                          for i, label in enumerate(labels))
        return _labelled(state, f"<select disabled>{options}</select>")
    if name in ("IntRangeSliderModel", "FloatRangeSliderModel"):
        return _labelled(state, f"<output>{html.escape(str(value))}</output>")
    if name in ("FloatProgressModel", "IntProgressModel"):
        return _labelled(state, f"<progress value='{value}' max='{state.get('max')}'></progress>")
    if name in ("HTMLModel", "HTMLMathModel"):
        return _labelled(state, f"<div>{value or ''}</div>") if state.get("description") else f"<div>{value or ''}</div>"
    if name in ("CheckboxModel", "ToggleButtonModel"):
        return _labelled(state, f"<input type='checkbox' disabled{' checked' if value else ''}>")
    if name == "ButtonModel":
        return f"<button disabled>{html.escape(state.get('description', ''))}</button>"
    if name == "ImageModel":
        return "<span class='course-widget'>[image widget]</span>"
    if value is not None:  # Label, Text, IntText, ... : show the value
        return _labelled(state, f"<output>{html.escape(str(value))}</output>")
    return f"<span class='course-widget'>[{html.escape(name)}]</span>"


def render_widgets_static(nb: nbformat.NotebookNode) -> int:
    """Replace every widget output by static HTML drawn from the notebook's saved widget state.

    Returns the number of widgets drawn. Widgets whose state was not saved keep their text fallback.
    The state itself is dropped from the metadata, so nbconvert adds no (remote) widget manager script.
    """
    models = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    drawn = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view and view.get("model_id") in models:
                output["data"] = {"text/html": widget_html(view["model_id"], models)}
                drawn += 1
    nb.metadata.pop("widgets", None)
    return drawn


# ---- offline check ---------------------------------------------------------------------------

REMOTE = re.compile(r"^\s*(https?:)?//", re.I)
URL_IN_TEXT = re.compile(r"https?://[^\s'\"<>)]+", re.I)
CSS_URL = re.compile(r"(?:url\(\s*['\"]?|@import\s+['\"]?)(\s*(?:https?:)?//[^'\")\s]+)", re.I)


class _References(HTMLParser):
    """Collects what a page would load: src/href of script, link, img, iframe, media; inline scripts and styles."""

    LOADS = {"script": "src", "img": "src", "iframe": "src", "embed": "src", "source": "src", "audio": "src",
             "video": "src", "track": "src", "input": "src", "link": "href", "object": "data"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.loads: list[tuple[str, str]] = []  # (tag, url)
        self.inline: list[tuple[str, str]] = []  # (tag, text) of <script> and <style> bodies
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in self.LOADS and attributes.get(self.LOADS[tag]):
            self.loads.append((tag, attributes[self.LOADS[tag]] or ""))
        if tag in ("img", "source") and attributes.get("srcset"):
            self.loads.extend((tag, part.split()[0]) for part in (attributes["srcset"] or "").split(",") if part.strip())
        if attributes.get("style"):
            self.inline.append(("style", attributes["style"] or ""))
        self._open = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag: str) -> None:
        self._open = None

    def handle_data(self, data: str) -> None:
        if self._open:
            self.inline.append((self._open, data))


def page_references(page: str) -> _References:
    parser = _References()
    parser.feed(page)
    return parser


def remote_references(page: str) -> list[str]:
    """Every http(s) or protocol-relative URL that the page would load (scripts, styles, images, frames, CSS)."""
    refs = page_references(page)
    found = [f"<{tag}> {url}" for tag, url in refs.loads if REMOTE.match(url)]
    for tag, text in refs.inline:
        if tag == "script":  # a script that names a URL may import or fetch it
            found += [f"<script> text names {url}" for url in URL_IN_TEXT.findall(text)]
        else:
            found += [f"<{tag}> css loads {url.strip()}" for url in CSS_URL.findall(text)]
    return found


# ---- pages -----------------------------------------------------------------------------------

@dataclass
class Lecture:
    executed: Path  # the executed notebook
    page: str  # file name of its page in the site
    title: str
    topics: list[str]
    status: str  # 'ok', 'failed', 'timeout' or 'unknown'
    seconds: float | None
    mode: str


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


def _exporter():
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="course", extra_template_basedirs=[str(TEMPLATES)], embed_images=True)


def _copy_mathjax(site: Path) -> bool:
    """Copy MathJax (from jupyter-server-mathjax) into the site; False if that package is missing."""
    try:
        import jupyter_server_mathjax
    except ImportError:
        return False
    source = Path(jupyter_server_mathjax.__file__).parent / "static"
    if not (site / "mathjax" / "MathJax.js").is_file():
        shutil.copytree(source, site / "mathjax", dirs_exist_ok=True)
    return True


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "not recorded"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def render_lecture(lecture: Lecture, site: Path, with_mathjax: bool) -> Path:
    """The lecture's page: the executed notebook with figures embedded and widgets drawn statically."""
    nb = nbformat.read(lecture.executed, as_version=4)
    render_widgets_static(nb)
    nb.metadata["title"] = lecture.title or lecture.executed.stem
    ran = f"ran in {_duration(lecture.seconds)}" + (f" ({lecture.mode} mode)" if lecture.mode else "")
    status = "" if lecture.status in ("ok", "unknown") else f" <b>The run {lecture.status}.</b>"
    resources = {
        "course_mathjax_url": MATHJAX_URL if with_mathjax else "",
        "course_banner": f"Executed notebook, {ran}.{status} {LIVE_NOTE}",
        "metadata": {"name": lecture.executed.stem, "path": str(lecture.executed.parent)},
    }
    body, _ = _exporter().from_notebook_node(nb, resources=resources)
    target = site / lecture.page
    target.write_text(body, encoding="utf-8")
    return target


INDEX_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 960px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 8px; border-bottom: 1px solid #ddd; }
td.time { white-space: nowrap; }
.note { background: #fff8e1; border: 1px solid #e0c46c; padding: 8px 12px; }
.failed { color: #b00020; font-weight: bold; }
"""


def render_index(lectures: list[Lecture], site: Path) -> Path:
    rows = []
    for lecture in lectures:
        topics = "; ".join(html.escape(t) for t in lecture.topics)
        state = "" if lecture.status in ("ok", "unknown") else f" <span class='failed'>{lecture.status}</span>"
        mode = f" ({html.escape(lecture.mode)})" if lecture.mode else ""
        rows.append(f"<tr><td><a href='{html.escape(lecture.page)}'>{html.escape(lecture.title)}</a></td>"
                    f"<td>{topics}</td><td class='time'>{_duration(lecture.seconds)}{mode}{state}</td></tr>")
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>Deep learning for vision and attention: executed lectures</title>
<style>{INDEX_STYLE}</style>
</head>
<body>
<h1>Deep learning for vision and attention</h1>
<p>The course's lectures, executed, with their figures. Each page is the notebook as it ran (run time below).</p>
<p class="note">{LIVE_NOTE}</p>
<table>
<thead><tr><th>lecture</th><th>topics</th><th>run time</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
</body>
</html>
"""
    target = site / "index.html"
    target.write_text(page, encoding="utf-8")
    return target


def build_site(executed_dir: Path = BUILD / "executed", site: Path = BUILD / "site") -> list[Lecture]:
    """Render every executed lecture in `executed_dir`/lectures and the index into `site`.

    Run times come from `executed_dir`/timings.json (written by ci.run_notebooks). Raises RuntimeError
    if a page would load anything from the internet.
    """
    notebooks = sorted((executed_dir / "lectures").glob("*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no executed lectures in {executed_dir / 'lectures'}: run `make course` first")
    site.mkdir(parents=True, exist_ok=True)
    with_mathjax = _copy_mathjax(site)
    timings = _timings(executed_dir)
    lectures = []
    for path in notebooks:
        title, topics = lecture_outline(nbformat.read(path, as_version=4))
        timing = timings.get(f"lectures/{path.name}", {})
        lecture = Lecture(path, path.with_suffix(".html").name, title or path.stem, topics,
                          timing.get("status", "unknown"), timing.get("seconds"), timing.get("mode", ""))
        render_lecture(lecture, site, with_mathjax)
        lectures.append(lecture)
    render_index(lectures, site)
    problems = {p.name: remote_references(p.read_text(encoding="utf-8")) for p in sorted(site.glob("*.html"))}
    problems = {name: refs for name, refs in problems.items() if refs}
    if problems:
        raise RuntimeError(f"pages would load from the internet: {problems}")
    return lectures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executed", type=Path, default=BUILD / "executed", help="folder with lectures/*.ipynb")
    parser.add_argument("--out", type=Path, default=BUILD / "site")
    args = parser.parse_args(argv)
    lectures = build_site(args.executed, args.out)
    print(f"site: {args.out / 'index.html'} ({len(lectures)} lectures)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
