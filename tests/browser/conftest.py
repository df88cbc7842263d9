"""Browser tests: a real headless Chromium driven by Playwright's Python API.

``require_chromium`` marks a test that needs both Chromium (Debian's package:
``/usr/bin/chromium``, or ``$PTB_CHROMIUM``) and the ``playwright`` Python package; the test is
skipped when either is missing. No browser is downloaded: Playwright launches the system one.
Test artifacts (screenshots, the page under test) go to ``$PTB_TEST_ARTIFACTS`` or
``tests/artifacts/`` (ignored by git).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

ARTIFACTS = Path(os.environ.get("PTB_TEST_ARTIFACTS") or Path(__file__).resolve().parents[1] / "artifacts")


def chromium_path() -> str | None:
    """The system Chromium: ``$PTB_CHROMIUM``, ``/usr/bin/chromium``, or ``chromium`` on PATH."""
    for candidate in (os.environ.get("PTB_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _missing() -> str:
    missing = []
    if chromium_path() is None:
        missing.append("Chromium (apt-get install chromium, or set PTB_CHROMIUM)")
    if importlib.util.find_spec("playwright") is None:
        missing.append('the playwright package (pip install "ptb-env[test]"; no `playwright install` needed)')
    return " and ".join(missing)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "require_chromium: needs Chromium and the playwright package; skipped otherwise"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = _missing()
    if not missing:
        return
    skip = pytest.mark.skip(reason=f"needs {missing}")
    for item in items:
        if item.get_closest_marker("require_chromium"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where browser tests leave screenshots and pages for people (and CI) to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium (the system's, unsandboxed: containers and CI runners lack user namespaces).

    Module-scoped, not session-scoped: while Playwright's sync API runs, its event loop counts as
    running in this thread, so every later test's ``asyncio.run`` (the MCP SDK's client, for one)
    failed with "cannot be called from a running event loop"."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"], headless=True)
        try:
            yield b
        finally:
            b.close()
