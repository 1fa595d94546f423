"""Fixtures for tests in real Chromium: the app on a loopback port and one browser per session.

Loaded from conftest.py (``pytest_plugins``). Chromium is Debian's
(``$CHROMIUM_PATH``, default /usr/bin/chromium), driven by Playwright's sync
API. Each test gets its own app, database and browser context, so cookies and
log rows never leak between tests; the browser process is shared because
starting it is the slow part.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from helpers import open_db
from playwright.sync_api import expect
from werkzeug.serving import BaseWSGIServer, make_server

from consentmgr import create_app

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Generous, so a slow CI machine waits instead of failing; nothing is timed.
DEFAULT_TIMEOUT_MS = 20_000


@dataclass
class LiveServer:
    """The app served by werkzeug on 127.0.0.1, in a thread of the test process."""

    app: Any
    server: BaseWSGIServer
    url: str

    def rows(self, table: str = "decisions") -> list[dict[str, Any]]:
        """Rows as they are in the database, read through a separate connection."""
        db = open_db(self.app.config)
        try:
            return list(db[table].rows_where(order_by="rowid"))
        finally:
            db.close()


@dataclass
class Visit:
    """A browser context and page on the live server, recording every request it makes."""

    server: LiveServer
    context: Any
    page: Any
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def foreign_requests(self) -> list[str]:
        """Requests to anything but the app's own origin (data: and about: are local)."""
        own = self.server.url + "/"
        return [u for u in self.requests if not u.startswith((own, "data:", "about:", "blob:"))]

    def api_requests(self) -> list[str]:
        return [u for u in self.requests if "/api/consent" in u]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    expect.set_options(timeout=DEFAULT_TIMEOUT_MS)
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(
        executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
        args=CHROMIUM_ARGS,
    )
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture
def live_server_factory(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start the app with config overrides; every server started is stopped after the test."""
    from helpers import make_config

    started: list[LiveServer] = []

    def start(**overrides: Any) -> LiveServer:
        folder = tmp_path / f"server{len(started)}"
        # The gateway's background deliverer has nothing to do in these tests.
        app = create_app(make_config(folder, DELIVER_IN_BACKGROUND=False, **overrides))
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        live = LiveServer(app, server, f"http://127.0.0.1:{server.server_port}")
        started.append(live)
        return live

    yield start
    for live in started:
        live.server.shutdown()
        live.server.server_close()


@pytest.fixture
def live_server(live_server_factory: Callable[..., LiveServer]) -> LiveServer:
    return live_server_factory()


@pytest.fixture
def visit_factory(chromium: Any, live_server: LiveServer) -> Iterator[Callable[..., Visit]]:
    """Open a new browser context (options as for ``new_context``) on a live server."""
    contexts: list[Any] = []

    def open_visit(server: LiveServer | None = None, **options: Any) -> Visit:
        server = server or live_server
        options.setdefault("viewport", {"width": 1280, "height": 800})
        context = chromium.new_context(base_url=server.url, **options)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        visit = Visit(server, context, page)
        context.on("request", lambda r: visit.requests.append(r.url))
        page.on("console", lambda m: m.type == "error" and visit.console_errors.append(m.text))
        page.on("pageerror", lambda e: visit.console_errors.append(str(e)))
        return visit

    yield open_visit
    for context in contexts:
        context.close()


@pytest.fixture
def visit(visit_factory: Callable[..., Visit]) -> Visit:
    return visit_factory()
