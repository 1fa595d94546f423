"""Everything a gateway accepts can be delivered, and one bad item never holds up another.

The stand-ins are real HTTP servers on 127.0.0.1 that record what they get.
"""

import json
import logging
import threading
import time

import pytest
from hardening_support import (
    EVENTS_PATH,
    both_app,
    bulk,
    event,
    graph_ok,
    hit,
    matomo_hits,
    meta_events,
    row_counts,
    statuses,
)
from helpers import ACCEPT_ALL, count, decide, deliver, matomo_ok, post_decision
from pytest_httpserver import HTTPServer
from werkzeug import Response

from consentmgr.gateway import outbox, sealed, upstream
from consentmgr.gateway.deliver import deliver_once


def visitor(app, remote_addr):
    client = app.test_client()
    assert post_decision(client, ACCEPT_ALL, remote_addr=remote_addr).status_code == 201
    return client


POISON_EVENT = '{"event_name": "Lead", "custom_data": {"value": NaN}}'
POISON_BULK = '{"requests": ["?rec=1&url=https://ansettr.no/\\ud800"]}'


def test_poison_event_and_hit_do_not_hold_up_another_visitor(gw, upstreams, database):
    """Acceptance 1: the poison is refused at the door; the normal hit and event arrive."""
    attacker = visitor(gw, "203.0.113.9")
    kari = visitor(gw, "198.51.100.23")

    poison_event = event(attacker, raw=POISON_EVENT, remote_addr="203.0.113.9")
    poison_hit = bulk(attacker, POISON_BULK, remote_addr="203.0.113.9")
    assert hit(kari, action_name="Kari leser").status_code == 204
    assert event(kari, event_name="Lead", event_id="kari-1").status_code == 204

    deliver(gw)
    assert [h["action_name"] for h in matomo_hits(upstreams)] == ["Kari leser"]
    assert [e["event_id"] for e in meta_events(upstreams)] == ["kari-1"]
    assert statuses(database).get("pending", 0) == 0, "nothing waits on a healthy upstream"
    for response in (poison_event, poison_hit):
        if response.status_code != 400:
            # Accepted after all: then it must be dead, with its reason.
            [(error,)] = database.execute("select last_error from outbox where status = 'dead'")
            assert error
    assert poison_event.status_code == 400 and poison_hit.status_code == 400


@pytest.mark.parametrize(
    "raw",
    [
        '{"event_name": "Lead", "custom_data": {"value": NaN}}',
        '{"event_name": "Lead", "custom_data": {"value": Infinity}}',
        '{"event_name": "Lead", "custom_data": {"value": -Infinity}}',
        '{"event_name": "Lead", "custom_data": {"value": 1e400}}',
        '{"event_name": "Lead", "custom_data": {"value": 18446744073709551616}}',
        '{"event_name": "Lead", "custom_data": {"name": "a\\ud800b"}}',
        '{"event_name": "Lead", "custom_data": {"\\udfff": 1}}',
        '{"event_name": "Lead", "custom_data": {"name": "a\\u0000b"}}',
    ],
)
def test_undeliverable_events_are_400_and_never_queued(gw, database, raw):
    client = visitor(gw, "198.51.100.23")
    before = row_counts(database)
    r = event(client, raw=raw)
    assert r.status_code == 400 and r.get_json()["error"]
    after = row_counts(database)
    assert after["outbox"] == before["outbox"] == 0


@pytest.mark.parametrize(
    "send",
    [
        lambda c: bulk(c, POISON_BULK),
        lambda c: bulk(c, '{"requests": ["?rec=1&url=https://ansettr.no/\\u0000"]}'),
        lambda c: bulk(c, '{"requests": ["?rec=1&e_v=NaN"], "x": NaN}'),
        lambda c: hit(c, url="https://ansettr.no/\x00"),
        lambda c: c.get("/matomo.php?rec=1&url=a%00b"),
        lambda c: c.post("/matomo.php", data="rec=1&e_n=a%00", content_type="text/plain"),
    ],
)
def test_undeliverable_hits_are_400_and_never_queued(gw, database, send):
    client = visitor(gw, "198.51.100.23")
    r = send(client)
    assert r.status_code == 400 and r.get_json()["error"]
    assert count(database, "outbox") == 0


