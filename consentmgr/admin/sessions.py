"""Server-side admin sessions: the signed Flask cookie only carries a random token.

Flask's default session is a signed cookie, which the server cannot revoke: a
copy taken before sign-out would stay valid. So the cookie holds a random token
and this table holds its sha256 (a stolen database does not yield live
sessions), the admin, and when it was last used. Sign-out, deleting the admin,
or ``idle`` seconds without a request end the session for every copy of the
cookie. A new token is made at every sign-in, so no value from before sign-in
is ever valid afterwards.
"""

from __future__ import annotations

import hashlib
import secrets

from ..consent.visitor import ip_prefix
from ..db import flush_if_durable
from ..storage import Storage

MAX_AGE_SECONDS = 12 * 3600
# last_seen is written at most this often, so browsing does not write on every request.
TOUCH_EVERY_SECONDS = 30


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(db: Storage, username: str, address: str | None, now: float) -> str:
    """Create a session and return its token (to be put in the signed cookie)."""
    token = secrets.token_urlsafe(32)
    with db.transaction():
        db.execute(
            # last_seen never precedes created: a session this old is past its maximum age.
            "delete from admin_sessions where created < ?",
            [now - MAX_AGE_SECONDS],
        )
        db.execute(
            "insert into admin_sessions (token_hash, username, created, last_seen, client)"
            " values (?, ?, ?, ?, ?)",
            [_hash(token), username, now, now, ip_prefix(address) or None],
        )
    return token


def resume(db: Storage, token: str | None, idle: float, now: float) -> str | None:
    """The admin a live session belongs to, refreshing its idle clock; None if it is over."""
    if not token:
        return None
    key = _hash(token)
    row = db.execute(
        "select username, created, last_seen from admin_sessions where token_hash = ?", [key]
    ).fetchone()
    if row is None:
        return None
    username, created, last_seen = row
    if now - last_seen > idle or now - created > MAX_AGE_SECONDS:
        end(db, token)
        return None
    if now - last_seen > TOUCH_EVERY_SECONDS:
        db.execute("update admin_sessions set last_seen = ? where token_hash = ?", [now, key])
    return username


def end(db: Storage, token: str | None) -> None:
    if token:
        db.execute("delete from admin_sessions where token_hash = ?", [_hash(token)])
        flush_if_durable(db)
