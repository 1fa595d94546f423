"""The tracker and the fbq() shim in real Chromium on the demo page, through the gateway.

Matomo and the Graph API are stand-ins on 127.0.0.1 that record what they get;
the browser itself must never contact anything but the app.
"""

import json
import time

import pytest
from helpers import deliver, stored, wait_until_stored
from playwright.sync_api import expect

from consentmgr.gateway.meta import event as meta_event

pytestmark = pytest.mark.browser

PIXEL = "123456789012345"
TOKEN = "EAAB-demo-token"


@pytest.fixture
def upstreams(httpserver):
    def graph(request):
        from werkzeug import Response

        n = len(request.get_json(force=True)["data"])
        return Response(json.dumps({"events_received": n}), content_type="application/json")

    def matomo(request):
        from werkzeug import Response

        n = len(request.get_json(force=True)["requests"])
        body = {"status": "success", "tracked": n, "invalid": 0}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request(f"/v23.0/{PIXEL}/events").respond_with_handler(graph)
    httpserver.expect_request("/matomo.php").respond_with_handler(matomo)
    return httpserver


@pytest.fixture(params=[["matomo", "fbq"], []], ids=["bundled", "separate"])
def gateway_server(request, live_server_factory, upstreams):
    """The tracker and shim inside /consent.js (the default), or as blocked script tags."""
    return live_server_factory(
        BUNDLE_SCRIPTS=request.param,
        MATOMO_URL=upstreams.url_for("/"),
        MATOMO_TOKEN_AUTH="matomo-token",
        META_PIXEL_ID=PIXEL,
        META_ACCESS_TOKEN=TOKEN,
        META_GRAPH_URL=upstreams.url_for("/").rstrip("/"),
    )


def wait_for_outbox(server, n):
    """Poll the outbox until ``n`` rows are there (bounded; nothing is timed)."""

    for _ in range(200):
        if len(server.rows("outbox")) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"expected {n} outbox rows, found {server.rows('outbox')}")


def received(upstreams, path):
    return [json.loads(r.get_data()) for r, _ in upstreams.log if r.path == path]


def test_fbq_lead_reaches_meta_through_the_gateway(visit_factory, gateway_server, upstreams):
    visit = visit_factory(gateway_server)
    page = visit.page
    page.goto("/demo?fbclid=IwAR_demo_click")
    page.get_by_role("dialog").get_by_role("button", name="Godta alle").click()
    page.wait_for_function("() => window.fbq && window.fbq.callMethod && window._paq.push")
    page.evaluate("fbq('track', 'Lead', {content_name: 'Selger Oslo'}, {eventID: 'abc'})")
    # the queued PageView of each, plus the Lead
    wait_for_outbox(gateway_server, 3)
    deliver(gateway_server.app)

    [batch] = received(upstreams, f"/v23.0/{PIXEL}/events")
    assert batch["access_token"] == TOKEN
    lead = next(e for e in batch["data"] if e["event_name"] == "Lead")
    assert lead["event_id"] == "abc"
    assert lead["action_source"] == "website"
    assert lead["custom_data"] == {"content_name": "Selger Oslo"}
    user = lead["user_data"]
    assert user["client_ip_address"] == "127.0.0.1"
    assert user["client_user_agent"] == page.evaluate("navigator.userAgent")
    assert meta_event.FBP.fullmatch(user["fbp"])
    assert meta_event.FBC.fullmatch(user["fbc"]) and user["fbc"].endswith(".IwAR_demo_click")
    assert {e["event_name"] for e in batch["data"]} == {"PageView", "Lead"}

    [bulk] = received(upstreams, "/matomo.php")
    [hit] = bulk["requests"]
    assert "action_name=" in hit and "idsite=1" in hit and "cip=127.0.0.1" in hit
    assert visit.foreign_requests() == [], "the browser talks to nothing but the app"


def test_no_consent_means_no_tracker_and_no_upstream(visit_factory, gateway_server, upstreams):
    visit = visit_factory(gateway_server)
    page = visit.page
    page.goto("/demo")
    page.get_by_role("dialog").get_by_role("button", name="Avvis alle").click()
    expect(page.get_by_role("dialog")).to_be_hidden()
    page.evaluate("fbq('track', 'Lead', {content_name: 'Selger Oslo'}, {eventID: 'x'})")
    page.reload()
    deliver(gateway_server.app)
    assert gateway_server.rows("outbox") == []
    assert upstreams.log == []
    assert not [u for u in visit.requests if "/matomo" in u or "/fb" in u]
    assert not [c for c in visit.context.cookies() if c["name"].startswith(("_pk_", "_fb"))]


def test_analytics_only_sends_matomo_but_not_meta(visit_factory, gateway_server, upstreams):
    visit = visit_factory(gateway_server)
    page = visit.page
    page.goto("/demo")
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Tilpass").click()
    dialog.get_by_role("switch", name="Statistikk").check()
    dialog.get_by_role("button", name="Lagre valg").click()
    wait_for_outbox(gateway_server, 1)
    page.evaluate("fbq('track', 'Lead', {}, {eventID: 'y'})")
    deliver(gateway_server.app)
    assert received(upstreams, f"/v23.0/{PIXEL}/events") == []
    assert len(received(upstreams, "/matomo.php")) == 1
    assert not [u for u in visit.requests if "/fb/events" in u]


def test_bundle_plus_old_script_tags_send_each_hit_once(
    visit_factory, live_server_factory, upstreams
):
    """A site that keeps /matomo.js and /fbq.js tags beside the bundle gets no double hits.

    The later copy finds ``_paq`` and ``fbq`` already taken over by the bundle
    and takes over from it instead of replaying what the bundle already sent.
    """
    server = live_server_factory(
        MATOMO_URL=upstreams.url_for("/"),
        META_PIXEL_ID=PIXEL,
        META_ACCESS_TOKEN=TOKEN,
        META_GRAPH_URL=upstreams.url_for("/").rstrip("/"),
    )
    assert server.app.config["BUNDLE_SCRIPTS"] == ["matomo", "fbq"]
    visit = visit_factory(server)
    page = visit.page
    page.goto("/demo")
    page.evaluate(
        """() => Promise.all(["/matomo.js", "/fbq.js"].map((src) => new Promise((loaded) => {
             const tag = document.createElement("script");
             tag.src = src;
             tag.onload = loaded;
             document.head.append(tag);
           })))"""
    )
    page.get_by_role("dialog").get_by_role("button", name="Godta alle").click()
    page.evaluate("_paq.push(['trackEvent', 'Jobb', 'Søk']); fbq('track', 'Lead', {}, {})")
    # The demo's queued PageView for Matomo and for Meta, the event and the Lead.
    expected = [
        ("matomo", "Ansettr: ledige stillinger"),
        ("meta", "PageView"),
        ("matomo", "Søk"),
        ("meta", "Lead"),
    ]

    wait_until_stored(server, *expected, meta_key="event_name")
    # A duplicate leaves with its original, so one more round trip lets any arrive.
    page.evaluate("_paq.push(['trackEvent', 'Jobb', 'Siste'])")
    wait_until_stored(server, ("matomo", "Siste"))
    assert sorted(stored(server, "event_name")) == sorted([*expected, ("matomo", "Siste")])
