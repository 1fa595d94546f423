"""Throttling of failed admin sign-ins, per username from one network and per network.

Each attempt is a row in ``login_failures`` under two keys,
``user:<name>@<network>`` and ``net:<network>``. When either key has
``max_failures`` rows inside the window, further attempts are refused (429)
until the oldest of them leaves the window, whether or not the password would
have been right: otherwise a guesser could keep guessing and only be told when
it succeeded. Only failures from the same network count against a username,
so someone guessing from elsewhere cannot lock the real admin out; the
network key stops one network from trying many usernames. Throttling by
network rather than address follows the rest of the service, which never
keeps an address.

Checking and counting are one step: :func:`begin` counts the attempt as a
failure in the same write transaction (``BEGIN IMMEDIATE``, across processes)
that checks the count, before the password is looked at, so parallel guesses
cannot all pass the check before any of them is counted. A success takes its
count back (and clears the username's failures from that network); an
attempt refused before its password was checked is not counted either.
"""

from __future__ import annotations

import math

from ..consent.visitor import ip_prefix
from ..storage import Storage, marks


def keys(username: str, address: str | None) -> list[str]:
    """The (username, network) key and the network key of an attempt."""
    network = ip_prefix(address) or "unknown"
    return [f"user:{username.lower()[:64]}@{network}", f"net:{network}"]


def _retry_after(
    db: Storage, keys: list[str], max_failures: int, window: float, now: float
) -> int | None:
    wait = 0.0
    for key in keys:
        rows = db.execute(
            "select ts from login_failures where key = ? and ts > ? order by ts desc limit ?",
            [key, now - window, max_failures],
        ).fetchall()
        if len(rows) >= max_failures:
            wait = max(wait, rows[-1][0] + window - now)
    return max(1, math.ceil(wait)) if wait > 0 else None


def begin(
    db: Storage, keys: list[str], max_failures: int, window: float, now: float
) -> tuple[int | None, list[int]]:
    """Check and count one attempt at once.

    Returns (seconds to wait, []) when the attempt is refused, nothing counted;
    otherwise (None, ids of the rows that count it as a failure until
    :func:`succeeded` or :func:`not_counted` takes them back).
    """
    # Check and count under one lock, on every server (see the module's notes).
    with db.transaction(lock="login_throttle"):
        db.execute("delete from login_failures where ts <= ?", [now - window])
        wait = _retry_after(db, keys, max_failures, window, now)
        if wait is not None:
            return wait, []
        ids = [
            db.execute(
                "insert into login_failures (key, ts) values (?, ?) returning id", [k, now]
            ).fetchall()[0][0]
            for k in keys
        ]
    return None, ids


def not_counted(db: Storage, ids: list[int]) -> None:
    """Take back an attempt's count (it was refused before its password was checked)."""
    if not ids:
        return
    with db.transaction():
        db.execute(f"delete from login_failures where id in ({marks(ids)})", ids)  # noqa: S608


def succeeded(db: Storage, keys: list[str], ids: list[int]) -> None:
    """After a successful sign-in: its own count goes, and so do the username's failures
    from this network; the network's other failures still count."""
    with db.transaction():
        db.execute(
            f"delete from login_failures where key = ? or id in ({marks(ids) or 'null'})",  # noqa: S608
            [keys[0], *ids],
        )
