"""Two ``consentmgr serve`` instances on one PostgreSQL database, each with its deliverer.

Separate gunicorn masters on two ports, as two machines behind a load
balancer would run them, share one database and a Matomo stand-in:

- a browser's decisions alternate between the servers: one consent id, one
  history, one chain that ``verify-log`` accepts;
- 2,000 hits spread over both are all delivered, none twice, by the
  deliverers of both servers;
- ``kill -9`` of one server in the middle of a burst: every hit that got a
  2xx is delivered (the survivor takes over the dead server's leases);
- PostgreSQL stopped for a few seconds during a burst and started again:
  requests meanwhile get 503, nothing acknowledged is lost, and both servers
  serve again without a restart.
"""

import json
import os
import threading
import time
from collections import Counter
from urllib.parse import parse_qsl

import postgres_support
import pytest
from gunicorn_support import Server, burst, consentmgr_cli, request
from helpers import ACCEPT_ALL, CUSTOM, REJECT_ALL, SITE, database_setting, on_postgres
from serve_support import write_config
from werkzeug import Response


@pytest.fixture
def matomo(httpserver):
    def ok(req):
        n = len(req.get_json(force=True)["requests"])
        body = json.dumps({"status": "success", "tracked": n, "invalid": 0})
        return Response(body, content_type="application/json")

    httpserver.expect_request("/matomo.php", method="POST").respond_with_handler(ok)
    return httpserver


@pytest.fixture
def servers(tmp_path, matomo):
    """Two servers' environments on one database (started by the tests)."""
    if not on_postgres():
        pytest.skip("PostgreSQL pass only")
    url = database_setting(tmp_path / "shared")
    envs = []
    for name in ("one", "two"):
        instance = tmp_path / name
        instance.mkdir()
        write_config(
            instance,
            SITE_ORIGINS=[SITE],
            COOKIE_SECURE=False,
            DATABASE=url,
            DATABASE_TIMEOUT_SECONDS=1.0,
            MATOMO_URL=matomo.url_for("/"),
            MATOMO_SITE_ID=7,
            MATOMO_TOKEN_AUTH="two-servers-token",
            DELIVER_IN_BACKGROUND=True,
            DELIVER_INTERVAL_SECONDS=0.5,
            OUTBOX_LEASE_SECONDS=5,  # a killed server's rows are taken over soon
            UPSTREAM_CONNECT_TIMEOUT=1.0,  # and a call must fit in a lease
            UPSTREAM_READ_TIMEOUT=3.0,
            RATE_LIMIT_GATEWAY="1000000/second",
            RATE_LIMIT_DECISIONS="1000000/second",
        )
        env = {**os.environ, "CONSENTMGR_INSTANCE": str(instance)}
        env.pop("CONSENTMGR_CONFIG", None)
        envs.append(env)
    return envs


def decide(port, body, cookie=None):
    headers = {"Origin": SITE, "Content-Type": "text/plain"}
    if cookie:
        headers["Cookie"] = cookie
    status, set_cookie, answer = request(port, "POST", "/api/consent", json.dumps(body), headers)
    assert status == 201, answer
    value = set_cookie.split(";", 1)[0]
    return json.loads(answer)["id"], value


def received(matomo) -> Counter:
    names = Counter()
    for req, response in list(matomo.log):
        if response.status_code == 200:
            for q in json.loads(req.get_data())["requests"]:
                names[dict(parse_qsl(q.lstrip("?")))["action_name"]] += 1
    return names


