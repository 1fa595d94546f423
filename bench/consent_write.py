"""Throughput of recording a decision: ``POST /api/consent`` against bare Flask.

Every server runs under gunicorn with 2 workers and gets the same load: bare
Flask with sync workers and with 4 threads per worker (ratios are against the
faster), consentmgr with the command line ``consentmgr serve`` uses (sync
workers) and, for comparison, with 4 threads per worker. Every request is a first-time
visitor's *accept all*, so each one appends a row to the hash-chained log,
updates the daily aggregates and signs a cookie.

    .venv/bin/python bench/consent_write.py [--seconds 10] [--connections 8]

Goal: consentmgr's req/s >= 0.5 x bare Flask's.
"""

from __future__ import annotations

import argparse
import json

from harness import consentmgr, consentmgr_instance, gunicorn, load, postgres, table

BODY = json.dumps(
    {
        "choices": {"analytics": True, "marketing": True},
        "method": "accept_all",
        "lang": "nb",
        "page": "https://ansettr.no/stillinger",
    }
)
HEADERS = {"Origin": "https://ansettr.no", "Content-Type": "text/plain"}


def post(base: str, args: argparse.Namespace) -> dict[str, float]:
    return load(base + "/api/consent", "POST", BODY, HEADERS, args.seconds, args.connections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()

    rows = []
    for name, threads in (
        ("bare Flask hello, sync workers", 1),
        ("bare Flask hello, 4 threads", 4),
    ):
        with gunicorn("hello_app:app", threads=threads) as base:
            rows.append((name, post(base, args)))
    with postgres() as new_database:
        setups = [
            ("consentmgr (defaults: SQLite, FULL)", {}, {}),
            ("consentmgr, 4 threads", {}, {"threads": 4}),
            ("consentmgr, SQLITE_SYNCHRONOUS=NORMAL", {"SQLITE_SYNCHRONOUS": "NORMAL"}, {}),
            ("consentmgr, PostgreSQL (local)", {"DATABASE": new_database()}, {}),
        ]
        for name, settings, serve in setups:
            with (
                consentmgr_instance(
                    # All load comes from one address: a limit it never reaches (it still runs).
                    RATE_LIMIT_DECISIONS="1000000/second",
                    **settings,
                ) as env,
                consentmgr(env, **serve) as base,
            ):
                rows.append((name, post(base, args)))
    print(
        f"POST /api/consent, gunicorn 2 workers, {args.connections} connections, "
        f"{args.seconds:.0f}s each, load from {rows[0][1]['tool']}"
        " (x bare: req/s against the best bare Flask row; goal >= 0.5)"
    )
    print(table(rows))


if __name__ == "__main__":
    main()
