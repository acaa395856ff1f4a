"""The course website (`make book`, build/book/) in headless Chromium, offline.

Python's http.server serves the built site on 127.0.0.1; Chromium, driven by Playwright as in
test_jupyterlab.py, opens the landing page, the API reference and every notebook's page. Every
request that leaves 127.0.0.1 is blocked and recorded (the site must carry its own MathJax, CSS and
JavaScript: CI has no internet), and each page must load without console errors, with its equations
typeset by MathJax (no raw TeX left in the text), every image loaded and every internal link pointing
at a page of the site (and at an anchor on it, for the pages opened here). The API page must document
`samplers.sample`, with its "notebooks/04" as a link.

The site is built first when build/book/index.html is missing (`make test` builds it with `make book`).
Screenshots of two pages go to build/e2e-screenshots/. Skips without /usr/bin/chromium unless
DDIM_REQUIRE_BROWSER=1.
"""

import contextlib
import functools
import http.server
import importlib.util
import json
import threading
import time
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import pytest

from test_jupyterlab import SECONDS, chromium_page, require_chromium, screenshot_on_failure

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "build" / "book"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# TeX that must not survive typesetting in a page's text (code, outputs and MathJax's own nodes excluded).
RAW_TEX = ["$$", "\\(", "\\[", "\\alpha", "\\sigma", "\\sqrt", "\\frac", "\\mathbf", "\\begin{"]


def build_site():
    spec = importlib.util.spec_from_file_location("docs_build", ROOT / "docs" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build(SITE) == 0, "the website did not build; run `make book` to see why"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def handle(self):
        with contextlib.suppress(ConnectionError):  # the browser may drop a download it no longer needs
            super().handle()


@contextlib.contextmanager
def serve(folder):
    """Serve `folder` on 127.0.0.1 (a free port) in a thread; yield the base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class Recorder:
    """What a page did that it should not: requests leaving the site, failed loads, console errors."""

    def __init__(self, page, base):
        self.base, self.external, self.failed, self.console = base, [], [], []
        self.attach(page)

    def attach(self, page):
        """Record what `page` does too (a second tab)."""
        base = self.base
        page.route("**/*", self.route)
        page.on("console", lambda msg: msg.type == "error" and self.console.append(f"{page.url}: {msg.text}"))
        page.on("pageerror", lambda error: self.console.append(f"{page.url}: {error}"))
        page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.status} {r.url}"))
        # a load cancelled by leaving the page (net::ERR_ABORTED) is no failure; a missing file is a 404 above
        page.on("requestfailed", lambda r: r.url.startswith(base) and "ERR_ABORTED" not in (r.failure or "")
                and self.failed.append(f"{r.failure} {r.url}"))

    def route(self, route):
        url = route.request.url
        if url.startswith(self.base) or url.startswith("data:") or url == "about:blank":
            route.continue_()
        else:
            self.external.append(url)
            route.abort()


# Runs in the page once MathJax is done: what the page shows that it should not, and what it links to.
PAGE_REPORT = """(rawTex) => {
  const shown = document.querySelector('.bd-article') || document.body;
  const copy = shown.cloneNode(true);
  copy.querySelectorAll('pre, code, script, style, .MathJax, .MathJax_Display, .MathJax_Preview, .MJX_Assistive_MathML, '
                        + '.cell_output').forEach(e => e.remove());
  const text = copy.innerText;
  return {
    rawTex: rawTex.filter(t => text.includes(t)).map(t => t + ' in "…' + text.substr(Math.max(0, text.indexOf(t) - 40), 100) + '…"'),
    mathNodes: document.querySelectorAll('.bd-article .math.notranslate').length,
    typeset: [...document.querySelectorAll('.bd-article .math.notranslate')].filter(m => m.querySelector('.MathJax')).length,
    mathErrors: document.querySelectorAll('.MathJax_Error, .merror, [data-mjx-error]').length,
    images: [...document.images].map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0})),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    ids: [...document.querySelectorAll('[id]')].map(e => e.id),
  };
}"""


def start_page(page, url):
    """Open url; MathJax goes on typesetting in that tab (finish_page waits for it)."""
    page.goto(url)
    page.wait_for_load_state("load")
    # MathJax 2 signals the startup hook "End" after its first typesetting pass (a late hook still fires).
    page.evaluate("""() => window.MathJax && MathJax.Hub
        && MathJax.Hub.Register.StartupHook('End', () => { window.courseMathJaxDone = true; })""")


def finish_page(page):
    """Wait for MathJax, scroll through the page (lazy images load); return PAGE_REPORT's dict."""
    page.wait_for_function("() => window.courseMathJaxDone === true", timeout=120 * SECONDS)
    page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=30 * SECONDS)
    return page.evaluate(PAGE_REPORT, RAW_TEX)


@pytest.fixture(scope="module")
def site():
    """The base URL of the built website, served from build/book."""
    require_chromium()
    if not (SITE / "index.html").exists():
        build_site()
    with serve(SITE) as base:
        yield base


@pytest.fixture(scope="module")
def browser_page(site, tmp_path_factory):
    with chromium_page(tmp_path_factory.mktemp("chromium-profile")) as page:
        page.set_default_timeout(60 * SECONDS)
        yield page, Recorder(page, site)


