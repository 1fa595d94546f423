"""Visitor-facing cost of ``/matomo.php`` with consent, against bare Flask.

Every server runs under gunicorn with 2 workers and gets the same requests:
``GET /matomo.php?idsite=1&rec=1&action_name=...`` with a consent cookie
(consentmgr's grants analytics; it is obtained once through
``POST /api/consent``). A Matomo stand-in in this process answers every
request after 200 ms, like a distant or busy Matomo. consentmgr runs with the
command line ``consentmgr serve`` uses (sync workers) unless a row says
otherwise.

- bare Flask hello, with sync workers and with 4 threads per worker: the
  ceiling; ratios are against the faster of the two.
- consentmgr, deliverer off (``DELIVER_IN_BACKGROUND = false``): the path a
  visitor waits for: rate limit, consent check (signature and the log's
  latest decision), cleaning, sealing and the committed outbox row; Matomo is
  not contacted during the load. The goals are about this one, on the
  defaults (hits flushed in groups within ``HIT_FLUSH_MS``). Other rows
  change one thing: threaded workers (``--threads 4``), ``HIT_FLUSH_MS = 0`` (an
  fdatasync per hit), ``SQLITE_SYNCHRONOUS = "NORMAL"`` (never flushed), or a
  PostgreSQL database on this machine (a throwaway cluster with its durable
  defaults; hits committed with ``synchronous_commit = off``).
- consentmgr, deliverer on: the same while the background deliverer in the
  workers sends bulk requests to the slow upstream.
- synchronous pass-through proxy: the design the outbox replaces, a Flask
  app that forwards each hit to the 200 ms upstream and waits for it.

Each server gets two loads: a throughput load with more connections than
workers (requests queue, so its latency includes waiting for a free worker)
and a latency load with one connection per worker (what one visitor waits).

    .venv/bin/python bench/gateway.py [--seconds 8] [--connections 8] [--no-background]

Goals: consentmgr (deliverer off) req/s >= 0.6 x bare Flask, p99 <= 5 ms.
CPU per request, without the server and the load generator, is in
``profile_paths.py``.
The machine may be shared, so the figures are indicative; ratios within one
run are the comparable numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path

from harness import consentmgr, consentmgr_instance, gunicorn, load, postgres, table

WORKERS = 2
DEFAULTS = "consentmgr, deliverer off"
UPSTREAM_DELAY = 0.2
PATH = "/matomo.php?idsite=1&rec=1&action_name=Stillinger&url=https%3A%2F%2Fansettr.no%2Fjobb"
SITE = "https://ansettr.no"


class SlowMatomo:
    """A Matomo stand-in on 127.0.0.1 that tracks every hit after ``UPSTREAM_DELAY``."""

    def __init__(self) -> None:
        from werkzeug.serving import make_server
        from werkzeug.wrappers import Request, Response

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.tracked = 0
        self.lock = threading.Lock()

        @Request.application
        def app(request: Request) -> Response:
            time.sleep(UPSTREAM_DELAY)
            n = 1
            if request.method == "POST":
                body = json.loads(request.get_data() or b"{}")
                n = len(body.get("requests", [])) or 1
            with self.lock:
                self.tracked += n
            reply = {"status": "success", "tracked": n, "invalid": 0}
            return Response(json.dumps(reply), content_type="application/json")

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.port}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def proxy_app():
    """The baseline: forward each hit to ``$BENCH_UPSTREAM`` and answer once it has answered."""
    import requests
    from flask import Flask, Response, request

    upstream = os.environ["BENCH_UPSTREAM"].rstrip("/") + "/matomo.php"
    http = requests.Session()
    http.trust_env = False
    app = Flask(__name__)

    @app.get("/health")
    def health():
        return "ok"

    @app.route("/matomo.php", methods=["GET", "POST"])
    def track():
        http.get(upstream, params=list(request.args.items(multi=True)), timeout=(3, 10))
        return Response(status=204)

    return app


def consent_cookie(base: str) -> str:
    """Accept all once, as the banner would, and return the Cookie header to replay."""
    req = urllib.request.Request(
        base + "/api/consent",
        data=json.dumps(
            {"choices": {"analytics": True, "marketing": True}, "method": "accept_all"}
        ).encode(),
        headers={"Origin": SITE, "Content-Type": "text/plain"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as response:
        morsel = SimpleCookie(response.headers["Set-Cookie"])["consent"]
    return f"consent={morsel.value}"


def outbox_counts(env: dict[str, str]) -> dict[str, int]:
    folder = Path(env["CONSENTMGR_INSTANCE"])
    database = tomllib.loads((folder / "config.toml").read_text()).get("DATABASE", "")
    if database.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(database) as conn:
            rows = conn.execute("select status, count(*) from outbox group by status").fetchall()
        return dict(rows)
    db = sqlite3.connect(folder / "consentmgr.sqlite", timeout=30)
    try:
        return dict(db.execute("select status, count(*) from outbox group by status").fetchall())
    finally:
        db.close()


# All load comes from one address: a limit high enough never to refuse it, so
# the limiter runs on every hit (its cost is measured) without turning hits away.
UNREACHED_LIMIT = "1000000/second"


@contextlib.contextmanager
def consentmgr_server(
    matomo: SlowMatomo, serve: dict[str, int] | None = None, **config: object
) -> Iterator[Server]:
    serve = serve or {}
    with (
        consentmgr_instance(
            MATOMO_URL=matomo.url, RATE_LIMIT_GATEWAY=UNREACHED_LIMIT, **config
        ) as env,
        consentmgr(env, **serve) as base,
    ):
        yield Server(base, consent_cookie(base), env)


@contextlib.contextmanager
def plain_server(app: str, env: dict[str, str] | None = None, threads: int = 1) -> Iterator[Server]:
    # The same cookie header as consentmgr gets, so every server parses the same request.
    with gunicorn(app, env, threads) as base:
        yield Server(base, "consent=x", None)


@dataclass
class Server:
    base: str
    cookie: str
    env: dict[str, str] | None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8, help="per load, two loads per server")
    parser.add_argument("--connections", type=int, default=8, help="for the throughput load")
    parser.add_argument(
        "--no-background", action="store_true", help="skip the run with the deliverer on"
    )
    args = parser.parse_args()
    seconds = args.seconds
    loads = [("throughput", args.connections), ("latency", WORKERS)]

    matomo = SlowMatomo()
    stack = contextlib.ExitStack()
    new_database = stack.enter_context(postgres())
    servers = [
        ("bare Flask hello, sync workers", lambda: plain_server("hello_app:app")),
        ("bare Flask hello, 4 threads", lambda: plain_server("hello_app:app", threads=4)),
        (DEFAULTS, lambda: consentmgr_server(matomo, DELIVER_IN_BACKGROUND=False)),
        (
            "consentmgr, off, 4 threads",
            lambda: consentmgr_server(matomo, {"threads": 4}, DELIVER_IN_BACKGROUND=False),
        ),
        (
            "consentmgr, off, HIT_FLUSH_MS=0",
            lambda: consentmgr_server(matomo, DELIVER_IN_BACKGROUND=False, HIT_FLUSH_MS=0),
        ),
        (
            "consentmgr, off, sync=NORMAL",
            lambda: consentmgr_server(
                matomo, DELIVER_IN_BACKGROUND=False, SQLITE_SYNCHRONOUS="NORMAL"
            ),
        ),
        (
            "consentmgr, off, PostgreSQL",
            lambda: consentmgr_server(matomo, DELIVER_IN_BACKGROUND=False, DATABASE=new_database()),
        ),
    ]
    if not args.no_background:
        servers.append(
            (
                "consentmgr, deliverer on",
                lambda: consentmgr_server(matomo, DELIVER_IN_BACKGROUND=True),
            )
        )
    servers.append(
        (
            "sync pass-through proxy",
            lambda: plain_server("gateway:proxy_app()", {"BENCH_UPSTREAM": matomo.url}),
        )
    )

    results: dict[str, list] = {kind: [] for kind, _ in loads}
    notes = []
    try:
        for name, start in servers:
            with start() as server:
                tracked_before = matomo.tracked
                for kind, conns in loads:
                    result = load(
                        server.base + PATH, "GET", "", {"Cookie": server.cookie}, seconds, conns
                    )
                    results[kind].append((name, result))
                if server.env is None:
                    continue
                counts = outbox_counts(server.env)
                queued = sum(counts.values())
                if not queued:
                    raise SystemExit(f"{name}: nothing was queued; the consent cookie was refused")
                notes.append(
                    f"  {name}: {queued} hits queued ({counts}),"
                    f" {matomo.tracked - tracked_before} tracked by the stand-in during the loads"
                )
    finally:
        matomo.close()
        stack.close()

    tool = results["throughput"][0][1]["tool"]
    print(
        f"GET /matomo.php with analytics consent; gunicorn, {WORKERS} workers"
        f" (consentmgr as `consentmgr serve` runs it unless a row says otherwise);"
        f" {seconds:.0f} s per load, from {tool};"
        f" the upstream stand-in answers after {UPSTREAM_DELAY * 1000:.0f} ms"
    )
    for kind, conns in loads:
        print()
        print(f"{kind} load: {conns} connections (x bare: req/s against the best bare Flask row)")
        print(table(results[kind]))
    print()
    print("outbox after the loads:")
    for note in notes:
        print(note)
    print()
    print(
        f"'{DEFAULTS}' is the visitor-facing path on the defaults: consent check,"
        " cleaning, sealing, outbox row committed, on disk within HIT_FLUSH_MS;"
        " Matomo is not contacted during the load. Goals: >= 0.6 x bare, p99 <= 5 ms."
    )
    for kind, conns in loads:
        row = dict(results[kind])[DEFAULTS]
        print(f"p99 {DEFAULTS}, {conns} connections: {row['p99_ms']:.2f} ms")


if __name__ == "__main__":
    main()
