"""The Meta pixel gateway against a real Graph API stand-in on 127.0.0.1."""

import json
import time

import pytest
from helpers import ACCEPT_ALL, SITE, count, database_bytes, deliver, make_config, post_decision
from werkzeug import Response

from consentmgr import create_app
from consentmgr.gateway import counters as gateway_stats
from consentmgr.gateway.meta import event as meta_event
from consentmgr.gateway.meta import matching

PIXEL = "123456789012345"
TOKEN = "EAAB-meta-access-token"
UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"
ANALYTICS_ONLY = {"choices": {"analytics": True, "marketing": False}, "method": "custom"}
MARKETING_ONLY = {"choices": {"analytics": False, "marketing": True}, "method": "custom"}


def graph_ok(request):
    n = len(request.get_json(force=True)["data"])
    return Response(
        json.dumps({"events_received": n, "messages": [], "fbtrace_id": "A1"}),
        content_type="application/json",
    )


@pytest.fixture
def graph(httpserver):
    httpserver.expect_request(f"/v23.0/{PIXEL}/events", method="POST").respond_with_handler(
        graph_ok
    )
    return httpserver


def meta_app(tmp_path, url, **overrides):
    return create_app(
        make_config(
            tmp_path,
            META_PIXEL_ID=PIXEL,
            META_ACCESS_TOKEN=TOKEN,
            META_GRAPH_URL=url,
            UPSTREAM_READ_TIMEOUT=1.0,
            **overrides,
        )
    )


@pytest.fixture
def app_(tmp_path, graph):
    return meta_app(tmp_path, graph.url_for("/").rstrip("/"))


def event(client, body=None, origin=SITE, remote_addr="198.51.100.77", **extra):
    body = body or {
        "type": "track",
        "event_name": "Lead",
        "event_id": "abc",
        "page": "https://ansettr.no/stilling/selger-oslo?fbclid=IwAR123_abc",
        "custom_data": {"content_name": "Selger Oslo"},
        **extra,
    }
    headers = {"User-Agent": UA}
    if origin:
        headers["Origin"] = origin
    return client.post(
        "/fb/events",
        data=json.dumps(body),
        content_type="text/plain",
        headers=headers,
        environ_base={"REMOTE_ADDR": remote_addr},
    )


def batches(server):
    return [json.loads(req.get_data()) for req, resp in server.log if resp.status_code == 200]


@pytest.mark.parametrize("consent", [None, ANALYTICS_ONLY])
def test_no_marketing_consent_sends_nothing(app_, graph, database, consent):
    client = app_.test_client()
    if consent:
        post_decision(client, consent)
    assert event(client).status_code == 204
    deliver(app_)
    assert graph.log == []
    assert count(database, "outbox") == 0
    assert gateway_stats.totals(database, "meta")["dropped_no_consent"] == 1
    assert client.get_cookie("_fbp") is None, "no marketing cookie without consent"


def test_marketing_consent_sends_capi_event(app_, graph, database):
    client = app_.test_client()
    post_decision(client, MARKETING_ONLY)
    consent_id = client.get("/api/consent").get_json()["id"]
    before = int(time.time())
    r = event(client, user_data={"em": " Kari.Nordmann@Example.no ", "ph": "+47 912 34 567"})
    assert r.status_code == 204
    assert graph.log == [], "answered before anything goes upstream"
    fbp = client.get_cookie("_fbp").value
    fbc = client.get_cookie("_fbc").value
    assert meta_event.FBP.fullmatch(fbp)
    assert meta_event.FBC.fullmatch(fbc) and fbc.endswith(".IwAR123_abc")

    assert "delivered 1" in deliver(app_)
    [batch] = batches(graph)
    assert batch["access_token"] == TOKEN
    [e] = batch["data"]
    assert e["event_name"] == "Lead" and e["event_id"] == "abc"
    assert e["action_source"] == "website"
    assert before <= e["event_time"] <= int(time.time())
    assert e["event_source_url"].startswith("https://ansettr.no/stilling/selger-oslo")
    assert e["custom_data"] == {"content_name": "Selger Oslo"}
    u = e["user_data"]
    assert u["client_ip_address"] == "198.51.100.77"
    assert u["client_user_agent"] == UA
    assert u["fbp"] == fbp and u["fbc"] == fbc
    assert u["external_id"] == [meta_event.sha256(consent_id)]
    assert u["em"] == [meta_event.sha256("kari.nordmann@example.no")]
    assert u["ph"] == [meta_event.sha256("4791234567")]
    assert gateway_stats.totals(database, "meta")["forwarded"] == 1


