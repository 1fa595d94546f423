"""Sites for the cookie audit's tests, served on loopback by threads of the test process.

* a **third party** on ``localhost``: a Matomo-like tracker (``/matomo.js``
  sets ``_pk_id``/``_pk_ses`` on the page's site and sends a beacon), a
  pixel (``/pixel.js`` sets ``_fbp`` and loads a 1x1 GIF), an embeddable page;
* **consentmgr** on ``127.0.0.1``: the real app, its banner at ``/consent.js``,
  with a policy declaring exactly what the correct site sets;
* the **correct site** on ``127.0.0.1``: the banner and both tags blocked until
  consent (``type="text/plain" data-category=...``), three pages (two linked,
  one only in ``sitemap.xml``);
* the **faulty site**: the same, plus a first-party script that sets ``_ga``
  at once and an unblocked iframe from the third party, and without the
  pixel, so the declared ``_fbp`` never appears;
* the **tricky site**: an inline script sets ``_pk_id.1.test`` before the
  banner, which removes it at once; a script keeps a ``localStorage`` key and
  opens an IndexedDB database; a chat widget iframe from the third party.

``127.0.0.1`` and ``localhost`` are different sites to the browser, so the
third party is a third party, while consentmgr and the sites share one.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response, request
from helpers import make_config, shipped_policy
from werkzeug.serving import BaseWSGIServer, make_server

from consentmgr import create_app
from consentmgr.consent import policy
from consentmgr.scan import findings

GIF = bytes.fromhex(
    "47494638396101000100800000ffffff00000021f90401000000002c00000000010001000002024401003b"
)

MATOMO_JS = """
(() => {
  const host = location.hostname.replace(/\\W/g, "").slice(0, 4);
  const id = `0123456789abcdef.${Date.now()}`;
  document.cookie = `_pk_id.1.${host}=${id}; path=/; max-age=33955200; SameSite=Lax`;
  document.cookie = `_pk_ses.1.${host}=1; path=/; max-age=1800; SameSite=Lax`;
  navigator.sendBeacon(new URL("/matomo.php?idsite=1&rec=1", document.currentScript.src));
})();
"""
PIXEL_JS = """
(() => {
  document.cookie = `_fbp=fb.1.${Date.now()}.123456; path=/; max-age=7776000; SameSite=Lax`;
  new Image().src = new URL("/tr?id=123&ev=PageView", document.currentScript.src).href;
})();
"""
GA_JS = 'document.cookie = "_ga=GA1.1.123456789.1700000000; path=/; max-age=63072000";\n'


def scan_policy() -> dict[str, Any]:
    """The shipped policy declaring what the correct site sets, and two conditional cookies."""
    policy = shipped_policy()
    cookies = {
        "necessary": ["consent"],
        "analytics": [
            "_pk_id.*",
            "_pk_ses.*",
            {"name": "_pk_ref.*", "when": "the visitor arrives from another site"},
        ],
        "marketing": ["_fbp", {"name": "_fbc", "when": "the visitor arrives from an ad"}],
    }
    for category in policy["categories"]:
        category["cookies"] = cookies[category["id"]]
    return policy


def third_party_app() -> Flask:
    app = Flask("third_party")

    @app.get("/matomo.js")
    def matomo_js() -> Response:
        return Response(MATOMO_JS, mimetype="text/javascript")

    @app.get("/pixel.js")
    def pixel_js() -> Response:
        return Response(PIXEL_JS, mimetype="text/javascript")

    @app.post("/matomo.php")
    def matomo_hit() -> Response:
        return Response(status=204)

    @app.get("/tr")
    def pixel_hit() -> Response:
        return Response(GIF, mimetype="image/gif")

    @app.get("/embed")
    def embed() -> str:
        return "<!doctype html><html lang='en'><title>Video</title><p>A video player.</p></html>"

    @app.get("/widget")
    def widget() -> str:
        return "<!doctype html><html lang='en'><title>Chat</title><p>Chat with us.</p></html>"

    return app


PAGE = """<!doctype html>
<html lang="nb">
<head>
<meta charset="utf-8">
<title>{title}</title>
<script src="{consent}/consent.js" defer></script>
{ga}
</head>
<body>
<main>
<h1>{title}</h1>
<nav><a href="/">Forside</a> <a href="/stillinger">Stillinger</a> <a href="#main">Hopp</a>
<a href="/prospekt.pdf">Prospekt</a> <a href="{third}/embed">Video</a></nav>
{iframe}
</main>
<script type="text/plain" data-category="analytics" src="{third}/matomo.js"></script>
{pixel}
</body>
</html>
"""
PIXEL_TAG = '<script type="text/plain" data-category="marketing" src="{third}/pixel.js"></script>'


def site_app(settings: dict[str, str], faulty: bool) -> Flask:
    """A small site using the banner; ``settings`` gets ``consent`` and ``third`` URLs later."""
    app = Flask("faulty_site" if faulty else "correct_site")

    def page(title: str) -> str:
        third = settings["third"]
        return PAGE.format(
            title=title,
            consent=settings["consent"],
            third=third,
            ga='<script src="/ga.js"></script>' if faulty else "",
            iframe=f'<iframe src="{third}/embed" title="Video"></iframe>' if faulty else "",
            pixel="" if faulty else PIXEL_TAG.format(third=third),
        )

    @app.get("/")
    def index() -> str:
        return page("Ansettr")

    @app.get("/stillinger")
    def jobs() -> str:
        return page("Ledige stillinger")

    @app.get("/om-oss")
    def about() -> str:
        return page("Om oss")

    @app.get("/sitemap.xml")
    def sitemap() -> Response:
        base = request.host_url.rstrip("/")
        urls = "".join(f"<url><loc>{base}{p}</loc></url>" for p in ("/", "/om-oss"))
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
        )
        return Response(xml, mimetype="application/xml")

    @app.get("/ga.js")
    def ga() -> Response:
        return Response(GA_JS, mimetype="text/javascript")

    return app


TRICKY_PAGE = """<!doctype html>
<html lang="nb">
<head>
<meta charset="utf-8">
<title>Ansettr</title>
<script src="{consent}/consent.js" defer></script>
<script>document.cookie = "_pk_id.1.test=early; path=/; max-age=3600";</script>
<script src="/ab.js"></script>
</head>
<body>
<main><h1>Ansettr</h1><iframe src="{third}/widget" title="Chat"></iframe></main>
</body>
</html>
"""
AB_JS = """
localStorage.setItem("ab_test", "b");
indexedDB.open("offline-cache");
"""


def tricky_app(settings: dict[str, str]) -> Flask:
    """A site whose early cookie the banner removes at once, with storage and a chat widget."""
    app = Flask("tricky_site")

    @app.get("/")
    def index() -> str:
        return TRICKY_PAGE.format(consent=settings["consent"], third=settings["third"])

    @app.get("/ab.js")
    def ab() -> Response:
        return Response(AB_JS, mimetype="text/javascript")

    return app


@dataclass
class Served:
    server: BaseWSGIServer
    url: str

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve(app: Any, host: str = "127.0.0.1", name: str = "127.0.0.1") -> Served:
    server = make_server(host, 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return Served(server, f"http://{name}:{server.server_port}")


@dataclass
class Sites:
    consentmgr: Any  # the Flask app
    config_file: Path
    correct: str
    faulty: str
    tricky: str
    third: str
    console: str  # consentmgr's own URL
    served: list[Served]

    def stop(self) -> None:
        for s in self.served:
            s.stop()


def toml_value(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, bool) else str(value).lower()


def start_sites(folder: Path) -> Sites:
    """Serve the third party, both sites and consentmgr; write consentmgr's config.toml."""
    folder.mkdir(parents=True, exist_ok=True)
    third = serve(third_party_app(), name="localhost")
    settings: dict[str, dict[str, str]] = {"correct": {}, "faulty": {}, "tricky": {}}
    correct = serve(site_app(settings["correct"], faulty=False))
    faulty = serve(site_app(settings["faulty"], faulty=True))
    tricky = serve(tricky_app(settings["tricky"]))
    policy_file = folder / "policy.json"
    policy_file.write_text(json.dumps(scan_policy(), ensure_ascii=False), encoding="utf-8")
    config = make_config(
        folder,
        SITE_ORIGINS=[correct.url, faulty.url, tricky.url],
        POLICY_FILE=str(policy_file),
        BUNDLE_SCRIPTS=[],
        SQLITE_SYNCHRONOUS="NORMAL",
    )
    with pytest.MonkeyPatch.context() as env:
        # Module-scoped callers run before the per-test instance folder is set.
        env.setenv("CONSENTMGR_INSTANCE", str(folder / "instance"))
        app = create_app(config)
    consent = serve(app)
    for s in settings.values():
        s.update(consent=consent.url, third=third.url)
    config_file = folder / "config.toml"
    config_file.write_text(
        "".join(f"{k} = {toml_value(v)}\n" for k, v in config.items() if k != "TESTING"),
        encoding="utf-8",
    )
    served = [third, correct, faulty, tricky, consent]
    return Sites(
        app, config_file, correct.url, faulty.url, tricky.url, third.url, consent.url, served
    )


