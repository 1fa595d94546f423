"""Make the pictures in docs/: the admin dashboard and the banner's second layer.

    .venv/bin/python docs/make_screenshot.py [--rows 60000] [--docs docs]

Fills a temporary database with ``bench/realistic_data.py``, serves the app on
a loopback port and, with Debian's Chromium ($CHROMIUM_PATH):

* ``dashboard.png``: signs in and captures the top of the dashboard at
  1280 px wide: filters, headline figures and both charts;
* ``banner-layer2-320.png``: the demo site at 320 x 640 px with the banner's
  second layer open (categories with purpose, vendors, retention and legal
  basis; the buttons stay in view below the scrolling text).

Each PNG's image data is compressed again at zlib's highest level, losslessly.
"""

from __future__ import annotations

import argparse
import os
import secrets
import struct
import sys
import tempfile
import threading
import time
import zlib
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
DASHBOARD = "dashboard.png"
BANNER = "banner-layer2-320.png"


def build_app(folder: Path, rows: int, password: str):
    config = {
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE": str(folder / "screenshot.sqlite"),
        "COOKIE_SECURE": False,
        "DELIVER_IN_BACKGROUND": False,
        "DEMO": True,
    }
    create_app(config)  # creates the schema
    db = connect(config["DATABASE"])
    plan = realistic_data.Plan(rows, 90, datetime.now(UTC).date(), chain=True)
    realistic_data.fill_decisions(db, plan)
    realistic_data.fill_gateway(db, plan, time.time(), delivered=400)
    admins.create(db, "kari", password, 12, datetime.now(UTC))
    db.close()
    return create_app(config)


def recompress(path: Path) -> None:
    """Deflate the PNG's image data again at level 9; the pixels stay exactly the same."""
    data = path.read_bytes()
    signature, pos, chunks, idat = data[:8], 8, [], b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IDAT":
            idat += body
            if data[pos + 4 : pos + 8] != b"IDAT":
                chunks.append((b"IDAT", zlib.compress(zlib.decompress(idat), 9)))
        else:
            chunks.append((kind, body))
    out = signature + b"".join(
        struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        for kind, body in chunks
    )
    if len(out) < len(data):
        path.write_bytes(out)


def capture(url: str, password: str, docs: Path, height: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"), args=ARGS
        )
        page = browser.new_page(viewport={"width": 1280, "height": height})
        page.goto(url + "/admin/login")
        page.get_by_label("Username").fill("kari")
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.goto(url + "/admin/?period=90")
        page.screenshot(path=str(docs / DASHBOARD))

        visitor = browser.new_page(viewport={"width": 320, "height": 640}, reduced_motion="reduce")
        visitor.goto(url + "/demo?lang=nb")
        dialog = visitor.get_by_role("dialog")
        dialog.get_by_role("button", name="Tilpass").click()
        dialog.get_by_role("button", name="Lagre valg").wait_for()
        visitor.screenshot(path=str(docs / BANNER))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--height", type=int, default=1480)
    parser.add_argument("--docs", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    password = secrets.token_urlsafe(18)
    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(Path(tmp), args.rows, password)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            capture(f"http://127.0.0.1:{server.server_port}", password, args.docs, args.height)
        finally:
            server.shutdown()
    for name in (DASHBOARD, BANNER):
        path = args.docs / name
        recompress(path)
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