def test_existing_fbp_is_kept_and_test_code_sent(tmp_path, graph):
    app = meta_app(tmp_path, graph.url_for("/").rstrip("/"), META_TEST_EVENT_CODE="TEST123")
    client = app.test_client()
    post_decision(client, ACCEPT_ALL)
    client.set_cookie("_fbp", "fb.1.1700000000000.1234567890")
    event(client, page="https://ansettr.no/")
    deliver(app)
    [batch] = batches(graph)
    assert batch["test_event_code"] == "TEST123"
    assert batch["data"][0]["user_data"]["fbp"] == "fb.1.1700000000000.1234567890"
    assert "fbc" not in batch["data"][0]["user_data"]


# Meta's documented examples, then Norwegian forms.
EMAILS = [
    ("John_Smith@gmail.com", "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"),
    (
        "  john_smith@GMAIL.com\t",
        "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f",
    ),
    (
        "62A14E44F765419D10FEA99367361A727C12365E2520F32218D505ED9AA0F62F",
        "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f",
    ),
]
PHONES = [
    ("+1 (650) 555-1212", "16505551212"),
    ("+47 912 34 567", "4791234567"),
    ("0047 91234567", "4791234567"),
    ("91234567", "4791234567"),
    ("912 34 567", "4791234567"),
    ("+47-22-33-44-55", "4722334455"),
]


@pytest.mark.parametrize(("raw", "expected"), EMAILS)
def test_email_hashing(raw, expected):
    assert matching.hashed("em", raw) == expected


@pytest.mark.parametrize(("raw", "normalised"), PHONES)
def test_phone_normalisation(raw, normalised):
    assert matching.phone(raw) == normalised
    assert matching.hashed("ph", raw) == meta_event.sha256(normalised)


def test_meta_documented_phone_hash():
    expected = "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"
    assert matching.hashed("ph", "+1 (650)555-1212") == expected
    assert matching.hashed("ph", expected.upper()) == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"type": "track", "event_name": "Leed"}, "trackCustom"),
        ({"type": "trackCustom", "event_name": "x" * 60}, "custom event names"),
        ({"type": "trackCustom", "event_name": "Lead"}, "custom event names"),
        ({"type": "other", "event_name": "Lead"}, "type must be"),
        ({"event_name": 5}, "event_name"),
        ({"event_name": "Lead", "event_id": "a b"}, "event_id"),
        ({"event_name": "Lead", "custom_data": []}, "custom_data"),
        ({"event_name": "Lead", "user_data": {"address": "x"}}, "user_data may only hold"),
        ({"event_name": "Lead", "user_data": []}, "user_data must be an object"),
        ({"event_name": "Lead", "referrer": "javascript:alert(1)"}, "referrer"),
        ({"event_name": "Lead", "user_data": {"em": "not-an-email"}}, "email"),
        ({"event_name": "Lead", "user_data": {"ph": "12"}}, "phone"),
        ({"event_name": "Lead", "page": "ftp://x"}, "page"),
        ({"event_name": "Lead", "extra": 1}, "unknown field"),
    ],
)
def test_malformed_events_are_400_and_write_nothing(app_, database, body, message):
    client = app_.test_client()
    post_decision(client, ACCEPT_ALL)
    r = event(client, body=body)
    assert r.status_code == 400
    assert message in r.get_json()["error"]
    assert count(database, "outbox") == 0


def test_custom_events_are_accepted(app_, graph, database):
    client = app_.test_client()
    post_decision(client, ACCEPT_ALL)
    r = event(client, body={"type": "trackCustom", "event_name": "ApplyClicked"})
    assert r.status_code == 204
    deliver(app_)
    assert batches(graph)[0]["data"][0]["event_name"] == "ApplyClicked"


