"""The lecturers' handout: every exercise of the course with its solution and its self-check.

Reads the executed notebooks (cells tagged `solution`, each followed by its self-check cell, as
tests/test_notebooks.py requires) and writes one Markdown file, by notebook in reading order: the
exercise's statement (the markdown before it, from the cell that says "Exercise"), the code the
notebook gives for it, the solution, the self-check and what the self-check printed when the notebook
was executed. Generated, not committed (like student/), so it always matches the notebooks:

    make solutions        # -> solutions/README.md   (python3 tools/solutions_handout.py notebooks solutions)

Only the standard library is needed.
"""

import json
import re
import sys
from pathlib import Path

HEADER = """# Exercises and solutions (for lecturers)

Every exercise of the course with its solution and its self-check, in reading order. Generated from
the executed notebooks by `make solutions` (tools/solutions_handout.py): do not edit, run it again after
the notebooks change. Students get the notebooks with the solutions replaced by stubs from `make student`
(student/); the self-checks (`ddim_ref.checks`) tell them whether an answer is right.
"""


def _source(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _is_solution(cell):
    return cell.get("cell_type") == "code" and "solution" in cell.get("metadata", {}).get("tags", [])


def _text_outputs(cell):
    """What a cell printed (streams and text results), as one string."""
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(_source({"source": out.get("text", "")}))
        elif "text/plain" in out.get("data", {}):
            parts.append(_source({"source": out["data"]["text/plain"]}))
        elif out.get("output_type") == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}")
    return "".join(parts).strip()


def _statement(markdown):
    """The exercise's own text: from the last paragraph that says "exercise" (with the heading just
    before it when that heading says so too) to the end; the last paragraph if none does."""
    paragraphs = [p for p in re.split(r"\n\s*\n", markdown.strip()) if p.strip()]
    hits = [k for k, p in enumerate(paragraphs) if re.search(r"exercise", p, re.IGNORECASE)]
    if not hits:
        return "\n\n".join(paragraphs[-1:])
    start = hits[-1]
    if start > 0 and paragraphs[start - 1].lstrip().startswith("#") and start - 1 in hits:
        start -= 1
    return "\n\n".join(paragraphs[start:])


def exercises(nb):
    """The exercises of a notebook dict: dicts with statement (markdown), given (code), solution, check, output."""
    cells = [c for c in nb.get("cells", []) if c.get("cell_type") == "markdown" or _source(c).strip()]
    found = []
    for i, cell in enumerate(cells):
        if not _is_solution(cell):
            continue
        j, given = i - 1, []
        while j >= 0 and cells[j]["cell_type"] == "code" and not _is_solution(cells[j]) and "check_" not in _source(cells[j]):
            given.insert(0, _source(cells[j]))
            j -= 1
        run = []
        while j >= 0 and cells[j]["cell_type"] == "markdown":
            run.insert(0, _source(cells[j]))
            j -= 1
        statement = _statement("\n\n".join(run))
        check = next((c for c in cells[i + 1:] if c["cell_type"] == "code"), None)
        found.append({"statement": statement, "given": given, "solution": _source(cell).strip(),
                      "check": _source(check).strip() if check else "", "output": _text_outputs(check) if check else ""})
    return found


def title(nb, fallback):
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            m = re.search(r"^#\s+(.+)$", _source(cell), re.MULTILINE)
            if m:
                return m.group(1).strip()
    return fallback


def _fence(code, lang="python"):
    ticks = "````" if "```" in code else "```"
    return f"{ticks}{lang}\n{code}\n{ticks}"


def handout(paths):
    """The handout's Markdown for the notebooks at `paths` (in that order)."""
    parts = [HEADER]
    for path in paths:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
        found = exercises(nb)
        parts.append(f"\n## {title(nb, Path(path).stem)}\n\n`notebooks/{Path(path).name}`: {len(found)} "
                     f"exercise{'s' if len(found) != 1 else ''}.\n")
        for n, ex in enumerate(found, 1):
            parts.append(f"\n### {Path(path).name[:2]}, exercise {n}\n")
            if ex["statement"]:
                parts.append("\n".join("> " + line if line else ">" for line in ex["statement"].splitlines()) + "\n")
            if ex["given"]:
                parts.append("Given in the notebook:\n\n" + _fence("\n\n".join(ex["given"])) + "\n")
            parts.append("**Solution:**\n\n" + _fence(ex["solution"]) + "\n")
            if ex["check"]:
                parts.append("Self-check:\n\n" + _fence(ex["check"]) + "\n")
            if ex["output"]:
                parts.append("which printed, when the notebook was executed:\n\n" + _fence(ex["output"], "text") + "\n")
    return "\n".join(parts)


def main(src="notebooks", dst="solutions"):
    paths = sorted(Path(src).glob("[0-9][0-9]_*.ipynb"))
    out = Path(dst)
    out.mkdir(parents=True, exist_ok=True)
    (out / "README.md").write_text(handout(paths), encoding="utf-8")
    count = sum(len(exercises(json.loads(p.read_text(encoding="utf-8")))) for p in paths)
    print(f"{out / 'README.md'}: {count} exercises from {len(paths)} notebooks")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
