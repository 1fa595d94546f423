"""The database of the app: a storage backend connection per thread, handed out on ``g``.

The backend is a :class:`consentmgr.storage.base.Storage`; the SQLite one
lives in :mod:`consentmgr.storage.sqlite`, which explains its locking and
durability. Each worker thread keeps its connection open between requests
instead of closing it: closing the last connection to a WAL database
checkpoints and deletes the WAL file, which cost more than the whole rest of a
decision. On teardown any transaction left open by an error is rolled back,
so the next request starts clean.

Hits are analytics, not proof: the gateway commits them with
``db.transaction(flush=False)`` and calls :func:`flush_soon`, and one thread
per process puts every hit committed in the last ``HIT_FLUSH_MS`` on disk with
a single ``fdatasync``. A committed hit survives any crash of the app (it is in
the WAL file); only a power cut can take back the hits of that window, never a
decision. ``HIT_FLUSH_MS = 0`` flushes each hit before it is answered.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from pathlib import Path

from flask import Flask, current_app, g

from .storage import open_storage
from .storage.base import POSTGRES_SCHEMES, Storage, Unavailable
from .storage.sqlite import BUSY_TIMEOUT_MS, Database, GroupFlusher, connect

__all__ = [
    "BUSY_TIMEOUT_MS",
    "Database",
    "GroupFlusher",
    "Unavailable",
    "connect",
    "get_db",
    "immediate",
    "open_for",
]


def database_url(config) -> str | None:
    """The PostgreSQL URL the config names (``DATABASE_URL``, or a URL in ``DATABASE``), if any."""
    url = config.get("DATABASE_URL") or config.get("DATABASE") or ""
    return url if str(url).startswith(POSTGRES_SCHEMES) else None


def database_path(app: Flask) -> Path:
    """The SQLite file (on PostgreSQL: where the instance keeps files beside it)."""
    if database_url(app.config):
        return Path(app.instance_path) / "consentmgr"
    return Path(app.instance_path) / app.config["DATABASE"]


def open_for(app: Flask) -> Storage:
    """A connection of the configured backend; ``close()`` it when done."""
    return open_storage(
        database_url(app.config) or str(database_path(app)),
        synchronous=app.config["SQLITE_SYNCHRONOUS"],
        pool_size=app.config["DATABASE_POOL_SIZE"],
        timeout=app.config["DATABASE_TIMEOUT_SECONDS"],
    )


def get_db() -> Storage:
    """The request's database connection: this thread's, opened on first use."""
    if "db" not in g:
        local = current_app.extensions["consentmgr.db_local"]
        if getattr(local, "pid", None) != os.getpid():
            local.db, local.pid = open_for(current_app), os.getpid()
        g.db = local.db
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.release()


def immediate(db: Storage, *, flush: bool = True) -> contextlib.AbstractContextManager[Storage]:
    """A write transaction: ``db.transaction(flush=flush)``."""
    return db.transaction(flush=flush)


def flush_if_durable(db: Storage) -> None:
    """After a write that must survive a power cut; inside a transaction, its commit flushes."""
    flush = getattr(db, "flush_if_durable", None)
    if flush is not None:
        flush()


def flush_soon(app: Flask, db: Storage) -> None:
    """After committing hits with ``immediate(db, flush=False)``: on disk within the window."""
    if not getattr(db, "durable", False):
        return
    flusher = app.extensions.get("consentmgr.flusher")
    if flusher is None:
        db.flush()  # HIT_FLUSH_MS = 0: before the hit is answered
    else:
        flusher.request()


def init_app(app: Flask) -> None:
    app.extensions["consentmgr.db_local"] = threading.local()
    app.teardown_appcontext(close_db)
    postgres = database_url(app.config) is not None
    if app.config["HIT_FLUSH_MS"] and app.config["SQLITE_SYNCHRONOUS"] == "FULL" and not postgres:
        flusher = GroupFlusher(database_path(app), app.config["HIT_FLUSH_MS"] / 1000)
        app.extensions["consentmgr.flusher"] = flusher
        atexit.register(flusher.stop)
