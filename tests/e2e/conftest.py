"""The browser test's screenshot folder: a fixture that empties it, and a line at the end of the report that names it."""

import shutil
from pathlib import Path

import pytest

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "e2e-screenshots"  # build/ is gitignored
written = False  # set once a test has asked for the folder in this run


@pytest.fixture(scope="session")
def screenshots():
    """The folder for screenshots, emptied first."""
    global written
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    written = True
    return SCREENSHOTS


def pytest_terminal_summary(terminalreporter):
    if written:
        terminalreporter.write_line(f"screenshots of the browser test: {SCREENSHOTS}")
