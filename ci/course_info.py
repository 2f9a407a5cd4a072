"""The course's one repository URL (pyproject.toml's [project.urls] Repository), the launch links built from it,
and the course's dependencies as pyproject.toml lists them."""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI (a dev dependency there)
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
BRANCH = "main"


def _project() -> dict:
    with PYPROJECT.open("rb") as file:
        return tomllib.load(file)["project"]


def course_url() -> str:
    """The repository URL, e.g. https://github.com/owner/repo."""
    return _project()["urls"]["Repository"].rstrip("/")


def dependencies(*extras: str) -> list[str]:
    """The requirements of course_lib, then those of each named extra (e.g. "hf"), as pyproject.toml writes them."""
    project = _project()
    return project["dependencies"] + [r for extra in extras for r in project["optional-dependencies"][extra]]


def _owner_repo() -> str:
    """'owner/repo' from the GitHub URL."""
    return course_url().removesuffix(".git").split("github.com/", 1)[1]


def colab_url(path: str) -> str:
    """Open the notebook at `path` (relative to the repository root) in Google Colab."""
    return f"https://colab.research.google.com/github/{_owner_repo()}/blob/{BRANCH}/{Path(path).as_posix()}"


def binder_url(path: str) -> str:
    """Open the notebook at `path` (relative to the repository root) in JupyterLab on mybinder.org."""
    return f"https://mybinder.org/v2/gh/{_owner_repo()}/{BRANCH}?urlpath=lab/tree/{Path(path).as_posix()}"
