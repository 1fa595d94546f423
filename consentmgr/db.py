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

Durability: with ``SQLITE_SYNCHRONOUS = "FULL"`` (the default) a transaction
made with :func:`immediate` is on disk before it returns, so a 2xx is never
sent for a decision or a hit a power cut could still take back. SQLite's own
``synchronous=FULL`` would fsync inside the commit, holding the write lock
while the disk works, so every writer in every process queues behind every
other writer's fsync. Instead connections run SQLite at ``NORMAL`` (in WAL
mode: consistent after a power cut, though the newest commits may be missing)
and :func:`immediate` calls ``fdatasync`` on the WAL file *after* releasing
the lock. That flush covers the transaction's frames and every frame before
them, so nothing acknowledged is lost, and concurrent flushes overlap on the
disk instead of queueing. Single statements outside :func:`immediate` (the
admin session's last-seen time) are flushed only where they call
:func:`flush_if_durable`.

Hits are analytics, not proof: the gateway commits them with
``immediate(db, flush=False)`` and calls :func:`flush_soon`, and one thread
per process puts every hit committed in the last ``HIT_FLUSH_MS`` on disk with
a single ``fdatasync``. A committed hit survives any crash of the app (it is in
the WAL file); only a power cut can take back the hits of that window, never a
decision. ``HIT_FLUSH_MS = 0`` flushes each hit before it is answered.
"""

from __future__ import annotations

import atexit
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
    """A sqlite-utils database that also holds the writers' lock file and the WAL file open."""

    file: str = ""
    writer_lock: int = -1
    durable: bool = False
    flushes: int = 0  # fdatasyncs made through this connection, for the durability tests
    _wal: int = -1

    def flush(self) -> None:
        """Put every committed transaction on disk (``fdatasync`` of the WAL file)."""
        if self._wal >= 0 and os.fstat(self._wal).st_nlink == 0:
            # The WAL file was removed (journal mode changed); follow the new one.
            os.close(self._wal)
            self._wal = -1
        if self._wal < 0:
            try:
                self._wal = os.open(f"{self.file}-wal", os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                # No WAL: every commit was checkpointed into the database file, which
                # SQLite syncs after a checkpoint. (Never open the database file
                # itself: closing that descriptor would drop this process's locks.)
                return
        os.fdatasync(self._wal)
        self.flushes += 1

    def close(self) -> None:
        for name in ("writer_lock", "_wal"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)
        super().close()


def connect(path: str | Path, synchronous: str = "FULL") -> Database:
    """Open the database file with the settings every connection needs.

    ``synchronous`` is ``SQLITE_SYNCHRONOUS``: with ``FULL``, :func:`immediate`
    flushes each transaction to disk before returning (see the module's notes).
    """
    # Never open and close a descriptor of the database file here: closing it would
    # drop every POSIX lock this process holds on the file, the other connections'
    # included, and let another process corrupt it. SQLite creates a missing file
    # 0644 (in the 0700 instance folder, and still empty); it is made 0600 before
    # anything is written, and the -wal and -shm files take its mode.
    new = not os.path.exists(path)
    conn = sqlite3.connect(
        str(path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
    )
    if new:
        os.chmod(path, 0o600)
    db = Database(conn, execute_plugins=False)
    db.file = str(path)
    db.durable = synchronous == "FULL"
    db.writer_lock = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    # Switching a new file to WAL needs an exclusive lock, and SQLite answers
    # "database is locked" at once, without waiting, when several workers
    # starting together try it at the same moment. Taking turns avoids that.
    fcntl.flock(db.writer_lock, fcntl.LOCK_EX)
    try:
        db.enable_wal()
    finally:
        fcntl.flock(db.writer_lock, fcntl.LOCK_UN)
    db.execute("PRAGMA synchronous = NORMAL")
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
def immediate(db: sqlite_utils.Database, *, flush: bool = True) -> Iterator[sqlite_utils.Database]:
    """A write transaction that holds SQLite's write lock from its first statement.

    Reading the chain head and appending the next row must be one step across
    all worker processes; ``BEGIN IMMEDIATE`` makes other writers wait (up to the
    busy timeout) instead of both reading the same head. sqlite-utils calls made
    inside nest as savepoints.

    Writers first queue on an advisory file lock beside the database: the
    kernel wakes the next writer the moment the lock is free, whereas SQLite's
    own busy handler polls with sleeps of a millisecond and more, which under
    load costs more than the write itself.

    On a durable database the transaction is flushed to disk after both locks
    are released and before this returns, unless ``flush`` is false: then the
    caller answers for it, as the gateway does with :func:`flush_soon`.
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
    if flush:
        flush_if_durable(db)


def flush_if_durable(db: sqlite_utils.Database) -> None:
    """After a write that must survive a power cut; inside a transaction, its commit flushes."""
    if getattr(db, "durable", False) and not db.conn.in_transaction:
        db.flush()


class GroupFlusher:
    """Puts committed hits on disk within a window, one ``fdatasync`` for all of them.

    The first :meth:`request` after a flush starts the window; commits during
    it ride along. The thread is this process's own (it is started again after
    a fork) and keeps a connection used only for flushing.
    """

    def __init__(self, path: Path, window_seconds: float) -> None:
        self.path = path
        self.window = window_seconds
        self.cond = threading.Condition()
        self.pending = False
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.pid = -1
        self.db: Database | None = None

    @property
    def flushes(self) -> int:
        return self.db.flushes if self.db else 0

    def request(self) -> None:
        with self.cond:
            if self.thread is None or self.pid != os.getpid() or not self.thread.is_alive():
                self.pid, self.db = os.getpid(), None
                self.thread = threading.Thread(
                    target=self._run, name="consentmgr-flusher", daemon=True
                )
                self.thread.start()
            if not self.pending:
                self.pending = True
                self.cond.notify()

    def _run(self) -> None:
        while True:
            with self.cond:
                while not self.pending:
                    self.cond.wait()
            self.stopping.wait(self.window)
            self.flush()

    def flush(self) -> None:
        """Flush now whatever is pending (the thread after its window, and at exit)."""
        with self.cond:
            if not self.pending:
                return
            self.pending = False  # a commit from here on asks for the next flush
            if self.db is None:
                self.db = connect(self.path)
        self.db.flush()  # outside the lock: hits are not held up by the disk

    def stop(self) -> None:
        self.stopping.set()
        if self.pid == os.getpid():
            self.flush()


def flush_soon(app: Flask, db: sqlite_utils.Database) -> None:
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
    if app.config["HIT_FLUSH_MS"] and app.config["SQLITE_SYNCHRONOUS"] == "FULL":
        flusher = GroupFlusher(database_path(app), app.config["HIT_FLUSH_MS"] / 1000)
        app.extensions["consentmgr.flusher"] = flusher
        atexit.register(flusher.stop)
