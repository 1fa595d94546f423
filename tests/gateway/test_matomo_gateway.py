"""The Matomo gateway against a real HTTP stand-in for Matomo on 127.0.0.1."""

import json
import socket
import threading
import time
from urllib.parse import parse_qsl, urlencode

import pytest
from helpers import (
    ACCEPT_ALL,
    MATOMO_TOKEN,
    count,
    counted,
    database_bytes,
    deliver,
    gateway_app,
    matomo_ok,
    on_postgres,
    post_decision,
    shipped_policy,
)
from werkzeug import Response

from consentmgr.gateway import counters as gateway_stats
from consentmgr.gateway.matomo import hit as matomo_hit

TOKEN = MATOMO_TOKEN
UA = "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0 Safari/537.36"
ANALYTICS_ONLY = {"choices": {"analytics": True, "marketing": False}, "method": "custom"}
MARKETING_ONLY = {"choices": {"analytics": False, "marketing": True}, "method": "custom"}


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def matomo(httpserver):
    """A Matomo stand-in that tracks every hit it gets and records the requests."""
    httpserver.expect_request("/matomo.php", method="POST").respond_with_handler(matomo_ok)
    return httpserver


@pytest.fixture
def gw(tmp_path, matomo):
    return gateway_app(tmp_path, matomo.url_for("/"))


@pytest.fixture
def gw_client(gw):
    return gw.test_client()


def hit(client, path="/matomo.php", remote_addr="198.51.100.23", **params):
    params = {"idsite": "1", "rec": "1", "url": "https://ansettr.no/jobb", **params}
    return client.get(
        path,
        query_string=params,
        headers={"User-Agent": UA, "Accept-Language": "nb-NO,nb;q=0.9"},
        environ_base={"REMOTE_ADDR": remote_addr},
    )


def upstream_hits(server):
    """Every hit the stand-in tracked (answered 200), as dicts, with the bulk body's token."""
    hits = []
    for request, response in server.log:
        if response.status_code != 200:
            continue
        body = json.loads(request.get_data())
        for q in body["requests"]:
            hits.append({**dict(parse_qsl(q.lstrip("?"))), "_token": body.get("token_auth")})
    return hits


def outbox_status(db):
    return dict(db.execute("select status, count(*) from outbox group by status").fetchall())


def test_no_consent_drops_and_counts(gw, gw_client, matomo, database):
    r = hit(gw_client)
    assert r.status_code == 204
    deliver(gw)
    assert len(matomo.log) == 0
    assert count(database, "outbox") == 0
    assert counted(gw_client, database, "matomo")["dropped_no_consent"] == 1


def test_refusal_and_marketing_only_drop_analytics_hits(gw, gw_client, matomo, database):
    post_decision(gw_client, MARKETING_ONLY)
    assert hit(gw_client).status_code == 204
    post_decision(
        gw_client, {"choices": {"analytics": False, "marketing": False}, "method": "reject_all"}
    )
    assert hit(gw_client).status_code == 204
    deliver(gw)
    assert len(matomo.log) == 0
    assert count(database, "outbox") == 0
    assert counted(gw_client, database, "matomo")["dropped_no_consent"] == 2


def test_tampered_or_stale_cookie_is_no_consent(tmp_path, gw, gw_client, matomo, database):
    post_decision(gw_client, ACCEPT_ALL)
    value = gw_client.get_cookie("consent").value
    gw_client.set_cookie("consent", value[:-3] + "AAA")
    hit(gw_client)

    policy = tmp_path / "policy.json"

    content = shipped_policy()
    content["categories"][1]["vendors"].append({"id": "other", "name": "Other"})
    policy.write_text(json.dumps(content))
    changed = gateway_app(tmp_path, matomo.url_for("/"), POLICY_FILE=str(policy)).test_client()
    changed.set_cookie("consent", value)
    hit(changed)
    deliver(gw)
    assert len(matomo.log) == 0 and count(database, "outbox") == 0


