"""The audit trail of the admin console: who did what, when, from which network.

Every sign-in (and failed or throttled attempt), sign-out, record view,
export, erasure and outbox retry is written here, so a data protection
officer can answer "who looked at or changed consent records". The client is
kept as its /24 or /48 network (``visitor.ip_prefix``), never the address,
for the same reason the consent log does.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ..consent.visitor import ip_prefix
from ..db import flush_if_durable
from ..storage import Storage

# Usernames are 1 to 64 characters; whatever a sign-in form carried is cut to that.
MAX_USERNAME = 64

ACTIONS = (
    "login",
    "login_failed",
    "login_throttled",
    "logout",
    "session_expired",
    "view_record",
    "erase",
    "export",
    "retry",
)


def append(
    db: Storage,
    action: str,
    username: str | None,
    address: str | None,
    detail: str = "",
) -> None:
    """Append one entry; ``address`` is the raw client address and is truncated here."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action: {action}")
    db.execute(
        "insert into audit (ts, username, action, detail, client) values (?, ?, ?, ?, ?)",
        [
            datetime.now(UTC).isoformat(timespec="seconds"),
            username[:MAX_USERNAME] if username else username,
            action,
            detail,
            ip_prefix(address) or None,
        ],
    )
    flush_if_durable(db)


def count_throttled(db: Storage, username: str, address: str | None, since: datetime) -> None:
    """A sign-in refused by throttling: counted, not stored one entry per attempt.

    The attempts of one (username, network) since ``since`` (the start of the
    throttling window) share one entry, stamped with the first of them, whose
    detail is their number: a flood of refused attempts adds one short row per
    window, not one per attempt.
    """
    name, client = username[:MAX_USERNAME] or None, ip_prefix(address) or None
    now = datetime.now(UTC).isoformat(timespec="seconds")
    # Read, then write: the lock keeps two servers from both starting an entry.
    with db.transaction(lock="audit_throttled"):
        row = db.execute(
            "select id, detail from audit where action = 'login_throttled' and ts >= ?"
            " and username is not distinct from ? and client is not distinct from ?"
            " order by id desc limit 1",
            [since.isoformat(timespec="seconds"), name, client],
        ).fetchone()
        if row is None:
            db.execute(
                "insert into audit (ts, username, action, detail, client)"
                " values (?, ?, 'login_throttled', '1 attempt refused', ?)",
                [now, name, client],
            )
            return
        attempts = int(row[1].split()[0]) + 1 if row[1][:1].isdigit() else 2
        db.execute(
            "update audit set detail = ? where id = ?", [f"{attempts} attempts refused", row[0]]
        )


def prune(db: Storage, before: datetime, *, dry_run: bool = False) -> int:
    """Delete entries older than ``before`` (``AUDIT_KEEP_DAYS``); with dry_run, only count."""
    cutoff = before.isoformat(timespec="seconds")
    if dry_run:
        return db.execute("select count(*) from audit where ts < ?", [cutoff]).fetchone()[0]
    with db.transaction():
        return db.execute("delete from audit where ts < ?", [cutoff]).rowcount
