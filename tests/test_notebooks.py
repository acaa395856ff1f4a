"""Notebook hygiene: committed executed, no errors, small, structured as the course requires (nbval runs them)."""

import ast
import importlib
import json
import pkgutil
import sys
from pathlib import Path

import pytest

import ddim_ref

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
sys.path.insert(0, str(ROOT / "tools"))
from student_copies import STUB, student_copy  # noqa: E402


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def source(cell):
    return "".join(cell["source"])


def package_names():
    """Public functions and classes defined in ddim_ref's modules."""
    names = set()
    for mod in pkgutil.walk_packages(ddim_ref.__path__, "ddim_ref."):  # also the submodules of ddim_ref.plotting
        if mod.name.endswith("__main__"):
            continue
        module = importlib.import_module(mod.name)
        names |= {n for n, v in vars(module).items() if not n.startswith("_") and getattr(v, "__module__", None) == module.__name__}
    return names


def test_there_are_notebooks():
    if not NOTEBOOKS:
        pytest.skip("no notebooks yet")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_executed_without_errors_and_small(path):
    nb = load(path)
    cells = code_cells(nb)
    unrun = [i for i, c in enumerate(cells) if c.get("execution_count") is None]
    assert not unrun, f"{path.name}: code cells {unrun} are not executed; run `make execute`"
    errors = [source(c)[:60] for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: stored error outputs in cells starting {errors}"
    counts = [c["execution_count"] for c in cells]
    assert counts == sorted(counts), f"{path.name}: cells were executed out of order"
    assert path.stat().st_size < 3e6, f"{path.name} is {path.stat().st_size / 1e6:.1f} MB; keep figures small"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_structure(path):
    nb = load(path)
    md = [source(c) for c in nb["cells"] if c["cell_type"] == "markdown"]
    code = [source(c) for c in code_cells(nb)]
    assert "learning goals" in md[0].lower() or "learning goals" in md[1].lower(), "opens with learning goals"
    assert any("summary" in m.lower() for m in md[-2:]), "closes with a summary"
    assert any("ddim_ref" in c for c in code), "imports the package"
    assert any("NBVAL_CHECK_OUTPUT" in c for c in code), "prints key numbers checked by nbval"
    assert any("assert " in c for c in code), "asserts what it demonstrates"
    assert any("explorer" in c for c in code), "has an ipywidgets explorer"
    solutions = [i for i, c in enumerate(code_cells(nb)) if "solution" in c.get("metadata", {}).get("tags", [])]
    assert 1 <= len(solutions) <= 3, "1-3 exercises with solution cells tagged `solution`"
    for i in solutions:
        assert "check_" in code[i + 1], f"solution cell {i} must be followed by a self-check cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_does_not_redefine_the_package(path):
    names = package_names()
    for c in code_cells(load(path)):
        if "solution" in c.get("metadata", {}).get("tags", []):
            continue  # exercises are the only code a notebook owns
        src = "\n".join(line for line in source(c).splitlines() if not line.lstrip().startswith(("%", "!")))
        defined = {n.name for n in ast.walk(ast.parse(src)) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        assert not defined & names, f"{path.name} redefines {defined & names}; import it from ddim_ref"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_student_copy_hides_solutions(path):
    nb = load(path)
    student = student_copy(nb)
    for orig, stu in zip(nb["cells"], student["cells"]):
        if "solution" in orig.get("metadata", {}).get("tags", []):
            assert source(stu) == STUB and "exercise" in stu["metadata"]["tags"]
        elif orig["cell_type"] == "code":
            assert source(stu) == source(orig) and stu["outputs"] == []
