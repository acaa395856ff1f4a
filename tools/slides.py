"""reveal.js slides of the course notebooks, for lecturing: `make slides` -> build/slides/NN_name.slides.html.

Each notebook is read, its widget explorers replaced by their saved figures (tools/static_widgets.py),
long markdown cells split at blank lines into slide-sized parts, and its cells given the default slide
types of tools/slide_tags.py where they have none (a copy in memory: the committed notebooks are not
changed), then exported by nbconvert's SlidesExporter with the
template docs/slides/templates/ddim_reveal. That template is nbconvert's reveal template without its
CDN scripts (jQuery, require.js, mermaid, the widget manager): the slides load reveal.js and MathJax
from folders next to them, so build/slides/ works offline and can be copied as a whole:

- reveal.js 4.6.1 from the npm registry (docs/slides/package.json and package-lock.json; installed with
  `npm ci` into docs/slides/node_modules on first use; needs Node.js and npm);
- MathJax 2.7.9 from the pip package jupyter-server-mathjax (the `book` extra), as on the website.

Open a deck in a browser: arrow keys move, S opens the speaker view with the notes, F is full screen.

Usage: python tools/slides.py [--out build/slides] [NOTEBOOK ...]   (default: notebooks/[0-9][0-9]_*.ipynb)
"""

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SLIDES_DIR = ROOT / "docs" / "slides"
TEMPLATES = SLIDES_DIR / "templates"
REVEAL = SLIDES_DIR / "node_modules" / "reveal.js"
OUT = ROOT / "build" / "slides"
MATHJAX_URL = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
SLIDE_BUDGET = 900  # about what fits on a 960 x 700 slide at nbconvert's 20 px font (see _weight)
sys.path.insert(0, str(Path(__file__).resolve().parent))

import slide_tags  # noqa: E402
import static_widgets  # noqa: E402


def install_reveal():
    """reveal.js from the npm registry into docs/slides/node_modules (`npm ci`, pinned by package-lock.json)."""
    lock = SLIDES_DIR / "package-lock.json"
    stamp = SLIDES_DIR / "node_modules" / ".package-lock.json"  # npm writes it after an install
    if (REVEAL / "dist" / "reveal.js").exists() and stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("make slides needs Node.js and npm to install reveal.js from the npm registry "
                         "(Debian/Ubuntu: sudo apt-get install nodejs npm; or https://nodejs.org)")
    print("installing reveal.js (docs/slides/package-lock.json) with npm ci ...", flush=True)
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=SLIDES_DIR, check=True)


def copy_assets(out):
    """reveal.js (dist/ and the notes plugin) and MathJax into `out`, next to the slides."""
    import jupyter_server_mathjax

    copies = [(REVEAL / "dist", out / "reveal.js" / "dist"), (REVEAL / "plugin" / "notes", out / "reveal.js" / "plugin" / "notes"),
              (Path(jupyter_server_mathjax.__file__).parent / "static", out / "mathjax")]
    for source, target in copies:
        stamp = target / ".copied-from"
        if stamp.exists() and stamp.read_text() == f"{source} {source.stat().st_mtime_ns}":
            continue
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target)
        stamp.write_text(f"{source} {source.stat().st_mtime_ns}")
    shutil.copy(REVEAL / "LICENSE", out / "reveal.js" / "LICENSE")


def _paragraphs(text):
    """The blocks of a markdown text separated by blank lines, never inside a fenced code block or $$ math."""
    blocks, current, fenced, in_math = [], [], False, False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            fenced = not fenced
        if not fenced and stripped.count("$$") % 2:
            in_math = not in_math
        if not stripped and not fenced and not in_math:
            if current:
                blocks.append("\n".join(current))
            current = []
        else:
            current.append(line)
    if current:
        blocks.append("\n".join(current))
    merged = []  # a block that goes on with a sentence (after an equation: "where ...") stays with the one before
    for block in blocks:
        if merged and block.lstrip()[:1].islower():
            merged[-1] += "\n\n" + block
        else:
            merged.append(block)
    return merged


def _weight(block):
    """Roughly how much of a slide a markdown block fills: characters, plus a display equation's height."""
    return len(block) + 250 * block.count("$$") // 2


def split_long_markdown(nb, budget=SLIDE_BUDGET):
    """Split each long markdown cell that has no slide type of its own at blank lines into cells of about
    `budget` (see _weight), so that a section written as one cell becomes several slides (the parts after
    the first become subslides when tagged). Changes the notebook node in place; returns it."""
    import nbformat

    cells = []
    for cell in nb.cells:
        if cell.cell_type != "markdown" or "slideshow" in cell.metadata or _weight(cell.source) <= budget:
            cells.append(cell)
            continue
        chunks, current = [], []
        for block in _paragraphs(cell.source):
            if current and sum(map(_weight, current)) + _weight(block) > budget:
                chunks.append(current)
                current = []
            current.append(block)
        chunks.append(current)
        for i, chunk in enumerate(chunks):
            part = nbformat.v4.new_markdown_cell("\n\n".join(chunk), metadata=dict(cell.metadata))
            if i:  # a continuation: a new subslide (unless it opens with a heading, which decides itself)
                part.metadata["slideshow"] = {"slide_type": slide_tags.default_slide_type(part) if
                                              slide_tags.HEADING.match(part.source) else "subslide"}
            cells.append(part)
    nb.cells = cells
    return nb


def exporter():
    from nbconvert import SlidesExporter
    from traitlets.config import Config

    config = Config()
    config.SlidesExporter.reveal_url_prefix = "reveal.js"
    config.SlidesExporter.reveal_theme = "white"  # its fonts ship with reveal.js; some themes load Google Fonts
    config.SlidesExporter.reveal_transition = "none"
    config.SlidesExporter.reveal_number = "c/t"
    config.SlidesExporter.reveal_scroll = True
    config.SlidesExporter.mathjax_url = MATHJAX_URL
    return SlidesExporter(config=config, template_name="ddim_reveal", extra_template_basedirs=[str(TEMPLATES)])


def build_deck(path, out, slides_exporter=None):
    """Write out/<notebook stem>.slides.html for one notebook; return its path."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nb = nbformat.from_dict(static_widgets.static_widgets(nb))
    split_long_markdown(nb)
    slide_tags.tag_notebook(nb)
    body, _ = (slides_exporter or exporter()).from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
    target = Path(out) / f"{path.stem}.slides.html"
    target.write_text(body, encoding="utf-8")
    return target


def build(notebooks=None, out=OUT):
    """Slides of `notebooks` (default: all course notebooks) in `out`, with reveal.js and MathJax; return the paths."""
    notebooks = [Path(p) for p in notebooks] if notebooks else sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    install_reveal()
    copy_assets(out)
    slides_exporter = exporter()
    return [build_deck(path, out, slides_exporter) for path in notebooks]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    start = time.monotonic()
    paths = build(args.notebooks, args.out)
    for path in paths:
        print(path)
    print(f"{len(paths)} slide decks in {time.monotonic() - start:.0f} s; open one in a browser "
          "(arrow keys move, S opens the speaker notes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
