import multiprocessing
from datetime import UTC, datetime

import pytest
from helpers import ACCEPT_ALL, REJECT_ALL, SITE, count, make_config, open_db, post_decision

from consentmgr import create_app
from consentmgr.consent import log as consent_log
from consentmgr.proof import retention


def decide_many(config, n, barrier):
    app = create_app(config)
    client = app.test_client()
    barrier.wait()
    codes = []
    for i in range(n):
        body = ACCEPT_ALL if i % 2 else REJECT_ALL
        # Many visitors: one network's decisions are limited (RATE_LIMIT_DECISIONS).
        codes.append(post_decision(client, body, remote_addr=f"10.1.{i % 250}.1").status_code)
    return codes


def _worker(config, n, barrier, queue):
    queue.put(decide_many(config, n, barrier))


def test_verify_log_after_concurrent_writers(tmp_path, runner, database):
    config = make_config(tmp_path)
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(config, 500, barrier, queue)) for _ in range(4)]
    for p in procs:
        p.start()
    codes = [c for _ in procs for c in queue.get(timeout=300)]
    for p in procs:
        p.join(timeout=60)
    assert codes.count(201) == 2000
    assert count(database) == 2000
    seqs = [r[0] for r in database.execute("select seq from decisions order by seq")]
    assert seqs == list(range(1, 2001))
    total = database.execute("select sum(count) from daily_decisions").fetchone()[0]
    assert total == 2000

    result = runner.invoke(args=["verify-log"])
    assert result.exit_code == 0, result.output
    assert "2000 decisions verified" in result.output


LOGGED_FIELDS = [
    ("consent_id", "'someone-else'"),
    ("ts", "'2020-01-01T00:00:00.000+00:00'"),
    ("version", "'000000000000'"),
    ("revision", "revision + 1"),
    ("choices", """'{"analytics":true,"marketing":true}'"""),
    ("method", "'accept_all'"),
    ("lang", "'en'"),
    ("page", "'https://ansettr.no/other'"),
    ("ua_family", "'Firefox'"),
    ("ip_prefix", "'10.0.0.0/24'"),
    ("salt", "'00'"),
    ("personal_digest", "'00'"),
    ("chain_hash", "'00'"),
    ("erased_at", "'2026-01-01'"),
]


@pytest.fixture
def logged(client, database):
    for i in range(5):
        client.delete_cookie("consent")
        post_decision(
            client, {**REJECT_ALL, "page": f"https://ansettr.no/p{i}"}, remote_addr="192.0.2.1"
        )
    return database


@pytest.mark.parametrize(("field", "value"), LOGGED_FIELDS)
def test_verify_log_names_the_edited_row(logged, runner, field, value):
    assert runner.invoke(args=["verify-log"]).exit_code == 0
    logged.execute(f"update decisions set {field} = {value} where seq = 3")
    result = runner.invoke(args=["verify-log"])
    assert result.exit_code == 1
    assert "BROKEN at seq 3" in result.output


def test_verify_log_detects_deleted_and_reordered_rows(logged, runner):
    logged.execute("update decisions set seq = 100 where seq = 2")
    result = runner.invoke(args=["verify-log"])
    assert result.exit_code == 1 and "BROKEN at seq 2" in result.output
    logged.execute("update decisions set seq = 2 where seq = 100")
    assert runner.invoke(args=["verify-log"]).exit_code == 0


def test_verify_log_detects_swapped_rows(logged, runner):
    logged.execute("update decisions set seq = -4 where seq = 4")
    logged.execute("update decisions set seq = 4 where seq = 3")
    logged.execute("update decisions set seq = 3 where seq = -4")
    result = runner.invoke(args=["verify-log"])
    assert result.exit_code == 1 and "BROKEN at seq 3" in result.output


def test_verify_log_detects_deleted_row(logged, runner):
    logged.execute("delete from decisions where seq = 4")
    result = runner.invoke(args=["verify-log"])
    assert result.exit_code == 1 and "BROKEN at seq 4" in result.output


def test_erasing_personal_fields_keeps_chain_valid(logged, runner):
    [(consent_id,)] = logged.execute("select consent_id from decisions where seq = 2").fetchall()
    erased, _ = retention.erase(logged, consent_id, datetime.now(UTC))
    assert erased == 1
    [row] = logged.query("select * from decisions where seq = 2")
    assert row["consent_id"] is row["page"] is row["ua_family"] is row["ip_prefix"] is None
    assert row["salt"] is None and row["erased_at"]
    assert runner.invoke(args=["verify-log"]).exit_code == 0
    verdict = consent_log.verify(logged)
    assert verdict.ok and verdict.count == 5


@pytest.mark.parametrize(
    ("address", "needle"),
    [("203.0.113.77", "203.0.113.77"), ("2001:db8:abcd:12::7", "2001:db8:abcd:12")],
)
def test_no_table_holds_a_raw_ip(client, database, address, needle):
    post_decision(client, ACCEPT_ALL, remote_addr=address)
    client.delete("/api/consent", headers={"Origin": SITE}, environ_base={"REMOTE_ADDR": address})
    rows = 0
    for table in database.table_names():
        for row in database[table].rows:
            rows += 1
            for value in row.values():
                assert needle not in str(value), f"{table} holds the raw address"
    assert rows > 0
    prefixes = {r["ip_prefix"] for r in database["decisions"].rows}
    assert prefixes in ({"203.0.113.0/24"}, {"2001:db8:abcd::/48"})


def test_remote_addr_only_from_trusted_proxy(tmp_path):
    app = create_app(make_config(tmp_path, TRUSTED_PROXIES=1))
    client = app.test_client()
    post_decision(client, ACCEPT_ALL, remote_addr="10.0.0.1", **{"X-Forwarded-For": "198.51.100.9"})
    untrusting = create_app(make_config(tmp_path / "b")).test_client()
    post_decision(
        untrusting, ACCEPT_ALL, remote_addr="10.0.0.1", **{"X-Forwarded-For": "198.51.100.9"}
    )
    for tested, prefix in ((app, "198.51.100.0/24"), (untrusting.application, "10.0.0.0/24")):
        db = open_db(tested.config)
        assert db.execute("select ip_prefix from decisions").fetchone()[0] == prefix
        db.close()
