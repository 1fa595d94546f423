"""Make ``docs/dashboard.png``: the admin dashboard over realistic generated data.

    .venv/bin/python docs/make_screenshot.py [--rows 60000] [--out docs/dashboard.png]

Fills a temporary database with ``bench/realistic_data.py``, serves the app on
a loopback port, signs in with Debian's Chromium ($CHROMIUM_PATH) and captures
the top of the dashboard: filters, headline figures and both charts.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import realistic_data  # noqa: E402

from consentmgr import create_app  # noqa: E402
from consentmgr.admin import accounts as admins  # noqa: E402
from consentmgr.db import connect  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def build_app(folder: Path, rows: int, password: str):
    config = {
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE": str(folder / "screenshot.sqlite"),
        "COOKIE_SECURE": False,
        "DELIVER_IN_BACKGROUND": False,
    }
    create_app(config)  # creates the schema
    db = connect(config["DATABASE"])
    plan = realistic_data.Plan(rows, 90, datetime.now(UTC).date(), chain=True)
    realistic_data.fill_decisions(db, plan)
    realistic_data.fill_gateway(db, plan, time.time(), delivered=400)
    admins.create(db, "kari", password, 12, datetime.now(UTC))
    db.close()
    return create_app(config)


def capture(url: str, password: str, out: Path, height: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"), args=ARGS
        )
        page = browser.new_page(viewport={"width": 1200, "height": height})
        page.goto(url + "/admin/login")
        page.get_by_label("Username").fill("kari")
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.goto(url + "/admin/?period=90")
        page.screenshot(path=str(out))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--height", type=int, default=1560)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    args = parser.parse_args()
    password = secrets.token_urlsafe(18)
    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(Path(tmp), args.rows, password)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            capture(f"http://127.0.0.1:{server.server_port}", password, args.out, args.height)
        finally:
            server.shutdown()
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
