"""``consentmgr copy-db SOURCE DEST``: move a whole installation between databases.

SOURCE and DEST are each a SQLite file or a ``postgresql://`` URL. The target
is brought to the current schema by the usual migrations and must hold no
data yet; every table is copied row for row (the consent log's rows with
their chain hashes, so the chain and the signed checkpoints still hold, and
receipts issued before the move still verify), in one transaction on the
target, and the result is verified like ``verify-log``.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from . import migrations
from .proof import checkpoints
from .storage import Storage, connect

#: Every table with data, parents first; (table, its generated id column or None).
TABLES: tuple[tuple[str, str | None], ...] = (
    ("policies", None),
    ("decisions", None),
    ("daily_consent", None),
    ("daily_decisions", None),
    ("daily_pages", None),
    ("checkpoints", None),
    ("outbox", "id"),
    ("gateway_daily", None),
    ("admins", None),
    ("admin_sessions", None),
    ("audit", "id"),
    ("login_failures", "id"),
    ("forwarding_check", None),
    ("scans", "id"),
)
BATCH = 1000


class CopyError(Exception):
    pass


def open_target(target: str, *, timeout: float = 5.0) -> Storage:
    """A connection to a SQLite file or a PostgreSQL URL."""
    return connect(target, pool_size=4, timeout=timeout)


def has_data(db: Storage) -> list[str]:
    """The tables that hold rows (the forwarding check's single row of zeros does not count)."""
    full = []
    for table, _ in TABLES:
        sql = f"select count(*) from {table}"  # noqa: S608 (names from TABLES)
        if table == "forwarding_check":
            sql += " where checked > 0 or checked_until > 0"
        if db.execute(sql).fetchone()[0]:
            full.append(table)
    return full


def copy(
    app: Flask, source: Storage, dest: Storage, progress: Callable[[str, int], None] | None = None
) -> checkpoints.Verdict:
    """Copy every table from ``source`` into the empty ``dest`` and verify the result there."""
    migrations.migrate(source)
    migrations.migrate(dest)
    full = has_data(dest)
    if full:
        raise CopyError(
            f"the target already holds data ({', '.join(full)}); copy-db only fills an empty one"
        )
    with dest.transaction(lock="consent_log"):
        dest.execute("delete from forwarding_check")
        for table, generated in TABLES:
            cursor = source.execute(f"select * from {table}")  # noqa: S608
            columns = [d[0] for d in cursor.description]
            insert = (
                f"insert into {table} ({', '.join(columns)})"  # noqa: S608
                f" values ({', '.join('?' * len(columns))})"
            )
            n = 0
            while batch := cursor.fetchmany(BATCH):
                dest.executemany(insert, batch)
                n += len(batch)
            if generated:
                dest.follow_ids(table, generated)
            if progress:
                progress(table, n)
    return checkpoints.verify(app, dest)
