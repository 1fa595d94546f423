"""Where a request's CPU goes: a hit, a decision and bare Flask hello, in one process.

The HTTP benches (``gateway.py``, ``consent_write.py``) measure what a visitor
sees, but on a shared two-core machine their figures move with everything
else that runs. This one calls each app's WSGI callable directly with
prebuilt requests and measures the process's CPU time per request, so the
cost of the code itself can be compared run to run, and ``--profile`` shows
which functions it goes to, summed by area (our code, Flask and werkzeug,
SQLite, crypto, JSON, the standard library).

What a request costs under gunicorn is this plus the server's own share per
request, which is the same for every app (read it off the HTTP benches:
bare hello's requests per second against its CPU here).

    .venv/bin/python bench/profile_paths.py [--requests 3000] [--rounds 5]
    .venv/bin/python bench/profile_paths.py --profile hit      # or decision

consentmgr runs on its defaults (``SQLITE_SYNCHRONOUS = "FULL"``,
``HIT_FLUSH_MS = 50``) with the deliverer off; each request comes from
another /24 network so that the rate limits never answer instead.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from werkzeug.test import EnvironBuilder, run_wsgi_app

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hello_app import app as hello  # noqa: E402

from consentmgr import create_app  # noqa: E402

SITE = "https://ansettr.no"
HIT = "/matomo.php?idsite=1&rec=1&action_name=Stillinger&url=https%3A%2F%2Fansettr.no%2Fjobb"
DECISION = json.dumps(
    {
        "choices": {"analytics": True, "marketing": True},
        "method": "accept_all",
        "lang": "nb",
        "page": "https://ansettr.no/stillinger",
    }
)
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0"
# Where a function's self time is counted: the first area with a part found in
# the function's file and name (built-in functions have no file, only a name).
AREAS = (
    ("consentmgr", ("/consentmgr/",)),
    ("SQLite (statements)", ("sqlite3.",)),
    ("sqlite-utils", ("/sqlite_utils/",)),
    ("flask, werkzeug", ("/flask/", "/werkzeug/")),
    ("crypto (hmac, aes, blake2)", ("hmac", "_hashlib", "cryptography", "openssl", "blake2")),
    ("itsdangerous", ("/itsdangerous/",)),
    ("json", ("/json/",)),
    ("locks, flushes (syscalls)", ("fcntl.", "posix.", "_thread.")),
)


def remote_addr() -> dict[str, str]:
    return {"REMOTE_ADDR": f"10.{random.randrange(256)}.{random.randrange(256)}.7"}


def call(app: Callable, environ: dict) -> int:
    body, status, _headers = run_wsgi_app(app, environ)
    b"".join(body)
    if hasattr(body, "close"):
        body.close()
    return int(status.split()[0])


def consentmgr_app(folder: str):
    return create_app(
        {
            "SECRET_KEY": "b" * 48,
            "SITE_ORIGINS": [SITE],
            "DATABASE": str(Path(folder) / "profile.sqlite"),
            "DELIVER_IN_BACKGROUND": False,
            "MATOMO_URL": "http://127.0.0.1:9/",
            "MATOMO_SITE_ID": 1,
        }
    )


def requests_for(app) -> dict[str, Callable[[], dict]]:
    """Builders of one fresh WSGI environ per path, with a consent cookie from the app."""

    def decision(cookie: str = "") -> dict:
        return EnvironBuilder(
            path="/api/consent",
            method="POST",
            data=DECISION,
            content_type="text/plain",
            headers={"Origin": SITE, "User-Agent": UA, **({"Cookie": cookie} if cookie else {})},
            environ_base=remote_addr(),
        ).get_environ()

    body, status, headers = run_wsgi_app(app, decision())
    b"".join(body)
    if not status.startswith("201"):
        raise SystemExit(f"the consent API answered {status}")
    cookie = next(v for k, v in headers if k == "Set-Cookie").split(";")[0]
    return {
        "hello": lambda: EnvironBuilder(path=HIT, headers={"User-Agent": UA}).get_environ(),
        "hit": lambda: EnvironBuilder(
            path=HIT, headers={"Cookie": cookie, "User-Agent": UA}, environ_base=remote_addr()
        ).get_environ(),
        "decision": decision,  # a new visitor: another's decision would outdate the hits' cookie
    }


def cpu_per_request(app: Callable, make: Callable[[], dict], n: int) -> float:
    environs = [make() for _ in range(n)]
    start = time.process_time()
    for environ in environs:
        status = call(app, environ)
    elapsed = time.process_time() - start
    if status >= 400:
        raise SystemExit(f"the last request answered {status}")
    return elapsed / n * 1e6


def measure(apps: dict[str, Callable], makers: dict, n: int, rounds: int) -> None:
    for name, app in apps.items():
        cpu_per_request(app, makers[name], 200)  # warm up: imports, caches, prepared statements
    figures: dict[str, list[float]] = defaultdict(list)
    for _ in range(rounds):  # alternate, so a busy moment of the machine hits every path
        for name, app in apps.items():
            figures[name].append(cpu_per_request(app, makers[name], n))
    base = statistics.median(figures["hello"])
    print(f"CPU per request, median of {rounds} rounds of {n} (µs)")
    for name, values in figures.items():
        median = statistics.median(values)
        print(f"  {name:10s} {median:8.1f}   {median / base:5.2f} x hello   {median - base:+8.1f}")


def profile(app: Callable, make: Callable[[], dict], n: int) -> None:
    cpu_per_request(app, make, 200)
    environs = [make() for _ in range(n)]
    profiler = cProfile.Profile()
    profiler.enable()
    for environ in environs:
        call(app, environ)
    profiler.disable()
    stats = pstats.Stats(profiler)
    areas: dict[str, float] = defaultdict(float)
    for (file, _line, name), (_cc, _nc, self_time, _ct, _callers) in stats.stats.items():
        where = f"{file} {name}"
        area = next((a for a, parts in AREAS if any(p in where for p in parts)), "other Python")
        areas[area] += self_time
    total = sum(areas.values())
    print(f"Self time by area (under the profiler, {n} requests):")
    for area, seconds in sorted(areas.items(), key=lambda kv: -kv[1]):
        print(f"  {area:28s} {seconds / total:6.1%}")
    print()
    stats.sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", choices=["hit", "decision", "hello"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        app = consentmgr_app(folder)
        makers = requests_for(app)
        apps = {"hello": hello, "hit": app, "decision": app}
        if args.profile:
            profile(apps[args.profile], makers[args.profile], args.requests)
        else:
            measure(apps, makers, args.requests, args.rounds)
        dropped = app.extensions["consentmgr.tally"].counts
        if dropped:
            raise SystemExit(f"requests were refused, the figures do not count: {dict(dropped)}")


if __name__ == "__main__":
    main()
