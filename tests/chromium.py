"""Chromium for the browser tests: Debian's /usr/bin/chromium driven by Playwright (no browser
download), and a static host on 127.0.0.1 for pages that need http:// (the clipboard, fetch).

A test module starts with ``sync_api = playwright_or_skip()`` (skipped, with the reason, where
either is missing) and imports the ``browser`` fixture from here.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def playwright_or_skip():
    """``playwright.sync_api``; the calling test module is skipped when it or chromium is missing."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright for Python is not installed (pip install playwright)"
    )
    if not CHROMIUM.exists():
        pytest.skip(
            "Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)",
            allow_module_level=True,
        )
    return sync_api


@pytest.fixture(scope="module")
def browser():
    sync_api = playwright_or_skip()
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # a test server: no request log
        pass


@contextmanager
def static_host(folder: Path) -> Iterator[str]:
    """``folder`` served over HTTP on 127.0.0.1, as a static web host serves the build."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
