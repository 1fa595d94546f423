"""Throttling of failed admin sign-ins, per username and per client network.

Each failure is a row in ``login_failures`` keyed ``user:<name>`` and
``net:<network>``. When either key has ``max_failures`` rows inside the
window, further attempts are refused (429) until the oldest of them leaves the
window, whether or not the password would have been right: otherwise a guesser
could keep guessing and only be told when it succeeded. Throttling by network
rather than address follows the rest of the service, which never keeps an
address.
"""

from __future__ import annotations

import math

import sqlite_utils

from ..consent.visitor import ip_prefix
from ..db import immediate


def _user_key(username: str) -> str:
    return f"user:{username.lower()[:64]}"


def keys(username: str, address: str | None) -> list[str]:
    return [_user_key(username), f"net:{ip_prefix(address) or 'unknown'}"]


def retry_after(
    db: sqlite_utils.Database, keys: list[str], max_failures: int, window: float, now: float
) -> int | None:
    """Seconds until another attempt is allowed, or None when one is allowed now."""
    wait = 0.0
    for key in keys:
        rows = db.execute(
            "select ts from login_failures where key = ? and ts > ? order by ts desc limit ?",
            [key, now - window, max_failures],
        ).fetchall()
        if len(rows) >= max_failures:
            wait = max(wait, rows[-1][0] + window - now)
    return max(1, math.ceil(wait)) if wait > 0 else None


def record_failure(db: sqlite_utils.Database, keys: list[str], window: float, now: float) -> None:
    """Count one failure under every key, and forget failures older than the window."""
    with immediate(db):
        db.execute("delete from login_failures where ts <= ?", [now - window])
        db.conn.executemany(
            "insert into login_failures (key, ts) values (?, ?)", [(k, now) for k in keys]
        )


def clear(db: sqlite_utils.Database, username: str) -> None:
    """After a successful sign-in, the username's earlier failures no longer count."""
    with immediate(db):
        db.execute("delete from login_failures where key = ?", [_user_key(username)])
