"""A ``kill -9`` in the middle of a burst loses no hit the visitor was told was accepted.

The gateway answers a consented hit only after its outbox row is committed, so
the answer is a promise: whatever happens to the process afterwards, the hit
reaches Matomo. This test keeps that promise honest against a real crash, not
a simulated one: gunicorn serves the app in its own process group, a burst of
2,000 hits comes in from several client threads, and the whole group is sent
SIGKILL after the 700th answer, while other hits are still in flight. The
server is then started again on the same database, a separate
``consentmgr deliver --once`` drains the outbox to a Matomo stand-in, and
every hit that got a 2xx must have arrived.

Hits that were in flight when the server died may or may not have been
committed; they are allowed to arrive (the visitor simply never heard back),
but nothing may arrive twice here: no deliverer ran before the kill, so no row
can have been sent without being marked delivered.
"""

import json
import os
import signal
import sqlite3
import threading
from collections import Counter
from urllib.parse import parse_qsl

import pytest
from gunicorn_support import CLIENT_THREADS, Server, burst, consent_cookie, consentmgr_cli
from helpers import SITE
from serve_support import write_config
from werkzeug import Response

HITS = 2000
KILL_AFTER = 700
AFTER_RESTART = 20


def matomo_ok(request):
    n = len(request.get_json(force=True)["requests"])
    return Response(
        json.dumps({"status": "success", "tracked": n, "invalid": 0}),
        content_type="application/json",
    )


def received_names(matomo):
    names = Counter()
    for req, response in matomo.log:
        assert req.path == "/matomo.php"
        if response.status_code == 200:
            for q in json.loads(req.get_data())["requests"]:
                names[dict(parse_qsl(q.lstrip("?")))["action_name"]] += 1
    return names


@pytest.fixture
def matomo(httpserver):
    httpserver.expect_request("/matomo.php", method="POST").respond_with_handler(matomo_ok)
    return httpserver


@pytest.mark.sqlite_only
def test_kill_9_mid_burst_loses_no_acknowledged_hit(tmp_path, instance_folder, matomo):
    write_config(
        instance_folder,
        SITE_ORIGINS=[SITE],
        COOKIE_SECURE=False,
        MATOMO_URL=matomo.url_for("/"),
        MATOMO_SITE_ID=7,
        MATOMO_TOKEN_AUTH="crash-test-token",
        DELIVER_IN_BACKGROUND=False,
        # A wide flush window: most hits are acknowledged before their group
        # fdatasync, yet a crash of the app must not lose them (they are committed).
        HIT_FLUSH_MS=1000,
    )
    env = {**os.environ, "CONSENTMGR_INSTANCE": str(instance_folder)}
    env.pop("CONSENTMGR_CONFIG", None)
    log_path = tmp_path / "gunicorn.log"

    first = Server(env, log_path)
    try:
        cookie = consent_cookie(first.port)
        names = [f"burst-{n:04d}" for n in range(HITS)]
        killed = threading.Event()

        def kill_mid_burst(answered):
            if answered >= KILL_AFTER and not killed.is_set():
                killed.set()
                first.kill()

        results = burst([first.port], cookie, names, kill_mid_burst)
    finally:
        first.stop()
    assert first.proc.returncode == -signal.SIGKILL

    answered = {n: s for n, s in results.items() if s is not None}
    acknowledged = {n for n, s in answered.items() if 200 <= s < 300}
    assert set(answered.values()) == {204}, "every answer before the kill was a 204"
    assert KILL_AFTER <= len(acknowledged) < HITS, "the kill landed in the middle of the burst"
    assert len(matomo.log) == 0, "no deliverer runs in the server: nothing went upstream yet"

    second = Server(env, log_path)
    try:
        later = [f"after-restart-{n:02d}" for n in range(AFTER_RESTART)]
        after = burst([second.port], cookie, later)
        assert set(after.values()) == {204}, "the restarted server accepts the same cookie"
        drained = consentmgr_cli(env, "deliver", "--once")
    finally:
        second.stop()

    received = received_names(matomo)
    must_arrive = acknowledged | set(later)
    missing = must_arrive - set(received)
    assert not missing, (
        f"{len(missing)} acknowledged hits never arrived, e.g. {sorted(missing)[:5]}"
    )
    assert set(received) <= set(names) | set(later), "only hits that were sent can arrive"
    duplicates = {n: c for n, c in received.items() if c > 1}
    assert not duplicates, f"{len(duplicates)} hits arrived more than once"
    unacknowledged_but_kept = set(received) - must_arrive
    assert len(unacknowledged_but_kept) <= CLIENT_THREADS, "only in-flight hits can be extra"
    assert f"delivered {len(received)};" in drained

    stats = json.loads(consentmgr_cli(env, "outbox", "--json"))
    assert (stats["pending"], stats["dead"], stats["delivered"]) == (0, 0, len(received))
    db = sqlite3.connect(instance_folder / "consentmgr.sqlite")
    try:
        assert db.execute("pragma integrity_check").fetchone() == ("ok",)
    finally:
        db.close()