def wait_delivered(matomo, names, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if set(names) <= set(received(matomo)):
            return
        time.sleep(0.5)


def wait_healthy(ports, timeout):
    """Seconds until every server's /health answers 200 ten times in a row (every worker)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if all(request(p, "GET", "/health")[0] == 200 for p in ports for _ in range(10)):
            break
        time.sleep(0.2)
    return time.monotonic() - start


def outbox(env):
    return json.loads(consentmgr_cli(env, "outbox", "--json"))


def test_decisions_and_2000_hits_over_two_servers(servers, matomo, tmp_path):
    one, two = (Server(env, tmp_path / f"gunicorn-{n}.log") for n, env in enumerate(servers))
    try:
        consent_id, cookie = decide(one.port, ACCEPT_ALL)
        ids = {consent_id}
        for n, body in enumerate([CUSTOM, REJECT_ALL, ACCEPT_ALL]):
            got, cookie = decide((two, one)[n % 2].port, body, cookie)
            ids.add(got)
        assert ids == {consent_id}, "one consent id whichever server answered"
        check = consentmgr_cli(servers[1], "verify-log")
        assert "ok: 4 decisions verified" in check

        names = [f"hit-{n:04d}" for n in range(2000)]
        results = burst([one.port, two.port], cookie, names)
        assert set(results.values()) == {204}
        wait_delivered(matomo, names)
    finally:
        one.stop()
        two.stop()
    got = received(matomo)
    assert set(got) == set(names)
    assert not {n: c for n, c in got.items() if c > 1}, "no hit arrives twice"
    stats = outbox(servers[0])
    assert (stats["pending"], stats["dead"], stats["delivered"]) == (0, 0, 2000)
    owners = consentmgr_owners(servers[0])
    assert len({o.split("-")[0] for o in owners}) >= 2, "deliverers of both servers took part"


def consentmgr_owners(env):
    """The deliverers (pid-token) that marked rows delivered."""
    code = (
        "from consentmgr import create_app, db\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    for (o,) in db.get_db().execute('select distinct lease_owner from outbox'):\n"
        "        print(o)\n"
    )
    import subprocess
    import sys

    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return [line for line in out.stdout.splitlines() if line]


def test_kill_9_of_one_server_mid_burst_loses_no_acknowledged_hit(servers, matomo, tmp_path):
    one, two = (Server(env, tmp_path / f"gunicorn-{n}.log") for n, env in enumerate(servers))
    try:
        _, cookie = decide(one.port, ACCEPT_ALL)
        killed = threading.Event()

        def kill_mid_burst(answered):
            if answered >= 600 and not killed.is_set():
                killed.set()
                one.kill()

        names = [f"kill-{n:04d}" for n in range(1500)]
        results = burst([one.port, two.port], cookie, names, kill_mid_burst)
        acknowledged = {n for n, s in results.items() if s is not None and 200 <= s < 300}
        assert killed.is_set() and 600 <= len(acknowledged) < len(names)
        wait_delivered(matomo, acknowledged)
    finally:
        one.stop()
        two.stop()
    missing = acknowledged - set(received(matomo))
    assert not missing, f"{len(missing)} acknowledged hits never arrived"


def test_postgresql_down_for_seconds_mid_burst(servers, matomo, tmp_path):
    cluster = postgres_support.CURRENT
    one, two = (Server(env, tmp_path / f"gunicorn-{n}.log") for n, env in enumerate(servers))
    try:
        _, cookie = decide(one.port, ACCEPT_ALL)
        first = burst([one.port, two.port], cookie, [f"before-{n:03d}" for n in range(200)])
        cluster.stop()
        try:
            during = burst([one.port, two.port], cookie, [f"during-{n:02d}" for n in range(20)])
            time.sleep(2)
        finally:
            cluster.start_again()
        # The pools reconnect on their own, within a few seconds of the database's return.
        recovered = wait_healthy([one.port, two.port], timeout=30)
        after = burst([one.port, two.port], cookie, [f"after-{n:03d}" for n in range(200)])
        acknowledged = {
            n for r in (first, during, after) for n, s in r.items() if s and 200 <= s < 300
        }
        wait_delivered(matomo, acknowledged)
        health = [request(s.port, "GET", "/health")[0] for s in (one, two)]
    finally:
        one.stop()
        two.stop()
    assert set(first.values()) == {204}
    assert set(during.values()) == {503}, "no hit is acknowledged while the database is down"
    assert set(after.values()) == {204}, "both servers serve again without a restart"
    assert recovered < 30 and health == [200, 200]
    assert not acknowledged - set(received(matomo)), "nothing acknowledged is lost"