def test_consented_hit_is_cleaned_and_forwarded(gw, gw_client, matomo, database):
    post_decision(gw_client, ANALYTICS_ONLY)
    before = int(time.time())
    r = hit(
        gw_client,
        foo="bar",
        token_auth="client-token",
        idsite="999",
        cip="6.6.6.6",
        cdt="2001-01-01 00:00:00",
        country="us",
        city="Nowhere",
        lat="1.0",
        ua="forged-agent",
        action_name="Stillinger",
        dimension3="x",
        url="https://elsewhere.example/page",
    )
    assert r.status_code == 204
    assert len(matomo.log) == 0, "the visitor is answered before anything goes upstream"
    assert outbox_status(database) == {"pending": 1}

    out = deliver(gw)
    assert "delivered 1" in out
    [h] = upstream_hits(matomo)
    assert h["idsite"] == "7"
    assert h["_token"] == TOKEN
    assert h["cip"] == "198.51.100.23"
    assert before <= int(h["cdt"]) <= int(time.time())
    assert h["ua"] == UA
    assert h["lang"] == "nb-NO,nb;q=0.9"
    assert h["action_name"] == "Stillinger" and h["dimension3"] == "x"
    assert h["url"] == "https://elsewhere.example/page"
    for forbidden in ("foo", "token_auth", "country", "city", "lat"):
        assert forbidden not in h
    [request, _] = matomo.log[0]
    assert "token_auth" not in request.query_string.decode()
    assert outbox_status(database) == {"delivered": 1}
    assert gateway_stats.totals(database, "matomo")["forwarded"] == 1


def test_piwik_alias_and_image_reply(gw_client, database):
    post_decision(gw_client, ACCEPT_ALL)
    r = hit(gw_client, path="/piwik.php", send_image="1")
    assert r.status_code == 200 and r.mimetype == "image/gif"
    assert r.data.startswith(b"GIF89a")
    assert outbox_status(database) == {"pending": 1}


def matomo_js_request(n, **extra):
    """A request string as matomo.js builds it."""
    params = {
        "action_name": f"Side {n}",
        "idsite": "1",
        "rec": "1",
        "r": "123456",
        "h": "10",
        "m": "0",
        "s": "1",
        "url": f"https://ansettr.no/side/{n}",
        "_id": "0123456789abcdef",
        "_idn": "0",
        "send_image": "0",
        "_refts": "0",
        "pv_id": "AbC123",
        "pf_net": "0",
        "res": "1920x1080",
        **extra,
    }
    return urlencode(params)


def test_official_matomo_js_transports(gw, gw_client, matomo, database):
    post_decision(gw_client, ACCEPT_ALL)
    form = "application/x-www-form-urlencoded; charset=UTF-8"
    r1 = gw_client.get("/matomo.php?" + matomo_js_request(1))
    r2 = gw_client.post("/matomo.php", data=matomo_js_request(2), content_type=form)
    bulk = {"requests": ["?" + matomo_js_request(3), "?" + matomo_js_request(4)]}
    r3 = gw_client.post("/matomo.php", data=json.dumps(bulk), content_type=form)
    r4 = gw_client.post("/matomo.php", data=json.dumps(bulk), content_type="text/plain")
    assert [r.status_code for r in (r1, r2, r3, r4)] == [204] * 4
    deliver(gw)
    names = sorted(h["action_name"] for h in upstream_hits(matomo))
    assert names == ["Side 1", "Side 2", "Side 3", "Side 3", "Side 4", "Side 4"]
    assert all(h["idsite"] == "7" for h in upstream_hits(matomo))


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ('{"requests": ', 400),
        ('{"requests": "?rec=1"}', 400),
        ('{"requests": [1, 2]}', 400),
        ('{"requests": []}', 400),
        ('{"requests": ["?idsite=1&rec=1", "?idsite=1"]}', 400),
        ("idsite=1&url=x", 400),
        (json.dumps({"requests": ["?idsite=1&rec=1"] * 101}), 413),
        ("rec=1&url=" + "a" * 70_000, 413),
    ],
)
def test_bad_hits_are_rejected_and_nothing_queued(gw_client, database, body, status):
    post_decision(gw_client, ACCEPT_ALL)
    r = gw_client.post("/matomo.php", data=body, content_type="text/plain")
    assert r.status_code == status
    assert "error" in r.get_json()
    assert count(database, "outbox") == 0
    assert counted(gw_client, database, "matomo")["rejected_invalid"] >= 1


def test_non_utf8_body_is_400(gw_client, database):
    post_decision(gw_client, ACCEPT_ALL)
    r = gw_client.post("/matomo.php", data=b"rec=1&url=\xff\xfe", content_type="text/plain")
    assert r.status_code == 400
    assert count(database, "outbox") == 0


