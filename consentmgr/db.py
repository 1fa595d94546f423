"""The database of the app: a storage backend connection per thread, handed out on ``g``.

The backend is a :class:`consentmgr.storage.base.Storage`, chosen by
:mod:`consentmgr.storage` from ``DATABASE``/``DATABASE_URL``; each backend's
module explains its locking and durability. Each worker thread keeps its
connection open between requests instead of closing it: on a database file,
closing the last connection checkpoints and deletes the WAL file, which cost
more than the whole rest of a decision; a pooled connection goes back to its
pool at the end of the request. On a database file, request connections
leave checkpoints to a thread of the process
(:func:`consentmgr.storage.wal_checkpointer`), so no visitor waits for one.
On teardown any transaction left open by an error is rolled back, so the
next request starts clean.

Hits are analytics, not proof: the gateway commits them with
``db.transaction(flush=False)`` and calls :func:`flush_soon`, which leaves
them to the process's hit flusher (:func:`consentmgr.storage.hit_flusher`)
when the backend has one: every hit committed in the last ``HIT_FLUSH_MS`` is
put on disk at once. A committed hit survives any crash of the app; only a
power cut (on PostgreSQL, a crash of the database server) can take back the
hits of that window, never a decision. On a database file, ``HIT_FLUSH_MS = 0``
flushes each hit before it is answered.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from pathlib import Path

from flask import Flask, current_app, g

from . import storage
from .storage import POSTGRES_SCHEMES, Storage, Unavailable, connect

__all__ = [
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
    """The database file (on PostgreSQL: where the instance keeps its files beside it)."""
    if database_url(app.config):
        return Path(app.instance_path) / "consentmgr"
    return Path(app.instance_path) / app.config["DATABASE"]


def database_target(app: Flask) -> str:
    """What :func:`consentmgr.storage.connect` opens: the URL, or else the file's path."""
    return database_url(app.config) or str(database_path(app))


def open_for(app: Flask) -> Storage:
    """A connection of the configured backend; ``close()`` it when done."""
    return storage.connect_for(database_target(app), app.config)


def get_db() -> Storage:
    """The request's database connection: this thread's, opened on first use."""
    if "db" not in g:
        local = current_app.extensions["consentmgr.db_local"]
        if getattr(local, "pid", None) != os.getpid():
            local.db, local.pid = open_for(current_app), os.getpid()
            checkpointer = current_app.extensions["consentmgr.checkpointer"]
            if checkpointer is not None:
                checkpointer.adopt(local.db)
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
    app.extensions["consentmgr.checkpointer"] = storage.wal_checkpointer(database_target(app))
    flusher = storage.hit_flusher(database_target(app), app.config)
    if flusher is not None:
        app.extensions["consentmgr.flusher"] = flusher
        atexit.register(flusher.stop)
