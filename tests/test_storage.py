"""The storage layer as several app servers see it: one database, one chain, outages answered.

These run on the suite's backend; the outage test needs a PostgreSQL cluster
of its own, which it stops and starts, so it runs in the PostgreSQL pass.
"""

import threading
import time

import postgres_support
import pytest
from helpers import ACCEPT_ALL, CUSTOM, REJECT_ALL, make_config, on_postgres, open_db, post_decision

from consentmgr import create_app
from consentmgr.consent import log
from consentmgr.storage import postgres


def test_two_servers_on_one_database_keep_one_history_and_one_chain(tmp_path):
    """A browser's decisions land on alternating servers: one consent id, one chain."""
    config = make_config(tmp_path)
    first, second = create_app(config), create_app(dict(config))
    clients = [first.test_client(), second.test_client()]
    consent_ids = []
    cookie = None
    for n, body in enumerate([ACCEPT_ALL, CUSTOM, REJECT_ALL, ACCEPT_ALL]):
        client = clients[n % 2]
        if cookie:
            client.set_cookie("consent", cookie)
        response = post_decision(client, body)
        assert response.status_code == 201, response.get_json()
        consent_ids.append(response.get_json()["id"])
        cookie = client.get_cookie("consent").value
    assert len(set(consent_ids)) == 1
    db = open_db(first.config)
    try:
        history = log.history(db, consent_ids[0])
        assert [r["method"] for r in history] == [
            "accept_all",
            "custom",
            "reject_all",
            "accept_all",
        ]
    finally:
        db.close()
    for app in (first, second):
        result = app.test_cli_runner().invoke(args=["verify-log"])
        assert result.exit_code == 0 and "ok: 4 decisions verified" in result.output


def test_concurrent_appends_from_several_servers_never_fork_the_chain(tmp_path):
    config = make_config(tmp_path)
    apps = [create_app(dict(config)) for _ in range(3)]
    errors = []

    def post_many(app):
        client = app.test_client()
        for _ in range(15):
            response = post_decision(client, ACCEPT_ALL)
            if response.status_code != 201:
                errors.append(response.status_code)

    threads = [threading.Thread(target=post_many, args=(app,)) for app in apps for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    db = open_db(apps[0].config)
    try:
        seqs = [r[0] for r in db.execute("select seq from decisions order by seq")]
        assert seqs == list(range(1, 91))
        assert log.verify(db).ok
    finally:
        db.close()


def test_while_postgresql_is_down_requests_get_503_and_it_recovers_without_restart(tmp_path):
    if not on_postgres():
        pytest.skip("PostgreSQL pass only")
    cluster = postgres_support.Cluster().start()
    try:
        url = cluster.create_database("outage")
        app = create_app(make_config(tmp_path, DATABASE=url, DATABASE_TIMEOUT_SECONDS=1.0))
        client = app.test_client()
        assert post_decision(client, ACCEPT_ALL).status_code == 201
        assert client.get("/health").get_json() == {"status": "ok", "database": "ok"}

        cluster.stop()
        response = post_decision(client, ACCEPT_ALL)
        assert response.status_code == 503
        assert response.headers["Retry-After"].isdigit()
        assert "error" in response.get_json()
        health = client.get("/health")
        assert health.status_code == 503 and health.get_json()["database"] == "down"

        cluster.start_again()
        assert post_decision(client, ACCEPT_ALL).status_code == 201
        assert client.get("/health").status_code == 200
        db = open_db(app.config)
        try:
            assert db.execute("select count(*) from decisions").fetchone()[0] == 2
        finally:
            db.close()
    finally:
        postgres.close_pools()
        cluster.destroy()


def test_stream_hands_out_rows_while_the_database_still_reads(tmp_path):
    """The export's memory stays flat: the first rows arrive before the statement ends."""
    config = make_config(tmp_path)
    create_app(config)
    db, watcher = open_db(config), open_db(config)
    try:
        if on_postgres():
            sql = "select n from generate_series(1, 200000) as n"
            rows = db.stream(sql)
            assert next(rows) == (1,)
            running = watcher.execute(
                "select count(*) from pg_stat_activity where state = 'active' and query = ?",
                [sql],
            ).fetchone()[0]
            assert running == 1, "the whole result was received before the first row"
        else:
            sql = "with recursive n(i) as (select 1 union all select i + 1 from n) select i from n"
            rows = db.stream(sql)  # endless: only a cursor that reads as it goes returns
            assert [next(rows) for _ in range(3)] == [(1,), (2,), (3,)]
        rows.close()
        assert db.execute("select 1").fetchone() == (1,), "the connection is usable after"
    finally:
        db.close()
        watcher.close()


def test_a_decision_is_flushed_on_postgresql_before_the_answer_and_hits_are_not(tmp_path):
    """With the WAL writer slowed to 10 s, only a synchronous flush puts a commit on disk."""
    if not on_postgres():
        pytest.skip("PostgreSQL pass only")
    import psycopg

    cluster = postgres_support.Cluster(durable=True).start()
    try:
        cluster.admin("alter system set wal_writer_delay = '10s'")
        cluster.admin("alter system set autovacuum = off")  # nothing else writes WAL meanwhile
        cluster.admin("select pg_reload_conf()")
        url = cluster.create_database("durable")
        app = create_app(
            make_config(
                tmp_path,
                DATABASE=url,
                MATOMO_URL="http://127.0.0.1:9/",
                DELIVER_IN_BACKGROUND=False,
            )
        )
        client = app.test_client()
        time.sleep(10.5)  # whatever the setup wrote is flushed by now

        def unflushed() -> int:
            with psycopg.connect(url, autocommit=True) as conn:
                return conn.execute(
                    "select pg_current_wal_insert_lsn() - pg_current_wal_flush_lsn()"
                ).fetchone()[0]

        for _ in range(3):
            assert post_decision(client, ACCEPT_ALL).status_code == 201
            assert unflushed() == 0, "a decision was answered before its commit was on disk"
        client.get("/matomo.php", query_string={"idsite": "1", "rec": "1"})
        assert unflushed() > 0, "hits commit without waiting for the flush"
    finally:
        postgres.close_pools()
        cluster.destroy()
