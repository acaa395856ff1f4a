"""The course in a real browser: JupyterLab runs a notebook, a slider moves, the figure follows.

nbval runs the notebooks' code but no front end, so it never sees whether the ipywidgets explorers
render and respond. Here JupyterLab serves a temporary copy of notebooks/00_overview.ipynb (the
lightest notebook with an explorer; the copy keeps JupyterLab's autosave away from the committed
file) on 127.0.0.1 with a random token, and Debian's Chromium, driven by Playwright, runs all cells,
checks that no cell shows an error, moves the explorer's S slider and waits for its figure to change.

Run it with `make e2e`. Screenshots go to build/e2e-screenshots/ (conftest.py; named at the end of the report).
Without /usr/bin/chromium the test skips (install it with `sudo apt-get install chromium
chromium-driver`); with DDIM_REQUIRE_BROWSER=1, as in CI, it fails instead.
"""

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import expect, sync_playwright

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "00_overview.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
SECONDS = 1000  # Playwright counts timeouts in milliseconds

# JupyterLab user settings for the test: no news or update checks (no network, no pop-ups), and every
# cell attached to the page (the default windowing skips rendering cells outside the viewport).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}

# JupyterLab renders an error output with the stderr renderer, like a warning; only its text tells them
# apart: IPython's traceback, or a last line such as "ZeroDivisionError: division by zero" (a SyntaxError
# has no "Traceback" line). test_error_detector checks this on a notebook that fails on purpose.
ERROR_TEXT = re.compile(r"Traceback \(most recent call last\)|^\w*(Error|Exception)\b", re.MULTILINE)
NUMBERED = re.compile(r"\[\d+\]:")  # the prompt of a cell that ran; "[ ]:" never ran, "[*]:" is queued or running


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path, lines=20):
    """The last lines of a text file."""
    return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])


def stop_process_group(process, grace=20):
    """SIGTERM the process group (a Jupyter server then shuts its kernels down), SIGKILL it after `grace` s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def jupyterlab(root_dir, work_dir, timeout=90):
    """Run JupyterLab headless on root_dir, on 127.0.0.1 only; yield (base URL, token). Always stopped on exit.

    Its config, data, runtime and settings folders are temporary ones in work_dir, so nothing is written
    to the home folder; the kernel is the python3 kernel of this Python (the project's .venv).
    """
    work_dir = Path(work_dir)
    for name, values in LAB_SETTINGS.items():
        path = work_dir / "lab-settings" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token = free_port(), secrets.token_hex(24)
    env = {**os.environ, **{var: str(work_dir / folder) for var, folder in [
        ("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"), ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("IPYTHONDIR", "ipython")]}}
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root_dir}",
               f"--LabApp.user_settings_dir={work_dir / 'lab-settings'}",
               f"--LabApp.workspaces_dir={work_dir / 'lab-workspaces'}",
               "--ServerApp.terminals_enabled=False", "--ServerApp.allow_root=True"]  # CI containers run as root
    url = f"http://127.0.0.1:{port}"
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, never via a proxy
    with open(work_dir / "jupyterlab.log", "w") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if server.poll() is not None:
                    raise RuntimeError(f"JupyterLab exited early; its log {log.name} ends:\n{tail(log.name)}")
                try:
                    with no_proxy.open(f"{url}/api/status?token={token}", timeout=5):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"JupyterLab did not answer within {timeout} s; its log ends:\n"
                                           f"{tail(log.name)}")
                    time.sleep(0.5)
            yield url, token
        finally:
            stop_process_group(server)


@contextlib.contextmanager
def chromium_page(profile_dir):
    """A page of Debian's headless Chromium with a fresh profile in profile_dir; the browser is closed on exit."""
    profile_dir = Path(profile_dir)
    # Chromium also writes to ~/.config and ~/.cache (crash-report settings, dconf): keep those in the profile too.
    env = {**os.environ, "XDG_CONFIG_HOME": str(profile_dir / "config"), "XDG_CACHE_HOME": str(profile_dir / "cache")}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            profile_dir / "user-data", executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, env=env,
            viewport={"width": 1280, "height": 1000})
        try:
            yield browser.pages[0] if browser.pages else browser.new_page()
        finally:
            browser.close()


