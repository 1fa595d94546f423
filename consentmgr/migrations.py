"""Numbered schema migrations.

Each migration is a function that takes the database and changes it; its
number is its position in ``MIGRATIONS``. Applied numbers are recorded in the
``migrations`` table. Append new migrations; never edit one that has shipped.
The tables are documented in ``docs/schema.md``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from .storage import Storage


def m001_consent_core(db: Storage) -> None:
    db.add_table(
        "policies",
        {
            "digest": str,
            "version": str,
            "revision": int,
            "content": str,
            "first_served": str,
        },
        pk="digest",
    )
    db.add_index("policies", ["version", "revision"], unique=True)

    db.add_table(
        "decisions",
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
    db.add_index("decisions", ["consent_id"])
    db.add_index("decisions", ["ts"])

    db.add_table(
        "daily_consent",
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
    db.add_table(
        "daily_decisions",
        {"day": str, "version": str, "lang": str, "method": str, "count": int},
        pk=("day", "version", "lang", "method"),
    )
    db.add_table("daily_pages", {"day": str, "page": str, "count": int}, pk=("day", "page"))


def m002_gateway(db: Storage) -> None:
    db.add_table(
        "outbox",
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
    db.add_index("outbox", ["status", "target", "next_attempt"])
    db.add_index("outbox", ["consent_id"])
    db.add_table(
        "gateway_daily",
        {"day": str, "target": str, "category": str, "outcome": str, "count": int},
        pk=("day", "target", "category", "outcome"),
    )


def m003_admin(db: Storage) -> None:
    db.add_table("admins", {"username": str, "password_hash": str, "created": str}, pk="username")
    db.add_table(
        "audit",
        {"id": int, "ts": str, "username": str, "action": str, "detail": str, "client": str},
        pk="id",
        not_null={"ts", "action"},
    )
    db.add_index("audit", ["ts"])
    db.add_table("login_failures", {"id": int, "key": str, "ts": float}, pk="id")
    db.add_index("login_failures", ["key", "ts"])


def m004_checkpoints(db: Storage) -> None:
    db.add_table(
        "checkpoints",
        {"seq": int, "chain_hash": str, "ts": str, "signed": str},
        pk="seq",
        not_null={"signed"},
    )


def m005_admin_sessions(db: Storage) -> None:
    db.add_table(
        "admin_sessions",
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
    db.add_index("admin_sessions", ["username"])
    db.add_table(
        "forwarding_check",
        {
            "id": int,
            "checked_until": float,
            "checked": int,
            "without_consent": int,
            "unknown": int,
        },
        pk="id",
    )
    db.add_index("outbox", ["status", "finished"])
    db.execute(
        "insert into forwarding_check (id, checked_until, checked, without_consent, unknown)"
        " values (1, 0.0, 0, 0, 0)"
    )


def m006_retention_index(db: Storage) -> None:
    # Retention looks for rows past their time whose details are not yet blanked;
    # indexing only those keeps each purge small however long the log grows.
    db.execute("create index decisions_unerased_ts on decisions (ts) where erased_at is null")


def m007_scans(db: Storage) -> None:
    db.add_table(
        "scans",
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
    db.add_index("scans", ["origin", "id"])


def m008_decision_query_columns(db: Storage) -> None:
    # The forwarding check compares a decision's time with an outbox item's and
    # asks whether a category was granted; plain columns let it do that in SQL
    # every backend speaks, instead of one engine's date and JSON functions.
    from .consent.log import epoch, granted

    db.execute("alter table decisions add column ts_epoch double precision")
    db.execute("alter table decisions add column granted text")
    rows = db.execute("select seq, ts, choices from decisions").fetchall()
    db.executemany(
        "update decisions set ts_epoch = ?, granted = ? where seq = ?",
        [(epoch(ts), granted(json.loads(choices)), seq) for seq, ts, choices in rows],
    )


def m009_outbox_finished_index(db: Storage) -> None:
    # Pruning looks up finished rows by time. Pending rows (every new hit) have no
    # finish time; leaving them out of the index spares each hit's commit one
    # index page.
    db.execute("drop index idx_outbox_status_finished")
    db.execute("create index outbox_finished on outbox (finished) where finished is not null")


MIGRATIONS: list[Callable[[Storage], None]] = [
    m001_consent_core,
    m002_gateway,
    m003_admin,
    m004_checkpoints,
    m005_admin_sessions,
    m006_retention_index,
    m007_scans,
    m008_decision_query_columns,
    m009_outbox_finished_index,
]


def pending(db: Storage) -> list[int]:
    if not db.has_table("migrations"):
        return list(range(1, len(MIGRATIONS) + 1))
    done = {row[0] for row in db.execute("select id from migrations")}
    return [n for n in range(1, len(MIGRATIONS) + 1) if n not in done]


def migrate(db: Storage) -> list[str]:
    """Apply every pending migration in one transaction; return their names.

    Several gunicorn workers, or several servers, start at once; the transaction's
    lock (SQLite's one writer, PostgreSQL's advisory lock) makes the first one
    migrate and the others find nothing left to do.
    """
    applied = []
    with db.transaction(lock="migrations"):
        if not db.has_table("migrations"):
            db.add_table("migrations", {"id": int, "name": str, "applied_at": str}, pk="id")
        for number in pending(db):
            fn = MIGRATIONS[number - 1]
            fn(db)
            db.execute(
                "insert into migrations (id, name, applied_at) values (?, ?, ?)",
                [number, fn.__name__, datetime.now(UTC).isoformat()],
            )
            applied.append(fn.__name__)
    return applied
