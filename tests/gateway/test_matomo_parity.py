"""The built-in tracker against the official matomo.js: the same _paq calls, the same hits.

A page in the official snippet's style (custom dimensions, a user id, custom
variables, events, a goal, a site search, a download, content impressions and
an interaction, e-commerce, a pushed function, ``Matomo.getAsyncTracker()`` and
a heartbeat) runs in Chromium. Its hits go through the gateway and
``deliver --once`` to a Matomo stand-in that records them.

The official tracker is not part of this repository and CI cannot download it.
``matomo_parity.json`` holds what it sent for this page, recorded by running
the comparison below with it; the built-in tracker is compared with that file
on every run. With ``CONSENTMGR_OFFICIAL_MATOMO_JS`` pointing at an official
``matomo.js``, the page also runs with it, live, and both are compared
(``CONSENTMGR_RECORD_MATOMO_PARITY=1`` rewrites the file from that run).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from helpers import deliver
from playwright.sync_api import expect

from consentmgr.gateway import sealed

pytestmark = pytest.mark.browser

FIXTURE = Path(__file__).with_name("matomo_parity.json")
OFFICIAL = os.environ.get("CONSENTMGR_OFFICIAL_MATOMO_JS")
# Random ids, clocks, the screen and what the gateway sets differ from run to run:
# only their presence is compared.
VARYING = {"r", "h", "m", "s", "_id", "pv_id", "res", "send_image"}
VARYING |= {"cdt", "cip", "ua", "lang", "idsite", "rec", "token_auth"}
# Not compared at all: the official tracker's visit and referrer state from its own
# cookies (our tracker keeps only the visitor id) and its browser feature flags.
LEFT_OUT = {"_idn", "_idts", "_idvc", "_viewts", "_refts", "_ref", "_rcn", "_rck", "apiv"}
LEFT_OUT |= {
    "cookie",
    "uadata",
    "cs",
    "fla",
    "java",
    "dir",
    "qt",
    "realp",
    "pdf",
    "wma",
    "gears",
    "ag",
}
HEARTBEAT_SECONDS = 5  # the shortest the official tracker allows

CALLS = """
var _paq = window._paq = window._paq || [];
_paq.push(["setTrackerUrl", "/matomo.php"]);
_paq.push(["setSiteId", "1"]);
_paq.push(["setUserId", "kandidat-42"]);
_paq.push(["setCustomDimension", 1, "Arbeidsgiver"]);
_paq.push(["setCustomDimension", 3, "Stillinger"]);
_paq.push(["setCustomVariable", 1, "Rolle", "Arbeidsgiver", "visit"]);
_paq.push(["setCustomVariable", 2, "Side", "Liste", "page"]);
_paq.push(["setDocumentTitle", "Paritet"]);
_paq.push(["enableHeartBeatTimer", HEARTBEAT]);
_paq.push(["trackPageView"]);
_paq.push(["deleteCustomDimension", 3]);
_paq.push(["trackEvent", "Jobb", "Søk", "Selger", 2]);
_paq.push(["trackEvent", "Jobb", ""]);
_paq.push(["trackGoal", 2, 100]);
_paq.push(["trackGoal", 3, 0]);
_paq.push(["trackSiteSearch", "selger", "Oslo", 12]);
_paq.push(["trackSiteSearch", "lager"]);
_paq.push(["trackLink", "https://ansettr.no/brosjyre.pdf", "download"]);
_paq.push(["trackContentImpression", "Kampanje", "kampanje.png", "https://ansettr.no/kampanje"]);
_paq.push(["trackContentInteraction", "click", "Kampanje", "kampanje.png", "https://ansettr.no/kampanje"]);
_paq.push(["trackAllContentImpressions"]);
_paq.push([function () { this.trackEvent("Funksjon", "this"); }]);
_paq.push([function () { Matomo.getAsyncTracker().trackEvent("Async", "tracker"); }]);
_paq.push(["setEcommerceView", "SKU-1", "Stillingsannonse", "Annonser", 990]);
_paq.push(["addEcommerceItem", "SKU-1", "Stillingsannonse", "Annonser", 990, 2]);
_paq.push(["addEcommerceItem", "SKU-2", "Fremheving", ["Tillegg", "Synlighet"], 250]);
_paq.push(["addEcommerceItem", "SKU-3", "Logo"]);
_paq.push(["removeEcommerceItem", "SKU-3"]);
_paq.push(["trackEcommerceCartUpdate", 2230]);
_paq.push(["trackEcommerceOrder", "A-1001", 2787.5, 2230, 557.5, 0, 0]);
""".replace("HEARTBEAT", str(HEARTBEAT_SECONDS))
CALLS_BODY = """
<div data-track-content data-content-name="Stilling" data-content-piece="Selger Oslo"
     data-content-target="https://ansettr.no/jobb/1">Selger, Oslo</div>