def test_origin_rule_and_limits(app_, database):
    client = app_.test_client()
    post_decision(client, ACCEPT_ALL)
    assert event(client, origin=None).status_code == 403
    assert event(client, origin="https://evil.example").status_code == 403
    big = {"event_name": "Lead", "custom_data": {"x": "a" * 5000}}
    assert event(client, body=big).status_code == 413
    r = client.post("/fb/events", data="{}", content_type="image/png", headers={"Origin": SITE})
    assert r.status_code == 415
    assert count(database, "outbox") == 0


def test_upstream_500_and_timeout_are_retried(tmp_path, httpserver, database):
    httpserver.expect_ordered_request(f"/v23.0/{PIXEL}/events").respond_with_data(
        "oops", status=500
    )
    httpserver.expect_ordered_request(f"/v23.0/{PIXEL}/events").respond_with_json(
        {"error": {"message": "Service temporarily unavailable", "code": 2, "is_transient": True}},
        status=400,
    )
    app = meta_app(tmp_path, httpserver.url_for("/").rstrip("/"))
    client = app.test_client()
    post_decision(client, ACCEPT_ALL)
    event(client)
    deliver(app)
    [(attempts, status, next_attempt)] = database.execute(
        "select attempts, status, next_attempt from outbox"
    )
    assert (attempts, status) == (1, "pending") and next_attempt > time.time()
    database.execute("update outbox set next_attempt = 0")  # the backoff has passed
    deliver(app)
    [(attempts, status, error)] = database.execute(
        "select attempts, status, last_error from outbox"
    )
    assert (attempts, status) == (2, "pending") and "temporarily" in error


def test_meta_error_makes_items_dead_with_message(tmp_path, httpserver, database):
    error = {
        "message": "Invalid parameter",
        "type": "OAuthException",
        "code": 100,
        "error_user_msg": "The event time is too far in the past",
        "fbtrace_id": "Xyz",
    }
    httpserver.expect_request(f"/v23.0/{PIXEL}/events").respond_with_json(
        {"error": error}, status=400
    )
    app = meta_app(tmp_path, httpserver.url_for("/").rstrip("/"))
    client = app.test_client()
    post_decision(client, ACCEPT_ALL)
    event(client)
    deliver(app)
    out = app.test_cli_runner().invoke(args=["outbox"]).output
    assert "dead      1" in out
    assert "Invalid parameter" in out and "too far in the past" in out


def test_events_older_than_seven_days_die(app_, graph, database):
    client = app_.test_client()
    post_decision(client, ACCEPT_ALL)
    event(client)
    database.execute("update outbox set created = created - 7 * 86400")
    deliver(app_)
    assert graph.log == []
    [(status, error)] = database.execute("select status, last_error from outbox")
    assert status == "dead" and "expired" in error


@pytest.mark.parametrize("how", ["delete", "refuse_marketing"])
def test_withdrawal_deletes_pending_meta_items(app_, graph, database, how):
    client = app_.test_client()
    post_decision(client, ACCEPT_ALL)
    event(client)
    assert count(database, "outbox") == 1
    if how == "delete":
        client.delete("/api/consent", headers={"Origin": SITE})
    else:
        post_decision(client, ANALYTICS_ONLY)
    assert count(database, "outbox") == 0
    deliver(app_)
    assert graph.log == []


def test_no_raw_email_phone_or_ip_in_database(app_, database):
    client = app_.test_client()
    post_decision(client, ACCEPT_ALL, remote_addr="203.0.113.45")
    event(
        client,
        remote_addr="203.0.113.45",
        user_data={"em": "kari.nordmann@example.no", "ph": "+47 912 34 567"},
    )
    raw = database_bytes(app_.config["DATABASE"])
    for secret in (b"kari.nordmann@example.no", b"912 34 567", b"4791234567", b"203.0.113.45"):
        assert secret not in raw
    assert count(database, "outbox") == 1
