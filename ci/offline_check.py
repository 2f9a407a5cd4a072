"""What a page of the course site would load from the internet (its scripts, styles, images, frames, fonts).

The site must work offline: `offline_problems` lists every remote load in a built site, and the builder fails
on any (tests/test_site.py, tests/test_browser.py).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

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


# ---- the Sphinx source folder ----------------------------------------------------------------

def offline_problems(site: Path) -> dict[str, list[str]]:
    """Remote loads in every page and style sheet of the site (MathJax's own files excepted)."""
    problems = {}
    for path in sorted(site.rglob("*")):
        relative = path.relative_to(site).as_posix()
        if relative.startswith(("_static/mathjax/", "_sources/")) or path.suffix not in (".html", ".css"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        found = remote_references(text) if path.suffix == ".html" else [
            f"css loads {url.strip()}" for url in CSS_URL.findall(text)]
        if found:
            problems[relative] = found
    return problems