@pytest.fixture(scope="module")
def visited(site, browser_page, screenshots):
    """Every page opened once (the slow part: MathJax), as {page name: PAGE_REPORT dict}."""
    page, recorded = browser_page
    pages = ["README.html", "docs/api.html"] + [f"notebooks/{nb.stem}.html" for nb in NOTEBOOKS]
    reports = {}
    start = time.monotonic()
    # Two tabs, so that MathJax (one core per tab) typesets two pages at once on a 2-core machine.
    tabs = [page, page.context.new_page()]
    tabs[1].set_default_timeout(60 * SECONDS)
    recorded.attach(tabs[1])
    try:
        with screenshot_on_failure(page, screenshots / "site-failure.png"):
            page.goto(site)  # index.html sends the browser to the landing page
            page.wait_for_url(site + "README.html")
            for i in range(0, len(pages), len(tabs)):
                pair = list(zip(tabs, pages[i:i + len(tabs)]))
                for tab, name in pair:
                    start_page(tab, site + name)
                for tab, name in pair:
                    reports[name] = finish_page(tab)
                    reports[name]["widgetNotes"] = tab.locator("p.static-widget-note").count()
                    reports[name]["widgetJs"] = any(s in tab.content() for s in ("application/vnd.jupyter.widget", "embed-amd"))
                    if name == "notebooks/00_overview.html":
                        tab.screenshot(path=screenshots / "site-00_overview.png")
    finally:
        tabs[1].close()
    print(f"{len(pages)} pages opened and typeset in {time.monotonic() - start:.0f} s")
    return reports


def test_site_pages_load_offline_without_errors(visited, browser_page):
    _, recorded = browser_page
    assert not recorded.external, f"pages asked for addresses outside the site: {sorted(set(recorded.external))}"
    assert not recorded.console, f"console errors: {recorded.console}"
    assert not recorded.failed, f"failed loads: {recorded.failed}"


def test_site_equations_typeset_and_images_load(visited):
    problems = []
    for name, report in visited.items():
        if name.startswith("notebooks/"):
            if not report["mathNodes"] or report["typeset"] < report["mathNodes"]:
                problems.append(f"{name}: {report['typeset']} typeset equations for {report['mathNodes']} math nodes")
            if not report["images"]:
                problems.append(f"{name}: no figures")
        problems += [f"{name}: raw TeX left: {t}" for t in report["rawTex"]]
        if report["mathErrors"]:
            problems.append(f"{name}: {report['mathErrors']} MathJax errors")
        problems += [f"{name}: image did not load: {i['src'][:120]}" for i in report["images"] if not i["ok"]]
    assert not problems, "\n".join(problems)


def test_site_internal_links_resolve(site, visited, browser_page):
    """Each link into the site names a page that exists, and an anchor that exists on the pages opened here."""
    page, _ = browser_page
    ids = {site + name: set(r["ids"]) for name, r in visited.items()}
    checked, problems = {}, []
    for name, report in visited.items():
        for link in report["links"]:
            if not link.startswith(site):
                continue
            target, anchor = urldefrag(link)
            target = target or site + name
            if target not in checked:
                checked[target] = page.request.get(target).status
            if checked[target] != 200:
                problems.append(f"{name}: link to {target} answers {checked[target]}")
            elif anchor and target in ids and anchor not in ids[target]:
                problems.append(f"{name}: link to {link}: no id {anchor!r} on that page")
    assert len(checked) > len(NOTEBOOKS)
    assert not problems, "\n".join(problems)


def test_navigation_is_the_syllabus(site, browser_page):
    """The sidebar lists every notebook, in the README's order, and the reference pages."""
    page, _ = browser_page
    page.goto(site + "README.html")
    nav = [urlsplit(h).path.rsplit("/", 1)[-1] for h in
           page.locator("nav.bd-docs-nav a.reference.internal").evaluate_all("as => as.map(a => a.href)")]
    expected = [f"{nb.stem}.html" for nb in NOTEBOOKS]
    assert [n for n in nav if n in expected] == expected, nav
    assert "api.html" in nav


def test_api_reference_lists_samplers_sample(site, browser_page, screenshots):
    page, _ = browser_page
    page.goto(site + "docs/api.html")
    entry = page.locator('dt[id="ddim_ref.samplers.sample"]')
    assert "sample(" in entry.inner_text(), entry.inner_text()
    link = page.locator('dt[id="ddim_ref.samplers.sample"] + dd').locator("a", has_text="notebooks/04").first
    assert link.get_attribute("href").endswith("notebooks/04_sampling_and_acceleration.html"), link.get_attribute("href")
    entry.scroll_into_view_if_needed()
    page.screenshot(path=screenshots / "site-api.png")
    import pkgutil

    import ddim_ref

    modules = {m.name for m in pkgutil.walk_packages(ddim_ref.__path__, "ddim_ref.") if not m.name.endswith("__main__")}
    missing = [m for m in modules if page.locator(f'[id="module-{m}"]').count() == 0]
    assert not missing, f"modules without a section on the API page: {missing} (is build/book older than the package?)"


def test_widget_explorers_show_their_saved_figure(visited):
    """Where a notebook shows an explorer, its page shows the note and the saved figure, and no widget JavaScript."""
    with_explorer = [nb for nb in NOTEBOOKS if "application/vnd.jupyter.widget-view+json" in nb.read_text(encoding="utf-8")]
    assert with_explorer, "no notebook has a widget"
    for nb in with_explorer:
        report = visited[f"notebooks/{nb.stem}.html"]
        assert report["widgetNotes"] >= 1, f"{nb.name}: no explorer note"
        assert not report["widgetJs"], f"{nb.name}: widget JavaScript on the page"
    saved = json.loads((ROOT / "notebooks" / "00_overview.ipynb").read_text(encoding="utf-8"))
    assert "widgets" in saved["metadata"], "the committed notebook keeps its widget state (only the site drops it)"
