"""Admin accounts: usernames with werkzeug password hashes, in the ``admins`` table.

Checking a password costs the same whether or not the user exists: an unknown
username is checked against a dummy hash of the same kind, so neither the
answer nor its timing tells an attacker which usernames are real.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from functools import lru_cache

from werkzeug.security import check_password_hash, generate_password_hash

from ..storage import Storage

USERNAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")


class AdminError(ValueError):
    """A username or password that cannot be accepted; the message says why."""


def check_username(username: str) -> str:
    if not USERNAME.fullmatch(username):
        raise AdminError(
            "username must be 1 to 64 letters, digits or . _ @ - (no spaces or other characters)"
        )
    return username


def check_password(password: str, min_length: int) -> None:
    if len(password) < min_length:
        raise AdminError(
            f"password is too short: it has {len(password)} characters and must have at least"
            f" {min_length} (set by ADMIN_MIN_PASSWORD_LENGTH)"
        )
    if password.strip() != password:
        raise AdminError("password must not start or end with spaces")


def create(db: Storage, username: str, password: str, min_length: int, now: datetime) -> None:
    """Add an admin; refuses an existing username or a password shorter than ``min_length``."""
    check_username(username)
    check_password(password, min_length)
    with db.transaction():
        if exists(db, username):
            raise AdminError(f"admin {username!r} already exists")
        db.execute(
            "insert into admins (username, password_hash, created) values (?, ?, ?)",
            [username, generate_password_hash(password), now.isoformat(timespec="seconds")],
        )


def delete(db: Storage, username: str) -> bool:
    """Remove an admin and end every session of theirs; False if there was none."""
    with db.transaction():
        db.execute("delete from admin_sessions where username = ?", [username])
        return db.execute("delete from admins where username = ?", [username]).rowcount > 0


def exists(db: Storage, username: str) -> bool:
    return db.execute("select 1 from admins where username = ?", [username]).fetchone() is not None


def listing(db: Storage) -> list[dict]:
    return [
        {"username": u, "created": c}
        for u, c in db.execute("select username, created from admins order by username")
    ]


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return generate_password_hash(secrets.token_urlsafe(16))


def authenticate(db: Storage, username: str, password: str) -> bool:
    """True only for a known admin with the right password; same work either way."""
    row = db.execute("select password_hash from admins where username = ?", [username]).fetchone()
    if row is None:
        check_password_hash(_dummy_hash(), password)
        return False
    return check_password_hash(row[0], password)