<div data-track-content><img data-content-piece src="/kampanje.png" alt="">
  <a href="https://ansettr.no/jobb/2" data-content-target>Les mer</a></div>
"""

# Link tracking with the site's other hosts, no cookies, and content on screen only.
LINKS = """
var _paq = window._paq = window._paq || [];
_paq.push(["setTrackerUrl", "/matomo.php"], ["setSiteId", "1"]);
_paq.push(["setDomains", ["*.ansettr.no"]]);
_paq.push(["disableCookies"]);
_paq.push(["trackPageView"]);
_paq.push(["enableLinkTracking"]);
_paq.push(["trackVisibleContentImpressions"]);
// The clicks stay on the page.
addEventListener("click", (event) => event.preventDefault());
"""
LINKS_BODY = """
<div data-track-content data-content-name="Synlig" data-content-piece="Topp">Synlig</div>
<p><a id="out" href="https://example.com/jobb">Ut</a>
<a id="in" href="https://jobb.ansettr.no/1">Inn</a>
<a id="www" href="https://www.ansettr.no/om">Om oss</a>
<a id="file" href="/filer/liste.pdf?v=2">Liste</a>
<a id="image" href="/bilder/logo.png">Logo</a>
<a id="attribute" href="/filer/rapport" download>Rapport</a>
<a id="ignored" class="matomo_ignore" href="https://example.com/ikke">Ikke</a>
<a id="forced" class="piwik_link" href="/intern">Intern</a></p>
<div style="margin-top: 4000px" data-track-content data-content-name="Usynlig">Nede</div>
"""


def click_links(page):
    for link in ("#out", "#in", "#www", "#file", "#image", "#attribute", "#ignored", "#forced"):
        page.click(link)


# name: (snippet, body, hits before the heartbeat, what the test does after consent)
PAGES = {
    # One hit per call that sends (two send nothing), then the heartbeat's ping.
    "calls": (CALLS, CALLS_BODY, 15, None),
    # The page view, the visible block, the outlink, three downloads and the forced link.
    "links": (LINKS, LINKS_BODY, 7, click_links),
}

PAGE = """<!doctype html>
<html lang="nb"><head><meta charset="utf-8"><title>Paritet</title></head><body>
%(body)s
<script>%(calls)s</script>
%(tracker)s
<script src="/consent.js"></script>
</body></html>
"""


def received(upstreams) -> list[dict[str, str]]:
    hits = []
    for request, _ in upstreams.log:
        if request.path == "/matomo.php":
            for item in json.loads(request.get_data())["requests"]:
                hits.append(dict(parse_qsl(item.lstrip("?"), keep_blank_values=True)))
    return hits


def comparable(hit: dict[str, str], origin: str) -> dict[str, str]:
    """The hit as compared: varying values as "*", some left out, our origin as ORIGIN."""
    out = {}
    for key, value in hit.items():
        if key in LEFT_OUT:
            continue
        if key in VARYING or key.startswith("pf_"):
            value = "*"
        out[key] = value.replace(origin, "ORIGIN")
    return dict(sorted(out.items()))


def label(hit: dict[str, str]) -> str:
    """Which call a hit comes from, for messages."""
    for key in ("ping", "ec_id", "idgoal", "c_i", "c_n", "e_c", "search", "download", "link"):
        if key in hit:
            return f"{key}={hit[key]}"
    return f"action_name={hit.get('action_name')}"


@pytest.fixture
def matomo(httpserver):
    from werkzeug import Response

    def reply(request):
        n = len(request.get_json(force=True)["requests"])
        body = {"status": "success", "tracked": n, "invalid": 0}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/matomo.php").respond_with_handler(reply)
    return httpserver


def run_page(live_server_factory, visit_factory, matomo, name: str, official: str | None):
    """A parity page with our tracker (official=None) or the official one; the hits sent."""
    calls, body, n, act = PAGES[name]
    server = live_server_factory(
        BUNDLE_SCRIPTS=[] if official else ["matomo"],
        MATOMO_URL=matomo.url_for("/"),
        MATOMO_TOKEN_AUTH="matomo-token",
    )
    visit = visit_factory(server)
    page = visit.page
    tracker = (
        '<script type="text/plain" data-category="analytics" src="/official/matomo.js"></script>'
        if official
        else ""
    )
    html = PAGE % {"calls": calls, "body": body, "tracker": tracker}
    page.route(
        f"{server.url}/parity", lambda route: route.fulfill(body=html, content_type="text/html")
    )
    if official:
        script = Path(official).read_text(encoding="utf-8")
        page.route(
            f"{server.url}/official/matomo.js",
            lambda route: route.fulfill(body=script, content_type="text/javascript"),
        )
    page.goto("/parity")
    page.get_by_role("dialog").get_by_role("button", name="Godta alle").click()
    expect(page.get_by_role("dialog")).to_be_hidden()
    if act:
        page.wait_for_function("() => window._paq && !Array.isArray(window._paq)")
        act(page)
    wait_for_outbox(server, n, visit)
    if calls is CALLS:
        # The heartbeat: leaving the window once the last hit is old enough sends a ping.
        time.sleep(HEARTBEAT_SECONDS + 0.5)
        page.evaluate("dispatchEvent(new Event('blur'))")
        n += 1
        wait_for_outbox(server, n, visit)
    deliver(server.app)
    assert visit.foreign_requests() == [], "the browser talks to nothing but the app"
    hits = [comparable(hit, server.url) for hit in received(matomo)]
    assert len(hits) == n
    matomo.clear_log()
    if "disableCookies" in calls:
        assert not [c for c in visit.context.cookies() if c["name"].startswith("_pk_")]
    return hits


def wait_for_outbox(server, n, visit):
    for _ in range(800):  # bounded; nothing is timed
        if len(server.rows("outbox")) >= n:
            return
        time.sleep(0.05)
    stored = [label(dict(sealed.unseal(server.app, r["payload"]))) for r in server.rows("outbox")]
    sent = [u for u in visit.requests if "/matomo" in u]
    raise AssertionError(
        f"expected {n} hits in the outbox, found {stored}; the browser asked for {sent};"
        f" errors: {visit.console_errors}"
    )


def differences(ours: list[dict], theirs: list[dict]) -> list[str]:
    """Per call, what one tracker sent that the other did not."""
    mine = Counter(json.dumps(h, sort_keys=True) for h in ours)
    official = Counter(json.dumps(h, sort_keys=True) for h in theirs)
    only_ours = [json.loads(h) for h in (mine - official).elements()]
    only_theirs = [json.loads(h) for h in (official - mine).elements()]
    lines = []
    for hit in only_ours:
        twin = next((t for t in only_theirs if label(t) == label(hit)), {})
        diff = {
            k: (hit.get(k), twin.get(k))
            for k in hit.keys() | twin.keys()
            if hit.get(k) != twin.get(k)
        }
        lines.append(f"{label(hit)}: (ours, the official tracker's) differ in {diff}")
    labels = {label(h) for h in only_ours}
    lines += [
        f"{label(t)}: only the official tracker sent this hit"
        for t in only_theirs
        if label(t) not in labels
    ]
    return lines


@pytest.mark.parametrize("name", PAGES)
def test_builtin_tracker_sends_what_the_official_one_sent(
    live_server_factory, visit_factory, matomo, name
):
    expected = json.loads(FIXTURE.read_text(encoding="utf-8"))[name]
    ours = run_page(live_server_factory, visit_factory, matomo, name, official=None)
    diffs = differences(ours, expected)
    assert not diffs, "\n".join(diffs)


@pytest.mark.skipif(
    not OFFICIAL,
    reason="set CONSENTMGR_OFFICIAL_MATOMO_JS to an official matomo.js to compare with it live",
)
@pytest.mark.parametrize("name", PAGES)
def test_builtin_and_official_tracker_send_the_same(
    live_server_factory, visit_factory, matomo, name
):
    official = run_page(live_server_factory, visit_factory, matomo, name, official=OFFICIAL)
    if os.environ.get("CONSENTMGR_RECORD_MATOMO_PARITY") == "1":
        recorded = json.loads(FIXTURE.read_text(encoding="utf-8")) if FIXTURE.exists() else {}
        recorded[name] = sorted(official, key=lambda h: json.dumps(h, sort_keys=True))
        text = json.dumps(recorded, indent=1, ensure_ascii=False, sort_keys=True)
        FIXTURE.write_text(text + "\n", encoding="utf-8")
    ours = run_page(live_server_factory, visit_factory, matomo, name, official=None)
    diffs = differences(ours, official)
    assert not diffs, "\n".join(diffs)
