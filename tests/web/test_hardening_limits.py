"""Bounded growth per client: limits per network, short audit rows, capped page statistics."""

import json
import math
import multiprocessing
import time
from datetime import UTC, datetime, timedelta

import pytest
from admin_support import create_admin, csrf_token, login
from hardening_support import event, hit, row_counts
from helpers import ACCEPT_ALL, SITE, count, erase_token, make_config, post_decision

from consentmgr import create_app
from consentmgr.admin import audit
from consentmgr.config import ConfigError, Rate, parse_rate, validate
from consentmgr.consent import daily_stats
from consentmgr.web import ratelimit

OFFICE = "198.51.100.7"


def test_a_burst_of_1000_decisions_writes_at_most_the_limit(app, database):
    """Acceptance 3: one address, 1,000 decisions in a burst."""
    rate = ratelimit.rate(app, "decisions")
    client = app.test_client()
    start = time.monotonic()
    codes = [post_decision(client, ACCEPT_ALL, remote_addr=OFFICE).status_code for _ in range(1000)]
    elapsed = time.monotonic() - start
    written = count(database)
    # The burst, plus what the refill rate gave back while the burst was being sent.
    assert written <= rate.burst + math.ceil(elapsed / rate.interval)
    assert written >= rate.burst, "the first burst-worth all pass"
    assert codes.count(201) == written and codes.count(429) == 1000 - written


def test_over_the_limit_is_429_with_retry_after_and_writes_nothing(tmp_path, database):
    app = create_app(make_config(tmp_path, RATE_LIMIT_DECISIONS="2/hour"))
    client = app.test_client()
    for _ in range(2):
        assert post_decision(client, ACCEPT_ALL, remote_addr=OFFICE).status_code == 201
    before = row_counts(database)
    r = post_decision(client, ACCEPT_ALL, remote_addr=OFFICE)
    assert r.status_code == 429
    assert 0 < int(r.headers["Retry-After"]) <= 1800
    assert "too many" in r.get_json()["error"]
    withdraw = client.delete(
        "/api/consent", headers={"Origin": SITE}, environ_base={"REMOTE_ADDR": OFFICE}
    )
    assert withdraw.status_code == 429
    assert row_counts(database) == before
    # Another network is not affected.
    assert post_decision(client, ACCEPT_ALL, remote_addr="203.0.113.1").status_code == 201


def test_the_same_network_shares_a_limit_v4_and_v6(tmp_path):
    app = create_app(make_config(tmp_path, RATE_LIMIT_DECISIONS="3/hour"))
    client = app.test_client()
    for n in range(3):
        assert post_decision(client, ACCEPT_ALL, remote_addr=f"192.0.2.{n + 1}").status_code == 201
    assert post_decision(client, ACCEPT_ALL, remote_addr="192.0.2.250").status_code == 429
    for n in range(3):
        addr = f"2001:db8:1:{n}::1"
        assert post_decision(client, ACCEPT_ALL, remote_addr=addr).status_code == 201
    assert post_decision(client, ACCEPT_ALL, remote_addr="2001:db8:1:ffff::9").status_code == 429
    assert post_decision(client, ACCEPT_ALL, remote_addr="2001:db8:2::1").status_code == 201


def test_gateway_hits_and_events_are_limited_and_write_nothing_when_over(tmp_path, database):
    app = create_app(
        make_config(
            tmp_path,
            MATOMO_URL="http://127.0.0.1:9/",
            META_PIXEL_ID="123456789012345",
            META_ACCESS_TOKEN="t",
            RATE_LIMIT_GATEWAY="5/minute",
        )
    )
    client = app.test_client()
    post_decision(client, ACCEPT_ALL, remote_addr=OFFICE)
    assert [hit(client, remote_addr=OFFICE).status_code for _ in range(6)] == [204] * 5 + [429]
    bulk = {"requests": ["?rec=1&action_name=a"] * 2}
    r = client.post(
        "/matomo.php", data=json.dumps(bulk), environ_base={"REMOTE_ADDR": "203.0.113.5"}
    )
    assert r.status_code == 204
    assert [event(client, remote_addr=OFFICE).status_code for _ in range(6)] == [204] * 5 + [429]
    assert count(database, "outbox") == 12
    before = row_counts(database)
    r = hit(client, remote_addr=OFFICE)
    assert r.status_code == 429 and r.headers["Retry-After"].isdigit()
    assert event(client, remote_addr=OFFICE).status_code == 429
    assert hit(client, remote_addr=OFFICE, rec="0").status_code == 429, "invalid ones too"
    assert row_counts(database) == before


