"""The fbq() shim's pixel API in real Chromium: consent revoke/grant, trackSingle, matching.

The demo page with the gateway on a loopback port; the Graph API is a stand-in
on 127.0.0.1 that records what it gets, and ``deliver`` sends the outbox to it,
so every assertion is about what Meta would receive.
"""

import hashlib
import json

import pytest
from helpers import deliver, stored, wait_until_stored
from werkzeug import Response

from consentmgr.gateway.meta import event as meta_event

pytestmark = pytest.mark.browser

PIXEL = "123456789012345"
EVENTS = f"/v23.0/{PIXEL}/events"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def graph(httpserver):
    def ok(request):
        n = len(request.get_json(force=True)["data"])
        return Response(json.dumps({"events_received": n}), content_type="application/json")

    httpserver.expect_request(EVENTS).respond_with_handler(ok)
    httpserver.expect_request("/matomo.php").respond_with_json({"status": "success"})
    return httpserver


def start(live_server_factory, graph, bundle=("matomo", "fbq")):
    return live_server_factory(
        BUNDLE_SCRIPTS=list(bundle),
        MATOMO_URL=graph.url_for("/"),
        MATOMO_TOKEN_AUTH="matomo-token",
        META_PIXEL_ID=PIXEL,
        META_ACCESS_TOKEN="EAAB-demo-token",
        META_GRAPH_URL=graph.url_for("/").rstrip("/"),
    )


def open_demo(visit_factory, server, **goto):
    """The demo page with everything accepted; its console warnings are collected."""
    visit = visit_factory(server)
    page = visit.page
    page.warnings = []
    page.on("console", lambda m: m.type == "warning" and page.warnings.append(m.text))
    page.goto("/demo", **goto)
    page.get_by_role("dialog").get_by_role("button", name="Godta alle").click()
    page.wait_for_function("() => window.fbq && window.fbq.callMethod && window._paq.push")
    return visit


def settle(server, page, marker):
    """One Matomo round trip after the calls under test, so a stray Meta event has arrived.

    The page sends its requests in order; once the marker sent after the calls
    under test is in the outbox, anything they sent is there too.
    """
    page.evaluate(f"_paq.push(['trackEvent', 'Test', {json.dumps(marker)}])")
    wait_until_stored(server, ("matomo", marker))


def meta_events(graph):
    return [
        e
        for request, _ in graph.log
        if request.path == EVENTS
        for e in json.loads(request.get_data())["data"]
    ]


def test_consent_revoke_holds_events_until_grant(visit_factory, live_server_factory, graph):
    server = start(live_server_factory, graph)
    page = open_demo(visit_factory, server).page
    page.evaluate(
        """() => {
             fbq('consent', 'revoke');
             fbq('track', 'Lead', {content_name: 'Selger Oslo'}, {eventID: 'held-1'});
             fbq('trackCustom', 'ApplyClicked', {}, {eventID: 'held-2'});
           }"""
    )
    settle(server, page, "after revoke")
    held = {"held-1", "held-2"}
    assert not held & {event_id for target, event_id in stored(server) if target == "meta"}
    deliver(server.app)
    # At most the demo's own page view (sent at load, it may still be on its way).
    assert {e["event_name"] for e in meta_events(graph)} <= {"PageView"}

    page.evaluate("fbq('consent', 'grant')")
    wait_until_stored(server, ("meta", "held-1"), ("meta", "held-2"))
    page.evaluate("fbq('track', 'Purchase', {value: 1, currency: 'NOK'}, {eventID: 'after'})")
    wait_until_stored(server, ("meta", "after"))
    deliver(server.app)
    sent = {e["event_id"]: e for e in meta_events(graph)}
    assert sent["held-1"]["event_name"] == "Lead"
    assert sent["held-1"]["custom_data"] == {"content_name": "Selger Oslo"}
    assert sent["held-2"]["event_name"] == "ApplyClicked"
    assert sent["after"]["event_name"] == "Purchase"


