"""The tools behind the website, the slides and the lecturers' handout (no browser; the browser tests are in tests/e2e).

tools/static_widgets.py, tools/slide_tags.py, tools/solutions_handout.py and docs/course_site.py's
pure parts, on the committed notebooks (found by glob, so notebooks added later are covered too).
"""

import copy
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
sys.path.insert(0, str(ROOT / "tools"))
import slide_tags  # noqa: E402
import solutions_handout  # noqa: E402
import static_widgets  # noqa: E402

WIDGET_VIEW = static_widgets.WIDGET_VIEW


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_static_widgets_replace_every_widget_by_its_saved_outputs(path):
    nb = load(path)
    before = copy.deepcopy(nb)
    static = static_widgets.static_widgets(nb)
    assert nb == before, "the notebook itself is not changed"
    assert "widgets" not in static["metadata"]
    outputs = [o for c in static["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if WIDGET_VIEW in o.get("data", {})], "a widget output is left"
    explorers = [c for c in nb["cells"] if c["cell_type"] == "code" and "explorer" in source(c)
                 and any(WIDGET_VIEW in o.get("data", {}) for o in c.get("outputs", []))]
    for cell in explorers:  # each explorer shows the note and the figure it had when saved
        index = nb["cells"].index(cell)
        shown = static["cells"][index]["outputs"]
        assert any(static_widgets.NOTE_CLASS in o.get("data", {}).get("text/html", "") for o in shown), source(cell)[:60]
        assert any("image/png" in o.get("data", {}) for o in shown), source(cell)[:60]


def test_static_widgets_progress_bar_becomes_text():
    states = {
        "box": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_a", "IPY_MODEL_b", "IPY_MODEL_c"]}},
        "a": {"model_name": "HTMLModel", "state": {"value": "training:\u2007100%", "description": ""}},
        "b": {"model_name": "FloatProgressModel", "state": {"value": 5.0, "max": 10.0, "description": ""}},
        "c": {"model_name": "HTMLModel", "state": {"value": " 5/10 [00:01&lt;00:01]", "description": ""}},
    }
    (out,) = static_widgets.static_outputs(states, "box")
    assert out["output_type"] == "stream" and out["text"] == "training: 100%|\u2588\u2588\u2588\u2588\u2588     | 5/10 [00:01<00:01]\n"


def test_slide_tag_rules():
    md = lambda text: {"cell_type": "markdown", "source": text, "metadata": {}}  # noqa: E731
    code = lambda text, **kw: {"cell_type": "code", "source": text, "metadata": kw.get("metadata", {}),  # noqa: E731
                               "outputs": kw.get("outputs", []), "execution_count": 1}
    figure = [{"output_type": "display_data", "data": {"image/png": "iVBOR"}, "metadata": {}}]
    nb = {"cells": [
        md("# 09. Guidance\n\n**Learning goals**"),            # slide
        code("import torch\nfrom ddim_ref import samplers\n%matplotlib inline\ntorch.manual_seed(0)"),  # skip
        md("## 1. A section"),                                  # slide
        md("### A subsection"),                                 # subslide
        code("x = 1\nprint(x)"),                                # -
        code("plt.plot(x)\nplt.show()", outputs=figure),        # subslide
        md("What the figure shows."),                           # subslide (after a figure)
        code("\n".join(f"y{i} = {i}" for i in range(40))),      # notes
        md("**Exercise.** Do it."),                             # -
        code("answer = 42", metadata={"tags": ["solution"]}),   # skip
        code("assert checks.check_answer(answer)"),             # skip (its self-check)
        code("print('after')"),                                 # -
        md("Keep me", ) | {"metadata": {"slideshow": {"slide_type": "fragment"}}},  # a lecturer's choice
    ]}
    assert slide_tags.tag_notebook(nb) == 12
    types = [c["metadata"]["slideshow"]["slide_type"] for c in nb["cells"]]
    assert types == ["slide", "skip", "slide", "subslide", "-", "subslide", "subslide", "notes", "-", "skip", "skip", "-",
                     "fragment"]
    assert slide_tags.tag_notebook(nb) == 0, "a second run changes nothing"
    assert slide_tags.tag_notebook(nb, force=True) == 1 and nb["cells"][-1]["metadata"]["slideshow"]["slide_type"] == "-"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_slide_tags_on_the_notebooks_are_idempotent_and_hide_solutions(path):
    nb = load(path)
    slide_tags.tag_notebook(nb)
    once = copy.deepcopy(nb)
    assert slide_tags.tag_notebook(nb) == 0 and slide_tags.tag_notebook(nb, force=True) == 0 and nb == once
    cells = nb["cells"]
    assert cells[0]["metadata"]["slideshow"]["slide_type"] == "slide", "the title opens the deck"
    for i, cell in enumerate(cells):
        if "solution" in cell["metadata"].get("tags", []):
            check = next(c for c in cells[i + 1:] if c["cell_type"] == "code" and source(c).strip())
            assert cell["metadata"]["slideshow"]["slide_type"] == "skip" == check["metadata"]["slideshow"]["slide_type"]


def test_solutions_handout_lists_every_exercise(tmp_path):
    assert solutions_handout.main(str(ROOT / "notebooks"), str(tmp_path)) == 0
    text = (tmp_path / "README.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        nb = load(path)
        solutions = [c for c in nb["cells"] if "solution" in c.get("metadata", {}).get("tags", [])]
        exercises = solutions_handout.exercises(nb)
        assert len(exercises) == len(solutions)
        assert f"`notebooks/{path.name}`: {len(solutions)} exercise" in text
        for cell, ex in zip(solutions, exercises):
            assert source(cell).strip() in text
            assert "check_" in ex["check"] and ex["check"] in text
            assert ex["statement"], f"{path.name}: an exercise without a statement"


def test_site_syllabus_and_docstring_links():
    pytest.importorskip("sphinx")
    sys.path.insert(0, str(ROOT / "docs"))
    import course_site

    order = course_site.syllabus(ROOT)
    assert sorted(order) == [f"notebooks/{p.stem}" for p in NOTEBOOKS], "every notebook is in the site's navigation"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = re.findall(r"\]\((notebooks/[^)]+)\.ipynb\)", readme[readme.index("## Syllabus"):])
    assert order[: len(listed)] == [n for n in listed if (ROOT / f"{n}.ipynb").exists()], "in the README's order"

    docnames = course_site.notebook_docnames(ROOT)
    rst = course_site.docstring_to_rst(
        ["Generalized DDIM step, eq. (12). Introduced in notebooks/04 and notebooks/99.", "",
         "| a | b_ |", "|---|---|", "", "    x_{t-1} = `f`(x_t)  notebooks/01_forward_process.ipynb"], docnames)
    assert rst[0].count(":doc:") == 1 and f"</{docnames['04']}>" in rst[0] and "notebooks/99" in rst[0]
    assert ".. parsed-literal::" in rst and any(f"</{docnames['01']}>" in line for line in rst)
    assert "   \\| a \\| b\\_ \\|" in rst, "a table keeps its layout, its reST characters escaped"