def test_erasures_are_limited(tmp_path):
    app = create_app(make_config(tmp_path, RATE_LIMIT_ERASURES="2/hour"))
    client = app.test_client()
    answers = []
    for _ in range(3):
        post_decision(client, ACCEPT_ALL, remote_addr=OFFICE)
        token = erase_token(client)
        answers.append(
            client.post(
                "/mine-data/slett",
                data={"token": token},
                headers={"Origin": SITE, "Accept": "text/html", "Accept-Language": "nb"},
                environ_base={"REMOTE_ADDR": OFFICE},
            )
        )
    assert [r.status_code for r in answers] == [200, 200, 429]
    refused = answers[-1]
    # The visitor used a form: the answer is a page in their language, not the API's JSON.
    assert refused.mimetype == "text/html" and refused.headers["Retry-After"].isdigit()
    assert "For mange forespørsler" in refused.get_data(as_text=True)


def _decide_from_one_address(config, n, barrier, queue):
    app = create_app(config)
    client = app.test_client()
    barrier.wait()
    queue.put([post_decision(client, ACCEPT_ALL, remote_addr=OFFICE).status_code for _ in range(n)])


def test_limits_hold_across_worker_processes(tmp_path, database):
    config = make_config(tmp_path, RATE_LIMIT_DECISIONS="1/hour, burst 40")
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(4), ctx.Queue()
    procs = [
        ctx.Process(target=_decide_from_one_address, args=(config, 25, barrier, queue))
        for _ in range(4)
    ]
    for p in procs:
        p.start()
    codes = [c for _ in procs for c in queue.get(timeout=120)]
    for p in procs:
        p.join(timeout=60)
    assert codes.count(201) == count(database) == 40
    assert codes.count(429) == 60


def test_an_office_of_500_people_behind_one_address_is_never_bothered(app, tmp_path):
    """The defaults against a busy morning: a policy change, then everyone browsing."""
    store = ratelimit.SharedFileStore(str(tmp_path / "office.limits"))
    refused = []

    def take(flow, now, cost=1):
        rate = ratelimit.rate(app, flow)
        key = f"{flow} 198.51.100.0/24".encode()
        if store.take(key, cost, rate.interval, rate.burst * rate.interval, now):
            refused.append((flow, now))

    t0 = 1_000_000.0
    # 09:00-09:05: all 500 decide again after a policy change (one device each)...
    for n in range(500):
        take("decisions", t0 + n * 0.6)
    # ...and 300 more over the morning (phones, private windows, changed minds).
    for n in range(300):
        take("decisions", t0 + 300 + n * 36)
    # All day: each person a page view every 20 s (a hit and a Meta event each),
    # after 5 hits each on arrival.
    for n in range(500):
        take("matomo", t0 + n * 0.6, cost=5)
    for second in range(0, 8 * 3600, 10):  # 25 hits and events a second, in bunches
        take("matomo", t0 + 300 + second, cost=250)
        take("meta", t0 + 300 + second, cost=250)
    # Two admins sign in a few times, with a few typos.
    for n in range(20):
        take("sign_in", t0 + n * 600)
    assert refused == []


def test_default_limits_and_their_syntax():
    defaults = validate({}, "test", testing=True)
    for key in ratelimit.FLOWS.values():
        assert parse_rate(defaults[key]) is not None, f"{key} is on by default"
    assert parse_rate("off") is None
    assert parse_rate("100/hour, burst 600") == Rate(100, 3600.0, 600)
    assert parse_rate("5 / second") == Rate(5, 1.0, 5)
    with pytest.raises(ConfigError, match="RATE_LIMIT_DECISIONS must be a rate like"):
        validate({"RATE_LIMIT_DECISIONS": "lots"}, "config.toml", testing=True)


def throttled_sign_ins(client, username, n, remote_addr):
    page = client.get("/admin/login")
    token = csrf_token(page.text)
    return [
        client.post(
            "/admin/login",
            data={"csrf_token": token, "username": username, "password": "x"},
            environ_base={"REMOTE_ADDR": remote_addr},
        ).status_code
        for _ in range(n)
    ]


def database_size(db):
    if db.kind == "postgresql":
        return db.execute(
            "select sum(pg_total_relation_size(c.oid)) from pg_class c"
            " join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = current_schema() and c.relkind = 'r'"
        ).fetchone()[0]
    db.execute("pragma wal_checkpoint(truncate)")
    page_size = db.execute("pragma page_size").fetchone()[0]
    pages = db.execute("pragma page_count").fetchone()[0]
    free = db.execute("pragma freelist_count").fetchone()[0]
    return (pages - free) * page_size


def test_throttled_sign_ins_with_huge_usernames_barely_grow_the_database(app, database):
    """Acceptance 3: 100 throttled sign-ins with 50 KB usernames grow it by < 100 KB."""
    client = app.test_client()
    create_admin(database)
    for n in range(5):  # the network is throttled first, with ordinary names
        assert login(client, f"guess{n}", "wrong", remote_addr="203.0.113.66").status_code == 401
    before = database_size(database)
    codes = throttled_sign_ins(client, "x" * 50_000, 100, "203.0.113.66")
    assert set(codes) == {429}
    assert database_size(database) - before < 100_000
    names = [r[0] for r in database.execute("select username from audit")]
    assert max(len(n or "") for n in names) <= audit.MAX_USERNAME