# -- Observations as crawl.run records them, for tests of the logic without a browser --

POLICY = policy.load()
PATTERNS = findings.declared(POLICY, "consent")
SITE_URL = "https://ansettr.no/"


def cookie(name, domain="ansettr.no", by="https://ansettr.no/app.js", party="first"):
    return {
        "name": name,
        "domain": domain,
        "path": "/",
        "expires": None,
        "party": party,
        "set_by": [{"via": "script", "url": by}],
        "http_only": False,
        "secure": True,
        "same_site": "Lax",
        "kept": True,
    }


def a_request(url, site, beacon=False):
    return {
        "url": url,
        "site": site,
        "method": "GET",
        "type": "image" if beacon else "script",
        "initiator": {"type": "script", "url": "https://ansettr.no/app.js"},
        "frame": SITE_URL,
        "status": 200,
        "beacon": beacon,
        "count": 1,
    }


def a_pass(decision=None, cookies=(), storage=(), requests=()):
    return {
        "decision": decision,
        "pages": [{"url": SITE_URL, "status": 200, "settled": True}],
        "cookies": list(cookies),
        "storage": list(storage),
        "requests": list(requests),
        "notes": [],
    }


BUTTON = {
    "width": 200,
    "height": 44,
    "color": "rgb(255, 255, 255)",
    "background": "rgb(11, 61, 145)",
    "font_size": "16px",
    "font_weight": "600",
    "border": "2px solid rgb(11, 61, 145)",
}


