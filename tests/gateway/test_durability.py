"""Bounded-window durability: decisions on disk before their 201, hits within HIT_FLUSH_MS.

A hit is committed before its 204 (a crash of the app cannot lose it: see
``test_gateway_crash``), and one fdatasync per window puts every hit of the
window on disk. A decision is flushed before it is answered. Dropped and
rejected hits are tallied in memory and written at most once a second, on a
delivery pass, and when the process exits.
"""

import os
import signal
import threading

import pytest
from gunicorn_support import Server, request
from helpers import ACCEPT_ALL, SITE, count, make_config, post_decision
from serve_support import write_config

from consentmgr import create_app
from consentmgr.gateway import counters


def hit(client, name="p"):
    return client.get(f"/matomo.php?idsite=1&rec=1&action_name={name}&url={SITE}/{name}")


def request_db(app):
    """The connection the test client's requests use (this thread's)."""
    return app.extensions["consentmgr.db_local"].db


@pytest.fixture
def slow_flush(tmp_path):
    """Hits flushed at most once a second, so a test sees them committed but not yet on disk."""
    app = create_app(make_config(tmp_path, MATOMO_URL="http://127.0.0.1:9/", HIT_FLUSH_MS=1000))
    yield app
    app.extensions["consentmgr.flusher"].stop()


@pytest.mark.sqlite_only
def test_a_hit_is_answered_once_committed_and_flushed_with_its_window(slow_flush, database):
    client = slow_flush.test_client()
    post_decision(client, ACCEPT_ALL)
    flusher = slow_flush.extensions["consentmgr.flusher"]
    flushes = request_db(slow_flush).flushes

    for n in range(20):
        assert hit(client, f"p{n}").status_code == 204
    assert count(database, "outbox") == 20, "committed: another connection sees every hit"
    assert request_db(slow_flush).flushes == flushes, "no hit waited for its own fdatasync"
    assert flusher.pending, "the window's flush is still to come"

    flusher.stop()  # what the process does at exit: flush what is pending, at once
    assert not flusher.pending and flusher.flushes == 1, "one fdatasync for the whole window"


@pytest.mark.sqlite_only
def test_the_flusher_flushes_after_its_window_on_its_own(tmp_path, database):
    app = create_app(make_config(tmp_path, MATOMO_URL="http://127.0.0.1:9/", HIT_FLUSH_MS=20))
    client = app.test_client()
    post_decision(client, ACCEPT_ALL)
    assert hit(client).status_code == 204
    flusher = app.extensions["consentmgr.flusher"]
    done = threading.Event()
    for _ in range(500):
        if flusher.flushes and not flusher.pending:
            done.set()
            break
        done.wait(0.01)
    assert done.is_set(), "the window passed and the hit was put on disk"
    flusher.stop()


@pytest.mark.sqlite_only
def test_a_decision_is_on_disk_before_its_201(slow_flush):
    client = slow_flush.test_client()
    post_decision(client, ACCEPT_ALL)
    hit(client)
    flushes = request_db(slow_flush).flushes
    assert post_decision(client, ACCEPT_ALL).status_code == 201
    assert request_db(slow_flush).flushes == flushes + 1, "flushed before it was answered"
    assert slow_flush.extensions["consentmgr.flusher"].pending, "decisions never wait for hits"


@pytest.mark.sqlite_only
def test_hit_flush_ms_0_flushes_every_hit_before_answering(tmp_path):
    app = create_app(make_config(tmp_path, MATOMO_URL="http://127.0.0.1:9/", HIT_FLUSH_MS=0))
    assert "consentmgr.flusher" not in app.extensions
    client = app.test_client()
    post_decision(client, ACCEPT_ALL)
    flushes = request_db(app).flushes
    hit(client)
    hit(client)
    assert request_db(app).flushes == flushes + 2


def test_dropped_hits_are_tallied_without_a_write_each(client, database, monkeypatch):
    for n in range(5):
        assert hit(client, f"d{n}").status_code == 204  # no consent: dropped
    assert count(database, "gateway_daily") == 0, "no write transaction per dropped hit"

    monkeypatch.setattr(counters, "TALLY_SECONDS", 0.0)  # the interval has passed
    hit(client, "d5")
    assert counters.totals(database, "matomo")["dropped_no_consent"] == 6
    assert count(database, "gateway_daily") == 1, "the whole tally in one row, one write"


def test_a_delivery_pass_writes_the_tally(app, client, database):
    hit(client)
    assert counters.totals(database, "matomo")["dropped_no_consent"] == 0
    result = app.test_cli_runner().invoke(args=["deliver", "--once"])
    assert result.exit_code == 0, result.output
    assert counters.totals(database, "matomo")["dropped_no_consent"] == 1


def test_tallied_counts_survive_a_graceful_stop_of_gunicorn(tmp_path, instance_folder, database):
    write_config(
        instance_folder, DATABASE=database.file, COOKIE_SECURE=False, DELIVER_IN_BACKGROUND=False
    )
    env = {**os.environ, "CONSENTMGR_INSTANCE": str(instance_folder)}
    server = Server(env, tmp_path / "gunicorn.log")
    try:
        for n in range(12):
            status, _, _ = request(server.port, "GET", f"/matomo.php?idsite=1&rec=1&url={SITE}/{n}")
            assert status == 204
        os.killpg(server.proc.pid, signal.SIGTERM)  # graceful: workers finish and exit
        server.proc.wait(30)
    finally:
        server.stop()
    assert server.proc.returncode == 0
    assert counters.totals(database, "matomo")["dropped_no_consent"] == 12
