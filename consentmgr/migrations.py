"""Numbered schema migrations.

Each migration is a function that takes the database and changes it; its
number is its position in ``MIGRATIONS``. Applied numbers are recorded in the
``migrations`` table. Append new migrations; never edit one that has shipped.
The tables are documented in ``docs/schema.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlite_utils


def m001_consent_core(db: sqlite_utils.Database) -> None:
    db["policies"].create(
        {
            "digest": str,
            "version": str,
            "revision": int,
            "content": str,
            "first_served": str,
        },
        pk="digest",
    )
    db["policies"].create_index(["version", "revision"], unique=True)

    db["decisions"].create(
        {
            "seq": int,
            "consent_id": str,
            "ts": str,
            "version": str,
            "revision": int,
            "choices": str,
            "method": str,
            "lang": str,
            "page": str,
            "ua_family": str,
            "ip_prefix": str,
            "salt": str,
            "personal_digest": str,
            "chain_hash": str,
            "erased_at": str,
        },
        pk="seq",
        not_null={"ts", "version", "revision", "choices", "method", "lang", "chain_hash"},
    )
    db["decisions"].create_index(["consent_id"])
    db["decisions"].create_index(["ts"])

    db["daily_consent"].create(
        {
            "day": str,
            "version": str,
            "lang": str,
            "method": str,
            "category": str,
            "granted": int,
            "count": int,
        },
        pk=("day", "version", "lang", "method", "category", "granted"),
    )
    db["daily_decisions"].create(
        {"day": str, "version": str, "lang": str, "method": str, "count": int},
        pk=("day", "version", "lang", "method"),
    )
    db["daily_pages"].create({"day": str, "page": str, "count": int}, pk=("day", "page"))


def m002_gateway(db: sqlite_utils.Database) -> None:
    db["outbox"].create(
        {
            "id": int,
            "target": str,
            "consent_id": str,
            "payload": str,
            "created": float,
            "status": str,
            "attempts": int,
            "next_attempt": float,
            "lease_until": float,
            "lease_owner": str,
            "last_error": str,
            "finished": float,
        },
        pk="id",
        not_null={"target", "payload", "created", "status", "attempts", "next_attempt"},
        defaults={"status": "pending", "attempts": 0},
    )
    db["outbox"].create_index(["status", "target", "next_attempt"])
    db["outbox"].create_index(["consent_id"])
    db["gateway_daily"].create(
        {"day": str, "target": str, "category": str, "outcome": str, "count": int},
        pk=("day", "target", "category", "outcome"),
    )


def m003_admin(db: sqlite_utils.Database) -> None:
    db["admins"].create({"username": str, "password_hash": str, "created": str}, pk="username")
    db["audit"].create(
        {"id": int, "ts": str, "username": str, "action": str, "detail": str, "client": str},
        pk="id",
        not_null={"ts", "action"},
    )
    db["audit"].create_index(["ts"])
    db["login_failures"].create({"id": int, "key": str, "ts": float}, pk="id")
    db["login_failures"].create_index(["key", "ts"])


def m004_checkpoints(db: sqlite_utils.Database) -> None:
    db["checkpoints"].create(
        {"seq": int, "chain_hash": str, "ts": str, "signed": str}, pk="seq", not_null={"signed"}
    )


def m005_admin_sessions(db: sqlite_utils.Database) -> None:
    db["admin_sessions"].create(
        {
            "token_hash": str,
            "username": str,
            "created": float,
            "last_seen": float,
            "client": str,
        },
        pk="token_hash",
        not_null={"username", "created", "last_seen"},
    )
    db["admin_sessions"].create_index(["username"])
    db["forwarding_check"].create(
        {
            "id": int,
            "checked_until": float,
            "checked": int,
            "without_consent": int,
            "unknown": int,
        },
        pk="id",
    )
    db["outbox"].create_index(["status", "finished"])
    db["forwarding_check"].insert(
        {"id": 1, "checked_until": 0.0, "checked": 0, "without_consent": 0, "unknown": 0}
    )


def m006_retention_index(db: sqlite_utils.Database) -> None:
    # Retention looks for rows past their time whose details are not yet blanked;
    # indexing only those keeps each purge small however long the log grows.
    db.execute("create index decisions_unerased_ts on decisions (ts) where erased_at is null")


def m007_scans(db: sqlite_utils.Database) -> None:
    db["scans"].create(
        {
            "id": int,
            "started": str,
            "finished": str,
            "url": str,
            "origin": str,
            "site": str,
            "policy_version": str,
            "pages": int,
            "findings": int,
            "finding_keys": str,
            "report": str,
        },
        pk="id",
        not_null={"started", "url", "origin", "findings", "finding_keys", "report"},
    )
    db["scans"].create_index(["origin", "id"])


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    m001_consent_core,
    m002_gateway,
    m003_admin,
    m004_checkpoints,
    m005_admin_sessions,
    m006_retention_index,
    m007_scans,
]


def pending(db: sqlite_utils.Database) -> list[int]:
    if not db["migrations"].exists():
        return list(range(1, len(MIGRATIONS) + 1))
    done = {row["id"] for row in db["migrations"].rows}
    return [n for n in range(1, len(MIGRATIONS) + 1) if n not in done]


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply every pending migration in one transaction; return their names.

    Several gunicorn workers start at once; the immediate transaction makes the
    first one migrate and the others find nothing left to do.
    """
    applied = []
    with db.transaction():
        if not db["migrations"].exists():
            db["migrations"].create({"id": int, "name": str, "applied_at": str}, pk="id")
        for number in pending(db):
            fn = MIGRATIONS[number - 1]
            fn(db)
            db["migrations"].insert(
                {"id": number, "name": fn.__name__, "applied_at": datetime.now(UTC).isoformat()}
            )
            applied.append(fn.__name__)
    return applied