def good_banner():
    return {
        "found": True,
        "buttons": {
            "accept_all": {"name": "Godta alle", **BUTTON},
            "reject_all": {"name": "Avvis alle", **BUTTON},
            "customise": {"name": "Tilpass", **BUTTON},
        },
        "missing": [],
        "unequal": [],
    }


def clean_site():
    """What a site matching the shipped policy would show (every declared name once)."""
    accepted = [
        cookie("consent", by="https://consent.ansettr.no/api/consent"),
        cookie("_pk_id.1.ansettr"),
        cookie("_pk_ses.1.ansettr"),
        cookie("_pk_cvar.1.ansettr"),
        cookie("_pk_hsr.1.ansettr"),
        cookie("_fbp"),
    ]
    return {
        "url": SITE_URL,
        "site": "ansettr.no",
        "browser": "156.0",
        "started": "2026-05-01T03:00:00+00:00",
        "finished": "2026-05-01T03:00:30+00:00",
        "pages": [SITE_URL],
        "banner": good_banner(),
        "passes": {
            "undecided": a_pass(),
            "refused": a_pass("Avvis alle", [cookie("consent")]),
            "accepted": a_pass(
                "Godta alle",
                accepted,
                requests=[a_request("https://www.facebook.com/tr?id=1", "facebook.com", True)],
            ),
        },
    }
