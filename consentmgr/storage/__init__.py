"""Storage backends: one interface (:mod:`.base`), one module per database engine.

This package is the only place above the backends that knows which engines
exist: :func:`connect` picks one by the shape of the target;
:func:`hit_flusher` says whether that engine needs help to put hits on disk,
and :func:`wal_checkpointer` whether it needs a thread to keep its log short;
:func:`destroy_old_copies` asks it to forget what an erasure blanked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .base import POSTGRES_SCHEMES, Cursor, HitFlusher, Storage, Unavailable, marks

if TYPE_CHECKING:
    from . import sqlite

__all__ = [
    "POSTGRES_SCHEMES",
    "Cursor",
    "HitFlusher",
    "Storage",
    "Unavailable",
    "connect",
    "connect_for",
    "destroy_old_copies",
    "hit_flusher",
    "marks",
    "wal_checkpointer",
]


def connect(
    target: str | os.PathLike[str],
    *,
    synchronous: str = "FULL",
    pool_size: int = 10,
    timeout: float = 5.0,
) -> Storage:
    """A connection to ``target``: a ``postgresql://`` URL, or else a SQLite file's path.

    ``synchronous`` matters to SQLite only, ``pool_size`` and ``timeout`` to
    PostgreSQL only; each backend takes what applies to it.
    """
    target = os.fspath(target)
    if target.startswith(POSTGRES_SCHEMES):
        from . import postgres  # psycopg is needed only on PostgreSQL

        return postgres.connect(target, pool_size, timeout)
    from . import sqlite

    return sqlite.connect(Path(target), synchronous)


def connect_for(target: str, config: Mapping[str, Any]) -> Storage:
    """A connection to ``target`` with the settings an app's config gives its backend."""
    return connect(
        target,
        synchronous=config["SQLITE_SYNCHRONOUS"],
        pool_size=config["DATABASE_POOL_SIZE"],
        timeout=config["DATABASE_TIMEOUT_SECONDS"],
    )


def destroy_old_copies(db: Storage, *, wait: float = 0.0) -> bool:
    """After an erasure or purge committed: have the engine drop its old versions of the rows.

    Blanking a row leaves its previous version in the engine's files for a
    while. On SQLite (see ``sqlite.Database.destroy_old_copies``) this empties
    the WAL, trying for up to ``wait`` seconds, and returns whether it could
    now; if a reader still holds an older snapshot, the process's checkpointer
    thread finishes it within seconds of that reader ending. The caller gives
    a visitor's request ``0``, a background job or a command more.

    PostgreSQL is left alone and ``False`` returned: its old row versions go at
    the next (auto)vacuum, and its WAL segments when they are recycled; its
    operators own that, as they own its backups.
    """
    if db.kind != "sqlite":
        return False
    from . import sqlite

    assert isinstance(db, sqlite.Database)
    return db.destroy_old_copies(wait)


def hit_flusher(target: str, config: Mapping[str, Any]) -> HitFlusher | None:
    """The process's flusher for hits committed with ``flush=False``, if the backend needs one.

    A durable SQLite file (``SQLITE_SYNCHRONOUS = "FULL"``) needs one: it puts
    every hit committed within ``HIT_FLUSH_MS`` on disk with one ``fdatasync``.
    With ``HIT_FLUSH_MS = 0`` each hit is flushed before it is answered
    instead. PostgreSQL needs none: such commits are asynchronous there, and
    its WAL writer flushes them within ``wal_writer_delay``.
    """
    window_ms = config["HIT_FLUSH_MS"]
    if target.startswith(POSTGRES_SCHEMES) or not window_ms:
        return None
    if config["SQLITE_SYNCHRONOUS"] != "FULL":
        return None
    from . import sqlite

    return sqlite.GroupFlusher(Path(target), window_ms / 1000)


def wal_checkpointer(target: str) -> sqlite.Checkpointer | None:
    """The process's WAL checkpointer for a database file; PostgreSQL needs none.

    ``adopt(db)`` it on each request connection (see ``sqlite.Checkpointer``).
    """
    if target.startswith(POSTGRES_SCHEMES):
        return None
    from . import sqlite

    return sqlite.Checkpointer(Path(target))
