"""The course's one repository URL (pyproject.toml's [project.urls] Repository) and the launch links built from it."""

from __future__ import annotations

import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
BRANCH = "main"


def course_url() -> str:
    """The repository URL, e.g. https://github.com/owner/repo."""
    with PYPROJECT.open("rb") as file:
        return tomllib.load(file)["project"]["urls"]["Repository"].rstrip("/")


def _owner_repo() -> str:
    """'owner/repo' from the GitHub URL."""
    return course_url().removesuffix(".git").split("github.com/", 1)[1]


def colab_url(path: str) -> str:
    """Open the notebook at `path` (relative to the repository root) in Google Colab."""
    return f"https://colab.research.google.com/github/{_owner_repo()}/blob/{BRANCH}/{Path(path).as_posix()}"


def binder_url(path: str) -> str:
    """Open the notebook at `path` (relative to the repository root) in JupyterLab on mybinder.org."""
    return f"https://mybinder.org/v2/gh/{_owner_repo()}/{BRANCH}?urlpath=lab/tree/{Path(path).as_posix()}"
