"""Throughput of recording a decision: ``POST /api/consent`` against bare Flask.

Both servers run under gunicorn with 2 sync workers and get the same load.
Every request is a first-time visitor's *accept all*, so each one appends a row
to the hash-chained log, updates the daily aggregates and signs a cookie.

    .venv/bin/python bench/consent_write.py [--seconds 10] [--connections 8]

Goal: consentmgr's req/s >= 0.5 x bare Flask's.
"""

from __future__ import annotations

import argparse
import json

from harness import consentmgr_instance, gunicorn, load, postgres, table

BODY = json.dumps(
    {
        "choices": {"analytics": True, "marketing": True},
        "method": "accept_all",
        "lang": "nb",
        "page": "https://ansettr.no/stillinger",
    }
)
HEADERS = {"Origin": "https://ansettr.no", "Content-Type": "text/plain"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()

    rows = []
    with gunicorn("hello_app:app") as base:
        rows.append(
            (
                "bare Flask hello",
                load(base + "/api/consent", "POST", BODY, HEADERS, args.seconds, args.connections),
            )
        )
    with postgres() as new_database:
        setups = [
            ("consentmgr (SQLite, synchronous=FULL)", {"SQLITE_SYNCHRONOUS": "FULL"}),
            ("consentmgr (SQLite, synchronous=NORMAL)", {"SQLITE_SYNCHRONOUS": "NORMAL"}),
            ("consentmgr (PostgreSQL, local)", {"DATABASE": new_database()}),
        ]
        for name, settings in setups:
            with (
                consentmgr_instance(
                    # All load comes from one address: a limit it never reaches (it still runs).
                    RATE_LIMIT_DECISIONS="1000000/second",
                    **settings,
                ) as env,
                gunicorn("consentmgr:create_app()", env) as base,
            ):
                rows.append(
                    (
                        name,
                        load(
                            base + "/api/consent",
                            "POST",
                            BODY,
                            HEADERS,
                            args.seconds,
                            args.connections,
                        ),
                    )
                )
    print(
        f"POST /api/consent, gunicorn 2 workers, {args.connections} connections, "
        f"{args.seconds:.0f}s each, load from {rows[0][1]['tool']}"
    )
    print(table(rows))
    bare = rows[0][1]["rps"]
    for name, r in rows[1:]:
        print(f"ratio {name} / bare Flask: {r['rps'] / bare:.2f}  (goal >= 0.5)")


if __name__ == "__main__":
    main()
