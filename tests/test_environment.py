"""The three descriptions of the environment agree: pyproject.toml, constraints.txt, environment.yml."""

import re

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    from pip._vendor import tomli as tomllib

from ci.run_notebooks import REPO


def name(requirement: str) -> str:
    return re.split(r"[=<>!~\[; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pyproject_requirements() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]


def constraints() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            package, version = line.split("==")
            pins[name(package)] = version
    return pins


def conda_pip_requirements() -> dict[str, str]:
    text = (REPO / "environment.yml").read_text()
    return {name(n): v for n, v in re.findall(r"^\s+- ([A-Za-z0-9_.\-]+)==(\S+)", text, flags=re.M)}


def test_environment_yml_lists_the_same_packages_as_pyproject():
    """Every requirement that applies to the environment's Python (tomli, for Python 3.10 only, does not)."""
    from packaging.requirements import Requirement

    python = re.search(r"^\s+- python=(3\.\d+)", (REPO / "environment.yml").read_text(), flags=re.M).group(1)
    applies = [r for r in pyproject_requirements()
               if Requirement(r).marker is None or Requirement(r).marker.evaluate({"python_version": python})]
    assert len(applies) < len(pyproject_requirements())  # tomli is left out on 3.11
    assert set(conda_pip_requirements()) == {name(r) for r in applies}


def test_every_package_is_pinned_to_the_same_version_everywhere():
    pins = constraints()
    for package, version in conda_pip_requirements().items():
        assert pins.get(package) == version, f"{package}: environment.yml {version}, constraints.txt {pins.get(package)}"


def test_torch_is_pinned_to_the_cpu_wheel_version():
    assert "torch==2.13.0" in pyproject_requirements()
    assert constraints()["torch"] == "2.13.0"
    assert "nvidia" not in " ".join(constraints())  # no CUDA packages sneak in


def test_python_version_floor():
    assert tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"] == ">=3.10"
    assert re.search(r"^\s+- python=3\.1[0-9]", (REPO / "environment.yml").read_text(), flags=re.M)


def test_the_slow_optional_iri_checker_is_left_out():
    """The Makefile removes rfc3987-syntax (1.4 s of CPU per nbformat import); jsonschema works without it."""
    import importlib.util

    import jsonschema

    assert "rfc3987-syntax" not in (REPO / "constraints.txt").read_text()
    assert "pip uninstall --quiet --yes rfc3987-syntax" in (REPO / "Makefile").read_text()
    if importlib.util.find_spec("rfc3987_syntax") is None:  # as make builds it (a conda environment may have it)
        assert jsonschema.Draft7Validator({"format": "iri"}, format_checker=jsonschema.FormatChecker()).is_valid("x")