def test_no_raw_ip_or_user_agent_in_database(gw, gw_client, database):
    post_decision(gw_client, ACCEPT_ALL, remote_addr="203.0.113.199")
    hit(gw_client, remote_addr="203.0.113.199")
    raw = database_bytes(gw.config["DATABASE"])
    assert b"203.0.113.199" not in raw
    assert UA.encode() not in raw
    assert count(database, "outbox") == 1


def test_upstream_down_then_back(tmp_path, httpserver, database):
    """Port closed, then 500s, then a stall: visitors get 204, nothing lost or doubled."""
    down = gateway_app(tmp_path, f"http://127.0.0.1:{closed_port()}/")
    client = down.test_client()
    post_decision(client, ACCEPT_ALL)
    for n in range(5):
        assert hit(client, action_name=f"down {n}").status_code == 204
    deliver(down)
    rows = list(database.execute("select attempts, status, last_error from outbox"))
    assert len(rows) == 5
    assert all(a == 1 and s == "pending" and "network error" in e for a, s, e in rows)

    def make_due():  # the backoff has passed
        database.execute("update outbox set next_attempt = 0 where status = 'pending'")

    httpserver.expect_request("/matomo.php").respond_with_data("oops", status=500)
    failing = gateway_app(tmp_path, httpserver.url_for("/"))
    fclient = failing.test_client()
    fclient.set_cookie("consent", client.get_cookie("consent").value)
    for n in range(5, 8):
        assert hit(fclient, action_name=f"down {n}").status_code == 204
    make_due()
    deliver(failing)
    assert len(httpserver.log) == 1, "one bulk call, then back off"
    attempts = sorted(a for (a,) in database.execute("select attempts from outbox"))
    assert attempts == [1, 1, 1, 2, 2, 2, 2, 2]
    assert {e for (e,) in database.execute("select last_error from outbox")} == {"HTTP 500: oops"}

    httpserver.clear()

    released = threading.Event()

    def stall(request):  # a 3 s stall that ends in an error: nothing was tracked
        released.wait(3)
        return Response("stalled", status=503)

    httpserver.expect_request("/matomo.php").respond_with_handler(stall)
    make_due()
    deliver(failing)
    released.set()
    assert all("timeout" in e for (e,) in database.execute("select last_error from outbox"))
    assert outbox_status(database) == {"pending": 8}

    httpserver.clear()
    httpserver.expect_request("/matomo.php", method="POST").respond_with_handler(matomo_ok)
    make_due()
    deliver(failing)
    received = sorted(h["action_name"] for h in upstream_hits(httpserver))
    assert received == sorted(f"down {n}" for n in range(8))
    assert outbox_status(database) == {"delivered": 8}
    deliver(failing)
    assert len(upstream_hits(httpserver)) == 8, "delivered exactly once"


def test_bad_token_makes_items_dead_and_retry_requeues(tmp_path, httpserver, database):
    httpserver.expect_request("/matomo.php").respond_with_json(
        {"status": "error", "message": "token_auth is not valid"}, status=401
    )
    app = gateway_app(tmp_path, httpserver.url_for("/"))
    client = app.test_client()
    post_decision(client, ACCEPT_ALL)
    hit(client)
    hit(client)
    deliver(app)
    assert outbox_status(database) == {"dead": 2}
    runner = app.test_cli_runner()
    shown = runner.invoke(args=["outbox"]).output
    assert "dead      2" in shown and "HTTP 401" in shown and "token_auth is not valid" in shown
    as_json = json.loads(runner.invoke(args=["outbox", "--json"]).output)
    assert as_json["dead"] == 2 and as_json["counters"]["dead"] == 2
    assert "HTTP 401" in as_json["dead_items"][0]["last_error"]

    retried = runner.invoke(args=["outbox", "retry"])
    assert "re-queued 2" in retried.output
    assert outbox_status(database) == {"pending": 2}
    httpserver.clear()
    httpserver.expect_request("/matomo.php").respond_with_handler(matomo_ok)
    deliver(app)
    assert outbox_status(database) == {"delivered": 2}


