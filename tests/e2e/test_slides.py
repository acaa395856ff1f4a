"""The lecture slides (`make slides`, tools/slides.py) of one notebook, built and shown in headless Chromium.

Builds notebooks/00_overview.ipynb's deck into a temporary folder (reveal.js installed from the npm
registry into docs/slides/node_modules on first use, MathJax copied from jupyter-server-mathjax), serves
it on 127.0.0.1 and opens it offline: every request leaving 127.0.0.1 is blocked and fails the test,
reveal.js must start, MathJax must typeset the equations, each slide-start cell of the notebook must be
a slide, skipped cells (exercise solutions) must be absent, and the arrow key must move to the next slide.

Needs npm (Node.js) besides Chromium: both skip the test when missing, unless DDIM_REQUIRE_BROWSER=1 (CI).
"""

import os
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

from test_jupyterlab import SECONDS, chromium_page, require_chromium, screenshot_on_failure
from test_site import RAW_TEX, Recorder, serve

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "00_overview.ipynb"
sys.path.insert(0, str(ROOT / "tools"))


def require_npm():
    if shutil.which("npm") is None and not (ROOT / "docs/slides/node_modules/reveal.js/dist/reveal.js").exists():
        message = "npm is missing; `make slides` installs reveal.js with it: sudo apt-get install nodejs npm"
        if os.environ.get("DDIM_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " (DDIM_REQUIRE_BROWSER=1 makes this a failure)")
        pytest.skip(message)


@pytest.fixture(scope="module")
def deck(tmp_path_factory):
    """(folder, file name) of the 00 deck, built by the function behind `make slides`."""
    require_chromium()
    require_npm()
    import slides

    out = tmp_path_factory.mktemp("slides")
    (path,) = slides.build([NOTEBOOK], out)
    return out, path.name


def test_slides_build_offline_html(deck):
    out, name = deck
    html = (out / name).read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    for asset in ["reveal.js/dist/reveal.js", "reveal.js/dist/reveal.css", "reveal.js/dist/theme/white.css",
                  "reveal.js/plugin/notes/notes.js", "mathjax/MathJax.js"]:
        assert f'"{asset}' in html, f"the deck does not load {asset}"
        assert (out / asset).exists(), f"{asset} was not copied next to the deck"
    for cdn in ["unpkg.com", "cdnjs.cloudflare.com", "cdn.jsdelivr.net", "require.min.js", "jquery"]:
        assert cdn not in html, f"the deck refers to {cdn}"


def test_slides_show_in_chromium(deck, tmp_path, screenshots):
    out, name = deck
    nb = nbformat.read(NOTEBOOK, as_version=4)
    solutions = ["".join(c.source).strip() for c in nb.cells if "solution" in c.metadata.get("tags", [])]
    with serve(out) as base, chromium_page(tmp_path / "profile") as page:
        page.set_default_timeout(60 * SECONDS)
        recorded = Recorder(page, base)
        with screenshot_on_failure(page, screenshots / "slides-failure.png"):
            page.goto(base + name)
            page.wait_for_function("() => window.Reveal && Reveal.isReady && Reveal.isReady()")
            page.evaluate("""() => MathJax.Hub.Register.StartupHook('End', () => { window.courseMathJaxDone = true; })""")
            page.wait_for_function("() => window.courseMathJaxDone === true", timeout=120 * SECONDS)
            page.screenshot(path=screenshots / "slides-00-first.png")
            total = page.evaluate("() => Reveal.getTotalSlides()")
            headings = sum(1 for c in nb.cells if c.cell_type == "markdown" and "".join(c.source).lstrip().startswith(("# ", "## ")))
            assert total >= headings, f"{total} slides for {headings} top-level headings"
            report = page.evaluate("""(rawTex) => {
                const copy = document.querySelector('.reveal .slides').cloneNode(true);
                copy.querySelectorAll('pre, code, script, style, .MathJax, .MathJax_Display, .MJX_Assistive_MathML, .jp-OutputArea')
                    .forEach(e => e.remove());
                const text = copy.textContent;
                return {rawTex: rawTex.filter(t => text.includes(t)),
                        typeset: document.querySelectorAll('.reveal .MathJax').length,
                        errors: document.querySelectorAll('.MathJax_Error, .merror').length,
                        text: document.querySelector('.reveal .slides').textContent};
            }""", RAW_TEX)
            assert report["typeset"] > 10 and not report["errors"], report["errors"]
            assert not report["rawTex"], f"raw TeX on the slides: {report['rawTex']}"
            for solution in solutions:  # the exercise is shown, its solution is not
                first_line = solution.splitlines()[0]
                assert first_line not in report["text"], f"a solution is on the slides: {first_line}"
            before = page.evaluate("() => Reveal.getIndices()")
            page.keyboard.press("ArrowRight")
            page.wait_for_function("(b) => JSON.stringify(Reveal.getIndices()) !== JSON.stringify(b)", arg=before)
            page.screenshot(path=screenshots / "slides-00-second.png")
    assert not recorded.external, f"the slides asked for addresses outside their folder: {sorted(set(recorded.external))}"
    assert not recorded.console, f"console errors: {recorded.console}"
    assert not recorded.failed, f"failed loads: {recorded.failed}"
