"""Default reveal.js slide types for the course notebooks (JupyterLab: property inspector, "Slide Type").

nbconvert's slides read `metadata.slideshow.slide_type` of each cell: "slide" starts a slide,
"subslide" a slide below it, "fragment" appears on the next key press, "-" continues the current
slide, "skip" is left out and "notes" goes to the speaker view (press S). The defaults:

- a markdown cell opening with a level-1 or level-2 heading starts a slide, a deeper heading a subslide;
- exercise solutions (cells tagged `solution`) and the self-check cell after each are skipped: a lecture
  shows the exercise, not its answer;
- a code cell that only imports or sets up (imports, seeds, thread counts, `%` magics, setup_notebook()) is skipped;
- a code cell that draws a figure starts a subslide, and so does the markdown cell after a figure;
- a long code cell (more than LONG_CODE lines) without a figure goes to the speaker notes;
- every other cell continues the current slide.

A cell that already has a slide type keeps it, so a lecturer's own choices survive re-runs; `--force`
recomputes every cell. Running it twice changes nothing the second time (idempotent).

`make slides` applies these defaults to temporary copies (tools/slides.py), so the committed notebooks
need not carry them; `make slide-tags` (this script on notebooks/) writes them into the notebooks for a
lecturer who wants to adjust them in JupyterLab.

Usage: python tools/slide_tags.py [--force] [--check] [NOTEBOOK ...]   (default: notebooks/[0-9][0-9]_*.ipynb)
"""

import argparse
import ast
import re
import sys
from pathlib import Path

LONG_CODE = 25
HEADING = re.compile(r"^\s*(#{1,6})\s")
SETUP_CALLS = {"manual_seed", "seed", "set_num_threads", "setup_notebook", "filterwarnings", "simplefilter",
               "set_printoptions", "use", "update"}  # e.g. torch.manual_seed(0), matplotlib.use(...), rcParams.update


def _is_setup(source):
    """True when a code cell only imports, seeds or configures (no result worth a slide)."""
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    try:
        statements = ast.parse(code).body
    except SyntaxError:
        return False
    for node in statements:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        call = node.value if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) else None
        name = getattr(call.func, "attr", getattr(call.func, "id", None)) if call else None
        if name in SETUP_CALLS:
            continue
        if isinstance(node, ast.Assign) and "rcParams" in ast.unparse(node.targets[0]):
            continue
        return False
    return bool(statements) or bool(source.strip())


def _source(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _has_figure(cell):
    return any("image/png" in out.get("data", {}) or "image/svg+xml" in out.get("data", {})
               for out in cell.get("outputs", []))


def default_slide_type(cell, previous=None, after_solution=False):
    """The default slide type of `cell` (see the module docstring); `previous` is the cell before it."""
    source = _source(cell)
    if cell.get("cell_type") == "markdown":
        heading = HEADING.match(source)
        if heading:
            return "slide" if len(heading.group(1)) <= 2 else "subslide"
        if previous is not None and previous.get("cell_type") == "code" and _has_figure(previous):
            return "subslide"
        return "-"
    if cell.get("cell_type") != "code":
        return "-"
    if "solution" in cell.get("metadata", {}).get("tags", []) or after_solution:
        return "skip"
    lines = [line for line in source.splitlines() if line.strip()]
    if lines and _is_setup(source):
        return "skip"
    if _has_figure(cell):
        return "subslide"
    if len(lines) > LONG_CODE:
        return "notes"
    return "-"


def tag_notebook(nb, force=False):
    """Set the default slide type on every cell of the notebook dict that has none (all with force).

    Returns the number of cells changed; `nb` is changed in place.
    """
    changed, previous, after_solution = 0, None, False
    for cell in nb.get("cells", []):
        metadata = cell.setdefault("metadata", {})
        wanted = default_slide_type(cell, previous, after_solution)
        current = metadata.get("slideshow", {}).get("slide_type")
        if current is None or (force and current != wanted):
            metadata["slideshow"] = {**metadata.get("slideshow", {}), "slide_type": wanted}
            changed += 1
        is_solution = cell.get("cell_type") == "code" and "solution" in metadata.get("tags", [])
        # the self-check is the first non-empty code cell after a solution
        if cell.get("cell_type") == "code" and _source(cell).strip():
            after_solution = is_solution
        previous = cell
    return changed


def main(argv=None):
    import nbformat

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--force", action="store_true", help="recompute the slide type of every cell")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook would change")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(Path("notebooks").glob("[0-9][0-9]_*.ipynb"))
    would_change = 0
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        changed = tag_notebook(nb, force=args.force)
        would_change += bool(changed)
        if changed and not args.check:
            nbformat.write(nb, path)
        print(f"{path}: {changed} cells {'would change' if args.check else 'tagged'}")
    return 1 if args.check and would_change else 0


if __name__ == "__main__":
    sys.exit(main())
