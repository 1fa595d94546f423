import io
import json

import pytest
from helpers import ACCEPT_ALL, REJECT_ALL, SITE, count, decide, post_decision


def cookie_of(response):
    return [h for h in response.headers.getlist("Set-Cookie") if h.startswith("consent=")]


def test_undecided_visitor_reads_as_undecided(client):
    r = client.get("/api/consent")
    assert r.status_code == 200
    body = r.get_json()
    assert body["decided"] is False
    assert body["stale"] is False
    assert body["id"] is None
    assert body["choices"] == {"analytics": False, "marketing": False}
    assert body["expires"] is None
    assert len(body["version"]) == 12
    assert r.headers["Cache-Control"] == "no-store"


def test_accept_all_sets_cookie_logs_and_counts(client, database):
    r = post_decision(client, {**ACCEPT_ALL, "page": "https://ansettr.no/jobb?utm=x#top"})
    assert r.status_code == 201
    body = r.get_json()
    assert body["decided"] is True and body["stale"] is False
    assert body["choices"] == {"analytics": True, "marketing": True}
    assert body["receipt"] == f"/receipt/{body['id']}"
    [header] = cookie_of(r)
    assert "SameSite=Lax" in header and "HttpOnly" not in header
    assert "Max-Age=15552000" in header

    [row] = database["decisions"].rows
    assert row["consent_id"] == body["id"]
    assert row["method"] == "accept_all"
    assert row["page"] == "https://ansettr.no/jobb"
    assert json.loads(row["choices"]) == {"analytics": True, "marketing": True}
    assert row["ip_prefix"] == "127.0.0.0/24"
    assert row["ua_family"] == "other"
    assert count(database, "daily_decisions") == 1
    granted = {(r["category"], r["granted"]): r["count"] for r in database["daily_consent"].rows}
    assert granted == {("analytics", 1): 1, ("marketing", 1): 1}

    again = client.get("/api/consent").get_json()
    assert again["decided"] is True and again["id"] == body["id"]
    assert again["choices"] == {"analytics": True, "marketing": True}
    assert again["expires"] == body["expires"]


def test_consent_id_is_kept_across_changes(client, database):
    first = post_decision(client, ACCEPT_ALL).get_json()
    second = post_decision(client, REJECT_ALL).get_json()
    third = client.delete("/api/consent", headers={"Origin": SITE})
    assert third.status_code == 200
    assert first["id"] == second["id"] == third.get_json()["id"]
    methods = [r["method"] for r in database["decisions"].rows_where(order_by="seq")]
    assert methods == ["accept_all", "reject_all", "withdraw"]


def test_withdraw_is_remembered_as_refusal(client):
    post_decision(client, ACCEPT_ALL)
    r = client.delete("/api/consent", headers={"Origin": SITE})
    assert r.get_json()["choices"] == {"analytics": False, "marketing": False}
    assert cookie_of(r)
    state = client.get("/api/consent").get_json()
    assert state["decided"] is True
    assert state["choices"] == {"analytics": False, "marketing": False}


def test_custom_choice(client):
    body = {"choices": {"analytics": True, "marketing": False}, "method": "custom", "lang": "en"}
    r = post_decision(client, body, content_type="application/json")
    assert r.status_code == 201
    assert r.get_json()["choices"] == {"analytics": True, "marketing": False}


def test_missing_categories_default_to_refused(client):
    r = post_decision(client, {"choices": {"analytics": True}, "method": "custom"})
    assert r.get_json()["choices"] == {"analytics": True, "marketing": False}


BAD_BODIES = [
    (b"{not json", 400, "not valid JSON"),
    (b"[]", 400, "JSON object"),
    (b"\xff\xfe", 400, "not valid JSON"),
    ({"choices": {"analytics": True, "video": True}, "method": "custom"}, 400, "unknown category"),
    ({"choices": {"analytics": "yes"}, "method": "custom"}, 400, "true or false"),
    ({"choices": {"analytics": 1}, "method": "custom"}, 400, "true or false"),
    ({"choices": {"necessary": False}, "method": "custom"}, 400, "always on"),
    ({"choices": {}, "method": "maybe"}, 400, "method must be"),
    ({"choices": {}, "method": "withdraw"}, 400, "method must be"),
    ({"choices": {}, "method": "custom", "lang": "de"}, 400, "lang must be"),
    ({"choices": [], "method": "custom"}, 400, "choices must be"),
    ({"method": "custom"}, 400, "choices must be"),
    ({"choices": {}, "method": "custom", "extra": 1}, 400, "unknown field"),
    ({"choices": {"analytics": False}, "method": "accept_all"}, 400, "accept_all"),
    ({"choices": {"analytics": True}, "method": "reject_all"}, 400, "reject_all"),
    ({"choices": {"marketing": True}, "method": "gpc"}, 400, "gpc"),
    ({"choices": {}, "method": "custom", "page": "javascript:alert(1)"}, 400, "http"),
    ({"choices": {}, "method": "custom", "page": 7}, 400, "http"),
    ({**ACCEPT_ALL, "page": "https://ansettr.no/" + "a" * 5000}, 413, "larger than"),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD_BODIES)
