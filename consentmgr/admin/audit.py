"""The audit trail of the admin console: who did what, when, from which network.

Every sign-in (and failed or throttled attempt), sign-out, record view,
export, erasure and outbox retry is written here, so a data protection
officer can answer "who looked at or changed consent records". The client is
kept as its /24 or /48 network (``visitor.ip_prefix``), never the address,
for the same reason the consent log does.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlite_utils

from ..consent.visitor import ip_prefix
from ..db import flush_if_durable

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
    db: sqlite_utils.Database,
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
            username,
            action,
            detail,
            ip_prefix(address) or None,
        ],
    )
    flush_if_durable(db)
