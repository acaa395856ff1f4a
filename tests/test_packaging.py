"""Set-up: environment.yml and pyproject.toml name the same packages; the CI runs the README's test command."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONDA_TO_PIP = {"pytorch": "torch", "playwright-python": "playwright"}  # conda-forge names that differ from PyPI's


def names(requirements):
    return {re.split(r"[<>=!~\[ ;]", r.strip(), maxsplit=1)[0].lower() for r in requirements if r.strip()}


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_names = names(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        pip_names |= names(extra)
    conda = []
    text = (ROOT / "environment.yml").read_text()
    for line in text[text.index("dependencies:"):].splitlines():
        m = re.match(r"^  - ([A-Za-z0-9_.-]+)", line)  # top-level conda dependencies (pip's block is deeper)
        if m and m.group(1) not in ("python", "pip"):
            conda.append(CONDA_TO_PIP.get(m.group(1), m.group(1)))
    assert set(conda) == pip_names
    assert "-e ." in (ROOT / "environment.yml").read_text()


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make lab" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
