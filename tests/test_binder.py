"""binder/: a configuration repo2docker (mybinder.org) accepts, with the CPU build of torch and the course's pins.

Offline and cheap: the files are read with pip's own requirements parser; nothing is installed.
"""

import json
import os
import re
import subprocess
import sys
import tomllib
from types import SimpleNamespace

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from ci.run_notebooks import REPO

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pip.*")  # pip's own parser, read as pip reads it
BINDER = REPO / "binder"
# The files repo2docker reads from binder/ (it then ignores the root's environment.yml, whose torch is PyPI's CUDA build).
REPO2DOCKER_FILES = {"requirements.txt", "runtime.txt", "postBuild", "environment.yml", "apt.txt", "start",
                     "install.R", "Project.toml", "REQUIRE", "setup.py", "Pipfile", "Pipfile.lock", "Dockerfile",
                     ".python-version", "README.md"}


def name(requirement: str) -> str:
    return re.split(r"[=<>!~\[; @]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def pyproject_requirements() -> list[str]:
    return pyproject()["dependencies"] + [r for extra in pyproject()["optional-dependencies"].values() for r in extra]


def constraints() -> dict[str, str]:
    lines = (REPO / "constraints.txt").read_text().splitlines()
    return dict((name(p), v) for p, v in (line.split("==") for line in lines if line and not line.startswith("#")))


PIP_READS = """
import json, sys
from pip._internal.network.session import PipSession
from pip._internal.req.req_file import parse_requirements
lines = parse_requirements(sys.argv[1], session=PipSession())
print(json.dumps([[r.requirement, r.constraint, r.is_editable] for r in lines]))
"""


@pytest.fixture(scope="module")
def parsed():
    """(requirement lines, constraint lines, text) as pip reads binder/requirements.txt.

    pip's parser runs in a process of its own: importing pip._internal here would install its distutils shim in
    the test worker and break later imports of setuptools' distutils (nbgrader's, in the grading tests)."""
    done = subprocess.run([sys.executable, "-c", PIP_READS, str(BINDER / "requirements.txt")], capture_output=True,
                          text=True, check=True)
    lines = [SimpleNamespace(requirement=r, constraint=c, is_editable=e) for r, c, e in json.loads(done.stdout)]
    text = (BINDER / "requirements.txt").read_text()
    return [r for r in lines if not r.constraint], [r for r in lines if r.constraint], text


def test_every_file_is_one_repo2docker_reads():
    files = {p.name for p in BINDER.iterdir()}
    assert files <= REPO2DOCKER_FILES, f"repo2docker ignores {files - REPO2DOCKER_FILES}"
    assert "requirements.txt" in files and "Dockerfile" not in files  # the Python build pack, not a hand-made image


def test_runtime_is_a_python_version_the_course_supports():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    match = re.fullmatch(r"python-3\.(\d+)", runtime)
    assert match, f"repo2docker wants 'python-X.Y', got {runtime!r}"
    assert int(match[1]) >= 10  # pyproject.toml: requires-python >= 3.10 (and tomllib in ci/ needs 3.11)


def test_torch_is_the_cpu_build_at_the_version_pyproject_pins(parsed):
    requirements, _, text = parsed
    pinned = next(Requirement(r) for r in pyproject_requirements() if name(r) == "torch")
    torch = [Requirement(r.requirement) for r in requirements if name(r.requirement) == "torch"]
    assert len(torch) == 1
    (spec,) = torch[0].specifier
    assert spec.operator == "==" and Version(spec.version).local == "cpu"
    assert Version(spec.version).public in pinned.specifier  # 2.13.0+cpu is pyproject's torch==2.13.0
    assert Version(spec.version).public == constraints()["torch"]
    assert re.search(r"^--(extra-)?index-url https://download\.pytorch\.org/whl/cpu\s*$", text, flags=re.M)


def test_every_other_requirement_agrees_with_constraints_txt(parsed):
    requirements, constraint_lines, _ = parsed
    pins = constraints()
    assert constraint_lines, "binder/requirements.txt should constrain everything with -c ../constraints.txt"
    assert {name(c.requirement) for c in constraint_lines} == set(pins)  # pip found the file: the -c path is right
    for line in requirements:
        if line.is_editable or name(line.requirement) == "torch":
            continue
        requirement = Requirement(line.requirement)
        assert name(requirement.name) in pins, f"{requirement.name} is not pinned in constraints.txt"
        assert not requirement.specifier or Version(pins[name(requirement.name)]) in requirement.specifier


def test_the_course_itself_is_installed_with_its_lab_extras(parsed):
    requirements, _, _ = parsed
    (course,) = [r for r in requirements if r.is_editable]
    match = re.fullmatch(r"\.(?:\[([a-z,]+)\])?", course.requirement)  # `-e .`: the repository root repo2docker runs in
    assert match, course.requirement
    extras = set((match[1] or "").split(","))
    assert {"dev", "hf"} <= extras  # JupyterLab's course extensions (nbgrader, slides) and real models
    optional = pyproject()["optional-dependencies"]
    installed = {name(r) for extra in extras for r in optional.get(extra, [])}
    for wanted in ("jupyterlab", "jupyterlab-rise", "ipykernel"):
        if any(name(r) == wanted for r in pyproject_requirements()):  # RISE arrives with the slides
            assert wanted in installed, f"{wanted} is in pyproject.toml but not in an extra Binder installs"


def test_post_build_is_an_executable_script_that_sets_the_lab_defaults():
    post_build = BINDER / "postBuild"
    text = post_build.read_text()
    assert text.startswith("#!/bin/bash\n") and os.access(post_build, os.X_OK)
    assert "set -euo pipefail" in text  # a failing step fails the Binder build, not the first student
    source = re.search(r"^cp (\S+) ", text, flags=re.M)[1]
    assert (REPO / source).is_file()  # postBuild runs in the repository root