def wait_until(condition, timeout, what):
    """Poll condition() until it returns something true, and return that; fail after `timeout` s, saying `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"waited {timeout} s in vain for {what}")


def open_notebook(page, url):
    """Open a notebook in JupyterLab and wait until its kernel is connected and idle; return the notebook panel."""
    page.goto(url)
    expect(page.locator(".jp-StatusBar-Item", has_text=re.compile(r"\| Idle$"))).to_be_visible(timeout=120 * SECONDS)
    return page.locator(".jp-NotebookPanel")


def error_outputs(notebook):
    """The texts of the outputs that show a Python error."""
    stderr = notebook.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    return [text for text in stderr.all_inner_texts() if ERROR_TEXT.search(text)]


def run_all_cells(notebook, timeout=180):
    """Clear all outputs, then Run > Run All Cells; return the input prompts once every code cell has run,
    or once the run stopped at an error (Run All does not go on after one)."""
    page = notebook.page
    prompts = notebook.locator(".jp-CodeCell .jp-InputPrompt")
    page.get_by_role("menuitem", name="Edit", exact=True).click()
    page.get_by_role("menuitem", name="Clear Outputs of All Cells", exact=True).click()
    expect(prompts.filter(has_text=NUMBERED)).to_have_count(0)  # the committed execution counts are gone
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

    def finished():
        texts = prompts.all_inner_texts()
        if all(NUMBERED.fullmatch(t) for t in texts) or ("[*]:" not in texts and error_outputs(notebook)):
            return texts

    return wait_until(finished, timeout, "every cell to run, or an error")


def require_chromium():
    """Skip (or fail, with DDIM_REQUIRE_BROWSER=1) when Debian's Chromium is not installed."""
    if not CHROMIUM.exists():
        message = (f"{CHROMIUM} is missing; the browser test needs Debian's Chromium: "
                   "sudo apt-get install chromium chromium-driver")
        if os.environ.get("DDIM_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " (DDIM_REQUIRE_BROWSER=1 makes this a failure)")
        pytest.skip(message)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving a copy of the course notebook and a notebook that fails on purpose.

    Yields a function: notebook name -> its URL, each notebook in a workspace of its own (one open tab).
    """
    require_chromium()
    work = tmp_path_factory.mktemp("jupyterlab")
    notebooks = work / "notebooks"
    notebooks.mkdir()
    shutil.copy(NOTEBOOK, notebooks)
    broken = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import warnings\nwarnings.warn('a warning is no error')"),
        nbformat.v4.new_code_cell("1 / 0"),
        nbformat.v4.new_code_cell("print('never runs')")])
    broken.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(broken, notebooks / "broken.ipynb")
    with jupyterlab(notebooks, work) as (url, token):
        yield lambda name: f"{url}/lab/workspaces/{Path(name).stem}/tree/{name}?token={token}"


@pytest.fixture(scope="module")
def page(lab, tmp_path_factory):
    """A headless Chromium page, closed after the module's tests, pass or fail (after `lab`: it skips first)."""
    with chromium_page(tmp_path_factory.mktemp("chromium-profile")) as page:
        page.set_default_timeout(60 * SECONDS)
        yield page


@contextlib.contextmanager
def screenshot_on_failure(page, path):
    """Save a screenshot of the page to `path` when the block raises."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):  # the test's own error matters more than the screenshot's
            page.screenshot(path=path)
        raise


def test_error_detector(lab, page, screenshots):
    """The error check below sees the error of a failing cell, and not a warning."""
    notebook = open_notebook(page, lab("broken.ipynb"))
    with screenshot_on_failure(page, screenshots / "broken-failure.png"):
        prompts = run_all_cells(notebook)
        page.screenshot(path=screenshots / "0-broken-notebook.png")
        assert prompts == ["[1]:", "[2]:", "[ ]:"], "Run All should stop at the error"
        errors = error_outputs(notebook)
        assert len(errors) == 1 and "ZeroDivisionError" in errors[0], errors
        assert "a warning is no error" in notebook.locator(".jp-OutputArea-output").first.inner_text()


def test_course_notebook_runs_and_its_explorer_responds(lab, page, screenshots):
    """Run all cells of the course notebook: no errors; then move the explorer's slider: the figure changes."""
    notebook = open_notebook(page, lab(NOTEBOOK.name))
    with screenshot_on_failure(page, screenshots / "failure.png"):
        page.screenshot(path=screenshots / "1-opened.png")
        prompts = run_all_cells(notebook)
        page.screenshot(path=screenshots / "2-ran-all-cells.png")
        assert not error_outputs(notebook), f"cells show errors: {error_outputs(notebook)}"
        assert all(NUMBERED.fullmatch(p) for p in prompts), f"not every cell ran: {prompts}"

        explorer = notebook.locator(".widget-vbox").filter(has=page.get_by_role("slider"))
        figure = explorer.locator(".widget-output img")  # the matplotlib figure, an inline PNG
        expect(figure).to_have_attribute("src", re.compile("^data:image/png;base64,"))
        before = figure.get_attribute("src")
        explorer.screenshot(path=screenshots / "3-explorer-before.png")

        slider = explorer.get_by_role("slider").first  # S, the number of sampling steps
        readout = explorer.locator(".widget-readout").first  # the number shown next to it
        S = int(readout.inner_text())
        slider.press("ArrowRight")  # what a student does with the keyboard: S -> S + 1
        expect(readout).to_have_text(str(S + 1))
        wait_until(lambda: figure.get_attribute("src") != before, 60, "the kernel to redraw the figure")
        explorer.screenshot(path=screenshots / "4-explorer-after.png")
        assert not error_outputs(notebook), f"moving the slider shows errors: {error_outputs(notebook)}"