def test_bad_decisions_write_nothing(client, database, body, status, message):
    r = post_decision(client, body)
    assert r.status_code == status
    assert message in r.get_json()["error"]
    assert not cookie_of(r)
    assert count(database) == 0
    assert count(database, "daily_decisions") == 0


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/html", ""])
def test_wrong_content_type_is_415(client, database, content_type):
    r = post_decision(client, ACCEPT_ALL, content_type=content_type)
    assert r.status_code == 415
    assert "error" in r.get_json()
    assert not cookie_of(r) and count(database) == 0


def test_chunked_body_over_limit_is_413(client, database):
    body = json.dumps(ACCEPT_ALL).encode() + b" " * 5000
    r = client.post(
        "/api/consent",
        input_stream=io.BytesIO(body),
        headers={"Origin": SITE, "Content-Type": "text/plain"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert r.status_code == 413
    assert count(database) == 0


@pytest.mark.parametrize("origin", [None, "https://evil.example", "http://ansettr.no", "null"])
def test_origin_rule(client, database, origin):
    r = post_decision(client, ACCEPT_ALL, origin=origin)
    assert r.status_code == 403
    assert "error" in r.get_json()
    assert "Access-Control-Allow-Origin" not in r.headers
    d = client.delete("/api/consent", headers={"Origin": origin} if origin else {})
    assert d.status_code == 403
    assert not cookie_of(r) and not cookie_of(d)
    assert count(database) == 0


def test_own_origin_is_allowed(client):
    r = post_decision(client, ACCEPT_ALL, origin="http://localhost")
    assert r.status_code == 201
    assert r.headers["Access-Control-Allow-Origin"] == "http://localhost"


def test_cors_for_site_origin(client):
    r = post_decision(client, ACCEPT_ALL)
    assert r.headers["Access-Control-Allow-Origin"] == SITE
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in r.headers["Vary"]

    pre = client.options(
        "/api/consent",
        headers={
            "Origin": SITE,
            "Access-Control-Request-Method": "DELETE",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == SITE
    assert "DELETE" in pre.headers["Access-Control-Allow-Methods"]
    assert pre.headers["Access-Control-Allow-Credentials"] == "true"

    bad = client.options("/api/consent", headers={"Origin": "https://evil.example"})
    assert bad.status_code == 403
    assert "Access-Control-Allow-Origin" not in bad.headers

    get = client.get("/api/consent", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in get.headers


def test_gpc_signal_for_undecided_visitor(client, database):
    for header in ({"Sec-GPC": "1"}, {"DNT": "1"}):
        assert client.get("/api/consent", headers=header).get_json()["gpc"] is True
    assert client.get("/api/consent").get_json()["gpc"] is False
    assert count(database) == 0, "a GET never writes a row"

    r = post_decision(
        client,
        {"choices": {"analytics": False, "marketing": False}, "method": "gpc"},
        **{"Sec-GPC": "1"},
    )
    assert r.status_code == 201
    state = client.get("/api/consent", headers={"Sec-GPC": "1"}).get_json()
    assert state["decided"] is True and state["gpc"] is False

    later = post_decision(client, {"choices": {"analytics": True}, "method": "custom"})
    assert later.get_json()["choices"]["analytics"] is True, "the visitor can still opt in"


def test_gpc_is_a_refusal_again_once_the_policy_version_changed(app, client, database):
    """A returning visitor whose decision is for an older version is asked again: GPC answers."""
    from datetime import UTC, datetime

    from consentmgr.consent import cookie as consent_cookie
    from consentmgr.consent.cookie import Consent

    now = datetime.now(UTC).replace(microsecond=0)
    decide(app, database, "returning", now, version="000000000000")
    old = Consent("returning", "000000000000", frozenset({"analytics"}), now)
    client.set_cookie("consent", consent_cookie.encode(app, old))
    for header in ({"Sec-GPC": "1"}, {"DNT": "1"}):
        state = client.get("/api/consent", headers=header).get_json()
        assert state["stale"] is True and state["gpc"] is True
    assert client.get("/api/consent").get_json()["gpc"] is False


def test_gpc_ignored_when_not_honoured(tmp_path):
    from helpers import make_config

    from consentmgr import create_app

    client = create_app(make_config(tmp_path, HONOR_GPC=False)).test_client()
    assert client.get("/api/consent", headers={"Sec-GPC": "1"}).get_json()["gpc"] is False


def test_security_headers_on_api(client):
    r = client.get("/api/consent")
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_a_connection_lost_after_the_commit_answers_503_and_the_retry_is_logged_again(
    client, database, monkeypatch
):
    """The decision is stored, but the answer is a 503 without a cookie (README, Several
    servers): a retry logs the same decision a second time, under a new id on a first visit."""
    from consentmgr.proof import checkpoints
    from consentmgr.storage import Unavailable

    def lost(*args):
        raise Unavailable("the connection was lost after the commit")

    def decide(fails):
        with monkeypatch.context() as m:
            if fails:
                m.setattr(checkpoints, "after_append", lost)  # the first statement after it
            return post_decision(client, REJECT_ALL)

    for fails, status in [(True, 503), (False, 201), (True, 503), (False, 201)]:
        response = decide(fails)
        assert response.status_code == status
        assert bool(cookie_of(response)) is (status == 201)
    rows = list(database.query("select consent_id, choices, method from decisions order by seq"))
    assert len(rows) == 4, "every decision was committed, answered or not"
    assert rows[0]["consent_id"] != rows[1]["consent_id"], "a first visit: no cookie came back"
    assert rows[1] == rows[2] == rows[3], "a returning visitor: the same decision, three rows"