def test_revoke_in_the_snippet_holds_the_queued_page_view(
    visit_factory, live_server_factory, graph
):
    """``fbq('consent', 'revoke')`` before ``init``, as Meta tells sites to write it."""
    server = start(live_server_factory, graph)
    visit = visit_factory(server)
    page = visit.page
    page.add_init_script(
        """window.fbq = function () { fbq.queue.push([...arguments]); };
           fbq.queue = [];
           fbq('consent', 'revoke');
           fbq('track', 'ViewContent', {}, {eventID: 'queued'});"""
    )
    page.goto("/demo")
    page.get_by_role("dialog").get_by_role("button", name="Godta alle").click()
    page.wait_for_function("() => window.fbq && window.fbq.callMethod && window._paq.push")
    settle(server, page, "after accept")
    assert [h for h in stored(server) if h[0] == "meta"] == []
    page.evaluate("fbq('consent', 'grant')")
    wait_until_stored(server, ("meta", "queued"))
    deliver(server.app)
    sent = {e["event_name"]: e for e in meta_events(graph)}
    assert set(sent) == {"ViewContent", "PageView"}
    assert sent["ViewContent"]["event_id"] == "queued"
    # A call without an eventID gets one from the server.
    assert meta_event.EVENT_ID.fullmatch(sent["PageView"]["event_id"])


@pytest.mark.parametrize("bundle", [("matomo", "fbq"), ()], ids=["bundled", "separate"])
def test_track_single_is_for_the_configured_pixel_only(
    visit_factory, live_server_factory, graph, bundle
):
    server = start(live_server_factory, graph, bundle)
    page = open_demo(visit_factory, server).page
    page.evaluate(
        f"""() => {{
             fbq('trackSingle', '999999999', 'Lead', {{}}, {{eventID: 'other-pixel'}});
             fbq('trackSingleCustom', '999999999', 'ApplyClicked', {{}}, {{eventID: 'other-2'}});
             fbq('init', '888888888', {{em: 'kari@example.no'}});
             fbq('trackSingle', '{PIXEL}', 'Lead', {{}}, {{eventID: 'mine'}});
             fbq('trackSingleCustom', {PIXEL}, 'ApplyClicked', {{}}, {{eventID: 'mine-custom'}});
             fbq('set', 'autoConfig', false, '{PIXEL}');
             fbq('dataProcessingOptions', ['LDU'], 1, 1000);
             fbq('dataProcessingOptions', ['LDU'], 1, 1000);
           }}"""
    )
    wait_until_stored(server, ("meta", "mine"), ("meta", "mine-custom"))
    settle(server, page, "after trackSingle")
    deliver(server.app)
    sent = {e["event_id"]: e for e in meta_events(graph)}
    assert "other-pixel" not in sent and "other-2" not in sent
    assert sent["mine"]["event_name"] == "Lead"
    assert sent["mine-custom"]["event_name"] == "ApplyClicked"
    assert "em" not in sent["mine"]["user_data"], "another pixel's init data is not used"
    assert sorted(page.warnings) == sorted(
        [
            "fbq: not supported: pixel 999999999",
            "fbq: not supported: pixel 888888888",
            "fbq: not supported: set autoConfig",
            "fbq: not supported: dataProcessingOptions",
        ]
    ), "each named once"


def test_advanced_matching_from_init_and_set_user_data(visit_factory, live_server_factory, graph):
    server = start(live_server_factory, graph)
    visit = visit_factory(server)
    page = visit.page
    page.goto("/demo", referer="https://www.google.com/")
    page.get_by_role("dialog").get_by_role("button", name="Godta alle").click()
    page.wait_for_function("() => window.fbq && window.fbq.callMethod && window._paq.push")
    page.evaluate(
        f"""() => {{
             fbq('init', '{PIXEL}', {{em: ' John_Smith@gmail.com ', fn: 'Mary',
                                     ph: '+1 (650)555-1212'}});
             fbq('set', 'userData', {{ln: 'Valéry', ct: 'Menlo Park', st: 'CA', zp: '94025',
                                     country: 'US', ge: 'f', db: '1997-02-16',
                                     external_id: 12345}});
             fbq('track', 'Lead', {{}}, {{eventID: 'matched'}});
           }}"""
    )
    wait_until_stored(server, ("meta", "matched"))
    deliver(server.app)
    [lead] = [e for e in meta_events(graph) if e["event_id"] == "matched"]
    user = lead["user_data"]
    assert user["em"] == [sha("john_smith@gmail.com")]
    assert user["ph"] == ["e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"]
    assert user["fn"] == ["6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec"]
    assert user["ln"] == ["08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c"]
    assert user["ct"] == [sha("menlopark")] and user["st"] == [sha("ca")]
    assert user["zp"] == [sha("94025")] and user["country"] == [sha("us")]
    assert user["ge"] == [sha("f")] and user["db"] == [sha("19970216")]
    assert user["external_id"][0] == sha("12345") and len(user["external_id"]) == 2
    assert lead["action_source"] == "website"
    assert lead["event_source_url"] == server.url + "/demo"
    assert lead["referrer_url"] == "https://www.google.com/"
    assert visit.foreign_requests() == [], "the browser talks to nothing but the app"