def queue(app, database, target, consent_id, payload):
    """Put an item straight into the outbox, as one accepted before this release would be."""
    decide(app, database, consent_id, choices={"analytics": True, "marketing": True})
    outbox.enqueue(database, target, consent_id, [sealed.seal(app, payload)], time.time())


def test_queued_items_that_cannot_be_encoded_die_alone(gw, upstreams, database):
    good_hit = [["idsite", "7"], ["rec", "1"], ["action_name", "fin"]]
    queue(gw, database, "matomo", "a", [["rec", "1"], ["url", "https://ansettr.no/\ud800"]])
    queue(gw, database, "matomo", "b", good_hit)
    good_event = {"event_name": "Lead", "event_id": "ok", "custom_data": {}}
    queue(gw, database, "meta", "a", {**good_event, "event_id": "nan", "custom_data": {"v": 1e999}})
    queue(gw, database, "meta", "b", good_event)

    deliver(gw)
    assert [h["action_name"] for h in matomo_hits(upstreams)] == ["fin"]
    assert [e["event_id"] for e in meta_events(upstreams)] == ["ok"]
    dead = dict(
        database.execute(
            "select consent_id || target, last_error from outbox where status = 'dead'"
        )
    )
    assert set(dead) == {"amatomo", "ameta"}
    assert all("cannot be encoded" in e for e in dead.values()), dead
    assert statuses(database) == {"delivered": 2, "dead": 2}


def refuses(marker, reply):
    """A stand-in that refuses a whole batch when any item in it carries ``marker``."""

    def handler(request):
        body = request.get_data(as_text=True)
        if marker in body:
            return reply()
        if request.path == "/matomo.php":
            return matomo_ok(request)
        return graph_ok(request)

    return handler


def test_a_batch_refused_as_a_whole_is_split_until_the_culprit_is_found(
    tmp_path, httpserver, database
):
    def meta_refusal():
        error = {"message": "Invalid parameter", "type": "OAuthException", "code": 100}
        return Response(json.dumps({"error": error}), status=400, content_type="application/json")

    def matomo_refusal():
        return Response("Bad request", status=400)

    httpserver.expect_request(EVENTS_PATH).respond_with_handler(refuses("POISON", meta_refusal))
    httpserver.expect_request("/matomo.php").respond_with_handler(refuses("POISON", matomo_refusal))
    app = both_app(tmp_path, httpserver)
    for n in range(7):
        queue(app, database, "meta", f"v{n}", {"event_name": "Lead", "event_id": f"e{n}"})
        queue(app, database, "matomo", f"v{n}", [["rec", "1"], ["action_name", f"h{n}"]])
    queue(app, database, "meta", "bad", {"event_name": "Lead", "event_id": "POISON"})
    queue(app, database, "matomo", "bad", [["rec", "1"], ["action_name", "POISON"]])

    deliver(app)
    assert sorted(e["event_id"] for e in meta_events(httpserver)) == [f"e{n}" for n in range(7)]
    assert sorted(h["action_name"] for h in matomo_hits(httpserver)) == [f"h{n}" for n in range(7)]
    dead = dict(database.execute("select target, last_error from outbox where status = 'dead'"))
    assert set(dead) == {"meta", "matomo"}
    assert "Invalid parameter" in dead["meta"] and "HTTP 400" in dead["matomo"]
    assert (
        database.execute(
            "select count(*) from outbox where status = 'dead' and consent_id != 'bad'"
        ).fetchone()[0]
        == 0
    )
    assert statuses(database) == {"delivered": 14, "dead": 2}