def test_throttled_attempts_are_counted_not_stored_one_by_one(app, database):
    client = app.test_client()
    create_admin(database)
    for _ in range(5):
        login(client, "kari", "wrong", remote_addr="203.0.113.66")
    codes = throttled_sign_ins(client, "kari", 12, "203.0.113.66")
    assert codes == [429] * 12
    rows = database.execute("select detail from audit where action = 'login_throttled'").fetchall()
    assert len(rows) == 1 and "12 attempts" in rows[0][0]


def test_sign_in_attempts_are_limited_per_network(tmp_path, database):
    app = create_app(make_config(tmp_path, RATE_LIMIT_SIGN_IN="3/hour"))
    create_admin(database)
    client = app.test_client()
    codes = [login(client, remote_addr=OFFICE).status_code for _ in range(4)]
    assert codes == [302, 302, 302, 429]
    before = row_counts(database)
    r = login(client, remote_addr=OFFICE)
    assert r.status_code == 429 and r.headers["Retry-After"].isdigit()
    assert "text/html" in r.content_type and "Too many sign-in attempts" in r.text
    assert row_counts(database) == before, "nothing written, not even an audit entry"


def test_audit_entries_are_pruned_after_the_configured_time(tmp_path, database):
    app = create_app(make_config(tmp_path, AUDIT_KEEP_DAYS=30))
    audit.append(database, "login", "kari", "192.0.2.1")
    old = (datetime.now(UTC) - timedelta(days=31)).isoformat(timespec="seconds")
    database.execute(
        "insert into audit (ts, username, action, detail, client) values (?, ?, ?, '', ?)",
        [old, "kari", "login", "192.0.2.0/24"],
    )
    result = app.test_cli_runner().invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    assert "deleted 1 audit entries" in result.output
    assert count(database, "audit") == 1


def test_daily_pages_cannot_be_flooded(app, database, monkeypatch):
    monkeypatch.setattr(daily_stats, "MAX_PAGES_PER_DAY", 20)
    client = app.test_client()
    for n in range(30):
        body = {**ACCEPT_ALL, "page": f"https://ansettr.no/{n}/" + "x" * 1800}
        assert post_decision(client, body, remote_addr=f"10.0.{n}.1").status_code == 201
    post_decision(client, {**ACCEPT_ALL, "page": "https://ansettr.no/0/" + "x" * 1800})
    pages = dict(database.execute("select page, count from daily_pages").fetchall())
    assert len(pages) == 21
    assert pages[daily_stats.OTHER_PAGES] == 10
    assert pages["https://ansettr.no/0/" + "x" * 1800] == 2, "known pages still count"


def test_a_bucket_gives_its_burst_then_refills_at_its_rate(tmp_path):
    store = ratelimit.SharedFileStore(str(tmp_path / "limits"))
    interval, capacity = 10.0, 30.0  # 6 a minute, burst 3
    t = 1_000_000.0
    assert [store.take(b"k", 1, interval, capacity, t) for _ in range(3)] == [0.0] * 3
    assert store.take(b"k", 1, interval, capacity, t) == pytest.approx(10.0)
    assert store.take(b"k", 1, interval, capacity, t + 9.9) > 0, "refused: nothing was spent"
    assert store.take(b"k", 1, interval, capacity, t + 10) == 0.0
    assert store.take(b"other", 3, interval, capacity, t + 10) == 0.0, "keys are apart"
    # Another process opening the same file sees the same buckets.
    again = ratelimit.SharedFileStore(str(tmp_path / "limits"))
    assert again.hash_key == store.hash_key
    assert again.take(b"k", 1, interval, capacity, t + 10) == pytest.approx(10.0)
    # A clock that went back does not lock a key out for longer than its burst.
    assert store.take(b"k", 1, interval, capacity, t - 3600) == 0.0


def test_a_large_hit_costs_the_gateway_limit_by_its_size(tmp_path, database):
    """One 64 KB form POST is one hit, but must not store 64 KB for the price of one."""
    app = create_app(
        make_config(tmp_path, MATOMO_URL="http://127.0.0.1:9/", RATE_LIMIT_GATEWAY="10/hour")
    )
    client = app.test_client()
    post_decision(client, ACCEPT_ALL, remote_addr=OFFICE)
    big = "rec=1&action_name=" + "x" * (16 * 1024 - 100)  # 8 of the 10 tokens (2 KB each)

    def post(body):
        return client.post(
            "/matomo.php",
            data=body,
            content_type="text/plain",
            environ_base={"REMOTE_ADDR": OFFICE},
        )

    assert post(big).status_code == 204
    # The second pays its first token before its body is read, and is refused the other 7.
    assert post(big).status_code == 429
    assert count(database, "outbox") == 1
    assert [hit(client, remote_addr=OFFICE).status_code for _ in range(2)] == [204, 429]