def test_bulk_reply_with_invalid_items(tmp_path, httpserver, database):
    httpserver.expect_request("/matomo.php").respond_with_json(
        {"status": "success", "tracked": 2, "invalid": 1, "invalid_indices": [1]}
    )
    app = gateway_app(tmp_path, httpserver.url_for("/"))
    client = app.test_client()
    post_decision(client, ACCEPT_ALL)
    for n in range(3):
        hit(client, action_name=f"h{n}")
    deliver(app)
    rows = dict(database.execute("select id, status from outbox order by id").fetchall())
    assert list(rows.values()) == ["delivered", "dead", "delivered"]
    out = app.test_cli_runner().invoke(args=["outbox"]).output
    assert "Matomo reported this hit invalid" in out


@pytest.mark.parametrize(
    "reply",
    [
        {"status": "success", "tracked": 0, "invalid": 0},
        "GIF89a",
        {"status": "error"},
    ],
)
def test_a_200_that_tracked_nothing_is_not_success(tmp_path, httpserver, database, reply):
    if isinstance(reply, dict):
        httpserver.expect_request("/matomo.php").respond_with_json(reply)
    else:
        httpserver.expect_request("/matomo.php").respond_with_data(reply)
    app = gateway_app(tmp_path, httpserver.url_for("/"))
    client = app.test_client()
    post_decision(client, ACCEPT_ALL)
    hit(client)
    deliver(app)
    assert outbox_status(database) == {"pending": 1}
    [(error,)] = database.execute("select last_error from outbox")
    assert "Matomo" in error


def test_old_items_die_instead_of_being_sent_late(gw, gw_client, matomo, database):
    post_decision(gw_client, ACCEPT_ALL)
    hit(gw_client)
    database.execute("update outbox set created = created - 49 * 3600")
    deliver(gw)
    assert len(matomo.log) == 0
    [(status, error)] = database.execute("select status, last_error from outbox")
    assert status == "dead" and "expired" in error


def test_leases_stop_two_deliverers_sending_the_same_rows(gw, gw_client, database):
    from consentmgr.gateway import outbox

    post_decision(gw_client, ACCEPT_ALL)
    for _ in range(3):
        hit(gw_client)
    now = time.time()
    first = outbox.claim(database, "matomo", 100, "a", now)
    second = outbox.claim(database, "matomo", 100, "b", now)
    assert len(first) == 3 and second == []
    later = outbox.claim(database, "matomo", 100, "b", now + outbox.LEASE_SECONDS + 1)
    assert len(later) == 3, "an expired lease is taken over"
    assert outbox.delivered(database, first, "a", now, "2026-01-01") == 0, "lost lease"


def test_prune_takes_old_finished_rows_and_never_pending_ones(gw, gw_client, database):
    from consentmgr.gateway import outbox

    post_decision(gw_client, ACCEPT_ALL)
    for _ in range(3):
        hit(gw_client)
    now = time.time()
    first, *_ = outbox.claim(database, "matomo", 1, "a", now)
    outbox.delivered(database, [first], "a", now, "2026-01-01")
    database.execute("update outbox set created = created - 86400")
    assert outbox.prune(database, now - 1) == 0
    assert outbox.prune(database, now + 1) == 1
    assert outbox_status(database) == {"pending": 2}
    if not on_postgres():
        # Pending rows have no finish time: a hit's commit writes no page of this index.
        plan = database.execute("explain query plan " + outbox.PRUNE, [now]).fetchall()
        assert "outbox_finished" in str(plan)


def test_forget_refused_deletes_only_pending(gw, gw_client, database):
    from consentmgr.gateway import outbox

    post_decision(gw_client, ACCEPT_ALL)
    hit(gw_client)
    cid = gw_client.get("/api/consent").get_json()["id"]
    assert outbox.forget_refused(database, cid, {"analytics": False, "marketing": True}) == 1
    assert count(database, "outbox") == 0


def test_a_hit_committed_just_after_a_withdrawal_is_never_sent(gw, gw_client, matomo, database):
    """A hit checks the visitor's latest decision, then commits its row: a withdrawal
    can land between the two, deleting the visitor's rows before this one exists."""
    post_decision(gw_client, ACCEPT_ALL)
    hit(gw_client, action_name="checked before the withdrawal")
    [row] = database.execute("select * from outbox").fetchall()
    assert (
        gw_client.delete("/api/consent", headers={"Origin": "https://ansettr.no"}).status_code
        == 200
    )
    assert count(database, "outbox") == 0
    database.execute(f"insert into outbox values ({', '.join('?' * len(row))})", list(row))

    assert "delivered 0" in deliver(gw)
    assert upstream_hits(matomo) == []
    assert count(database, "outbox") == 0


