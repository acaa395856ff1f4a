"""Write student copies of the notebooks: cells tagged `solution` become a stub, outputs are cleared.

Usage: python tools/student_copies.py [notebooks/] [student/]   (or `make student`)
"""

import json
import sys
from pathlib import Path

STUB = "# YOUR CODE HERE: write your answer, then run the check cell below.\nraise NotImplementedError"


def student_copy(nb):
    """The notebook dict with every `solution` cell replaced by a stub and all outputs removed."""
    cells = []
    for cell in nb["cells"]:
        cell = dict(cell)
        if cell["cell_type"] == "code":
            if "solution" in cell.get("metadata", {}).get("tags", []):
                cell["source"] = STUB
                cell["metadata"] = {**cell["metadata"], "tags": [t for t in cell["metadata"]["tags"] if t != "solution"] + ["exercise"]}
            cell["outputs"], cell["execution_count"] = [], None
        cells.append(cell)
    return {**nb, "cells": cells}


def main(src="notebooks", dst="student"):
    src, dst = Path(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.glob("*.ipynb")):
        nb = student_copy(json.loads(path.read_text(encoding="utf-8")))
        (dst / path.name).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"{dst / path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
