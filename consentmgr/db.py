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
import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import sqlite_utils
from flask import Flask, current_app, g

BUSY_TIMEOUT_MS = 10_000


class Database(sqlite_utils.Database):
    """A sqlite-utils database that also holds the writers' lock file open."""

    writer_lock: int = -1

    def close(self) -> None:
        if self.writer_lock >= 0:
            os.close(self.writer_lock)
            self.writer_lock = -1
        super().close()


def connect(path: str | Path, synchronous: str = "FULL") -> Database:
    """Open the database file with the settings every connection needs."""
    conn = sqlite3.connect(
        str(path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
    )
    db = Database(conn, execute_plugins=False)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.enable_wal()
    db.execute(f"PRAGMA synchronous = {synchronous}")
    db.execute("PRAGMA foreign_keys = ON")
    db.writer_lock = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
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

    Writers first queue on an advisory file lock beside the database: the
    kernel wakes the next writer the moment the lock is free, whereas SQLite's
    own busy handler polls with sleeps of a millisecond and more, which under
    load costs more than the write itself.
    """
    lock = getattr(db, "writer_lock", -1)
    if lock >= 0:
        fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.rollback()
            raise
        db.execute("COMMIT")
    finally:
        if lock >= 0:
            fcntl.flock(lock, fcntl.LOCK_UN)


def init_app(app: Flask) -> None:
    app.extensions["consentmgr.db_local"] = threading.local()
    app.teardown_appcontext(close_db)