def test_a_hit_is_sent_while_the_latest_decision_still_grants_it(gw, gw_client, matomo, database):
    post_decision(gw_client, ACCEPT_ALL)
    hit(gw_client, action_name="kept")
    post_decision(gw_client, ANALYTICS_ONLY)  # a new decision that still grants analytics
    post_decision(gw.test_client(), MARKETING_ONLY)  # another visitor's refusal
    deliver(gw)
    assert [h["action_name"] for h in upstream_hits(matomo)] == ["kept"]


def test_items_erased_while_being_sent_are_not_counted_dead(gw, gw_client, database):
    from consentmgr.gateway import counters as gateway_stats
    from consentmgr.gateway import outbox

    post_decision(gw_client, ACCEPT_ALL)
    hit(gw_client)
    hit(gw_client)
    cid = gw_client.get("/api/consent").get_json()["id"]
    now = time.time()
    sending = outbox.claim(database, "matomo", 10, "w", now)
    assert outbox.erase_visitor(database, cid, now) == (2, 0, 2)
    outbox.failed(database, sending, "w", "HTTP 401", now, "2026-01-01", permanent=True)
    assert gateway_stats.totals(database, "matomo")["dead"] == 0
    assert count(database, "outbox") == 0


def test_background_deliverer_delivers_without_cli(tmp_path, matomo, database):
    app = gateway_app(
        tmp_path, matomo.url_for("/"), DELIVER_IN_BACKGROUND=True, DELIVER_INTERVAL_SECONDS=0.05
    )
    client = app.test_client()
    post_decision(client, ACCEPT_ALL)
    hit(client)
    thread = app.extensions["consentmgr.deliverer"]
    for _ in range(200):
        if outbox_status(database) == {"delivered": 1}:
            break
        thread.woken.set()
        time.sleep(0.05)
    thread.stop()
    thread.join(5)
    assert outbox_status(database) == {"delivered": 1}
    assert len(upstream_hits(matomo)) == 1


def test_a_process_whose_first_request_is_a_hit_starts_its_deliverer(tmp_path, matomo, database):
    # The hit endpoint runs no before_request hook (web.direct_views), the
    # deliverer's usual start: queueing the hit starts it.
    deciding = gateway_app(tmp_path, matomo.url_for("/")).test_client()
    post_decision(deciding, ACCEPT_ALL)
    app = gateway_app(
        tmp_path, matomo.url_for("/"), DELIVER_IN_BACKGROUND=True, DELIVER_INTERVAL_SECONDS=0.05
    )
    client = app.test_client()
    client.set_cookie("consent", deciding.get_cookie("consent").value)
    assert "consentmgr.deliverer" not in app.extensions
    assert hit(client).status_code == 204
    thread = app.extensions["consentmgr.deliverer"]
    try:
        for _ in range(200):
            if outbox_status(database) == {"delivered": 1}:
                break
            time.sleep(0.05)
    finally:
        thread.stop()
        thread.join(5)
    assert outbox_status(database) == {"delivered": 1}
    assert len(upstream_hits(matomo)) == 1


# What our tracker and the official one send for the calls in README's parity table.
TRACKER_PARAMETERS = """
    action_name url urlref _id h m s res apiv send_image pv_id uid dimension1 dimension999
    e_c e_a e_n e_v idgoal revenue search search_cat search_count link download ping
    c_n c_p c_t c_i ca ec_id ec_items ec_st ec_tx ec_sh ec_dt _pkc _pkp _pks _pkn
    cvar _cvar e_cvar pf_net pf_srv pf_tfr pf_dm1 pf_dm2 pf_onl
""".split()


def test_allowlist_keeps_every_parameter_the_tracker_sends():
    assert [name for name in TRACKER_PARAMETERS if not matomo_hit.allowed(name)] == []
    assert not matomo_hit.allowed("dimension1000") and not matomo_hit.allowed("data")


def test_a_hit_is_answered_204_without_a_body_or_its_type(gw_client):
    r = hit(gw_client)
    assert r.status_code == 204 and r.data == b""
    assert "Content-Type" not in r.headers
    assert r.headers["Cache-Control"] == "no-store"
    image = hit(gw_client, send_image="1")
    assert image.status_code == 200 and image.mimetype == "image/gif"