def test_an_exception_in_a_pass_is_recorded_and_the_other_target_still_runs(
    tmp_path, httpserver, database, caplog
):
    # Matomo answers with a reply the deliverer cannot read ("tracked" is not a number).
    httpserver.expect_request("/matomo.php").respond_with_json(
        {"status": "success", "tracked": "many", "invalid": 0}
    )
    httpserver.expect_request(EVENTS_PATH).respond_with_handler(graph_ok)
    app = both_app(tmp_path, httpserver)
    client = visitor(app, "198.51.100.23")
    assert hit(client).status_code == 204
    assert event(client, event_id="still-sent").status_code == 204

    with caplog.at_level(logging.ERROR, logger="consentmgr"):
        deliver(app)
    assert [e["event_id"] for e in meta_events(httpserver)] == ["still-sent"]
    [(item_id, status, attempts, lease, error)] = database.execute(
        "select id, status, attempts, lease_until, last_error from outbox where target = 'matomo'"
    )
    assert (status, attempts, lease) == ("pending", 1, None)
    assert "ValueError" in error
    logged = [r.getMessage() for r in caplog.records]
    assert any(str(item_id) in m and "matomo" in m for m in logged), logged


def test_a_split_that_runs_out_of_calls_retries_the_rest_and_kills_no_bystander(
    tmp_path, httpserver, database
):
    """Eight refused events among 400 take more halvings than one batch may spend."""

    def meta_refusal():
        error = {"message": "Invalid parameter", "type": "OAuthException", "code": 100}
        return Response(json.dumps({"error": error}), status=400, content_type="application/json")

    httpserver.expect_request(EVENTS_PATH).respond_with_handler(refuses("POISON", meta_refusal))
    app = both_app(tmp_path, httpserver)
    decide(app, database, "v", choices={"analytics": True, "marketing": True})
    poisons = set(range(25, 400, 50))
    for n in range(400):
        event_id = f"POISON-{n}" if n in poisons else f"e{n}"
        payload = {"event_name": "Lead", "event_id": event_id}
        outbox.enqueue(database, "meta", "v", [sealed.seal(app, payload)], time.time())

    deliver(app)
    assert len(httpserver.log) <= upstream.MAX_SPLIT_CALLS
    assert statuses(database).get("pending"), "the unresolved halves wait for a later pass"
    for _ in range(40):  # each pass narrows the refused ones down further
        if not statuses(database).get("pending"):
            break
        database.execute("update outbox set next_attempt = 0 where status = 'pending'")
        deliver(app)
    assert statuses(database) == {"delivered": 392, "dead": 8}
    dead = [
        sealed.unseal(app, p)["event_id"]
        for (p,) in database.execute("select payload from outbox where status = 'dead'")
    ]
    assert sorted(dead) == sorted(f"POISON-{n}" for n in poisons)


def test_a_second_deliverer_never_takes_rows_a_long_pass_is_still_sending(tmp_path, database):
    """Each batch's lease runs from its own claim, not from the start of the pass."""

    def slow_matomo(request):
        time.sleep(1.5)
        return matomo_ok(request)

    matomo = HTTPServer("127.0.0.1", threaded=True)  # both deliverers are answered at once
    matomo.expect_request("/matomo.php").respond_with_handler(slow_matomo)
    matomo.start()
    try:
        app = both_app(tmp_path, matomo, OUTBOX_LEASE_SECONDS=5, UPSTREAM_READ_TIMEOUT=3.0)
        for n in range(400):  # four batches of 100: a pass of about 6 s, past one lease
            queue(app, database, "matomo", f"v{n % 4}", [["rec", "1"], ["action_name", f"h{n}"]])
        first = threading.Thread(target=deliver_once, args=(app,))
        first.start()
        time.sleep(5.5)  # a lease counted from the pass's start would be over by now
        deliver_once(app)
        first.join()
        sent = [h["action_name"] for h in matomo_hits(matomo)]
    finally:
        matomo.stop()
    assert sorted(sent) == sorted(f"h{n}" for n in range(400)), "every hit sent exactly once"
