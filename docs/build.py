"""Build the course website: `make book`, or `python docs/build.py [OUTDIR]` (default build/book).

Sphinx + myst-nb over the committed, executed notebooks (no execution), with docs/conf.py; the
repository root is the source folder. Incremental: a second build only re-reads what changed.
"""

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTDIR = ROOT / "build" / "book"


def build(outdir=OUTDIR, quiet=True):
    """Run sphinx-build; return its exit status (0 = built)."""
    from sphinx.cmd.build import build_main

    args = ["-b", "html", "-c", str(ROOT / "docs"), "-d", str(Path(outdir) / ".doctrees"), "-j", "auto"]
    return build_main(args + (["-q"] if quiet else []) + [str(ROOT), str(outdir)])


if __name__ == "__main__":
    outdir = Path(sys.argv[1]) if len(sys.argv) > 1 else OUTDIR
    start = time.monotonic()
    status = build(outdir)
    if status == 0:
        print(f"website built in {time.monotonic() - start:.0f} s: open {outdir / 'index.html'}")
    sys.exit(status)
