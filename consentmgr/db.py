"""The SQLite database: a connection per request on ``g``, given back on teardown.

Each worker thread keeps its connection open between requests instead of
closing it: closing the last connection to a WAL database checkpoints and
deletes the WAL file, which cost more than the whole rest of a decision. On
teardown any transaction left open by an error is rolled back, so the next
request starts clean.

Connections run in autocommit mode (``isolation_level=None``) so that every
transaction is explicit. Writers that must not interleave with another
process, such as the consent log's hash chain, use :func:`immediate`, which
takes SQLite's write lock at ``BEGIN`` instead of at the first write.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import sqlite_utils
from flask import Flask, current_app, g

BUSY_TIMEOUT_MS = 10_000


def connect(path: str | Path, synchronous: str = "FULL") -> sqlite_utils.Database:
    """Open the database file with the settings every connection needs."""
    conn = sqlite3.connect(
        str(path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
    )
    db = sqlite_utils.Database(conn, execute_plugins=False)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.enable_wal()
    db.execute(f"PRAGMA synchronous = {synchronous}")
    db.execute("PRAGMA foreign_keys = ON")
    return db


def database_path(app: Flask) -> Path:
    return Path(app.instance_path) / app.config["DATABASE"]


def open_for(app: Flask) -> sqlite_utils.Database:
    return connect(database_path(app), app.config["SQLITE_SYNCHRONOUS"])


def get_db() -> sqlite_utils.Database:
    """The request's database connection: this thread's, opened on first use."""
    if "db" not in g:
        local = current_app.extensions["consentmgr.db_local"]
        if getattr(local, "pid", None) != os.getpid():
            local.db, local.pid = open_for(current_app), os.getpid()
        g.db = local.db
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    db = g.pop("db", None)
    if db is not None and db.conn.in_transaction:
        db.rollback()


@contextlib.contextmanager
def immediate(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """A write transaction that holds SQLite's write lock from its first statement.

    Reading the chain head and appending the next row must be one step across
    all worker processes; ``BEGIN IMMEDIATE`` makes other writers wait (up to the
    busy timeout) instead of both reading the same head. sqlite-utils calls made
    inside nest as savepoints.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.rollback()
        raise
    db.execute("COMMIT")


def init_app(app: Flask) -> None:
    app.extensions["consentmgr.db_local"] = threading.local()
    app.teardown_appcontext(close_db)
