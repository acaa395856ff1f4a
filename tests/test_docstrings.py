"""Every docstring's "notebooks/NN" points to a notebook that exists and uses that function or class by name."""

import importlib
import inspect
import json
import pkgutil
import re
from pathlib import Path

import ddim_ref

ROOT = Path(ddim_ref.__file__).resolve().parent.parent
NOTEBOOKS = {p.name[:2]: p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}


def _notebook_text(key, cache={}):
    if key not in cache:
        cells = json.loads(NOTEBOOKS[key].read_text(encoding="utf-8"))["cells"]
        cache[key] = "\n".join("".join(c["source"]) for c in cells)  # code and markdown, not outputs
    return cache[key]


def _documented():
    """(module, name, cited notebook numbers) of every public function and class whose docstring cites notebooks."""
    for mod in pkgutil.walk_packages(ddim_ref.__path__, "ddim_ref."):
        if mod.name.endswith("__main__"):
            continue
        module = importlib.import_module(mod.name)
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            refs = sorted(set(re.findall(r"notebooks/(\d\d)", inspect.getdoc(obj) or "")))
            if refs:
                yield mod.name, name, refs


def test_cited_notebooks_exist_and_use_the_name():
    missing, unused = [], []
    for module, name, refs in _documented():
        missing += [f"{module}.{name} -> notebooks/{r}" for r in refs if r not in NOTEBOOKS]
        if not any(re.search(rf"\b{re.escape(name)}\b", _notebook_text(r)) for r in refs if r in NOTEBOOKS):
            unused.append(f"{module}.{name} (cites {', '.join(refs)})")
    assert not missing, f"docstrings cite notebooks that do not exist: {missing}"
    assert not unused, f"docstrings cite notebooks that never mention the name: {unused}"
