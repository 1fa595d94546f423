"""The SQLite backend: one file, writers queued on an ``flock``, ``fdatasync`` for durability.

Connections run in autocommit mode (``isolation_level=None``) so that every
transaction is explicit. :meth:`Database.transaction` takes SQLite's write
lock at ``BEGIN`` (``BEGIN IMMEDIATE``) instead of at the first write, so a
transaction that reads and then writes (the consent log's chain head) is one
step across all worker processes; a named lock needs nothing more, since
SQLite has one writer at a time anyway.

Durability: with ``SQLITE_SYNCHRONOUS = "FULL"`` (the default) a transaction
is on disk before it returns, so a 2xx is never sent for a decision or a hit a
power cut could still take back. SQLite's own ``synchronous=FULL`` would fsync
inside the commit, holding the write lock while the disk works, so every
writer in every process queues behind every other writer's fsync. Instead
connections run SQLite at ``NORMAL`` (in WAL mode: consistent after a power
cut, though the newest commits may be missing) and the transaction calls
``fdatasync`` on the WAL file *after* releasing the lock. That flush covers
the transaction's frames and every frame before them, so nothing acknowledged
is lost, and concurrent flushes overlap on the disk instead of queueing.

The tables are plain SQLite tables made with sqlite-utils, so anyone can open
the file with ``sqlite-utils`` or Datasette.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import sqlite_utils

BUSY_TIMEOUT_MS = 10_000
log = logging.getLogger(__name__)


class Database(sqlite_utils.Database):
    """A sqlite-utils database that also holds the writers' lock file and the WAL file open.

    It implements :class:`consentmgr.storage.base.Storage`.
    """

    kind = "sqlite"
    file: str = ""
    writer_lock: int = -1
    durable: bool = False
    flushes: int = 0  # fdatasyncs made through this connection, for the durability tests
    _wal: int = -1

    def executemany(self, sql: str, rows: Iterable[Sequence]) -> None:
        self.conn.executemany(sql, rows)

    def stream(self, sql: str, params: Sequence | None = None) -> Iterator[tuple]:
        yield from self.conn.execute(sql, list(params or ()))  # a cursor reads as it goes

    @contextlib.contextmanager
    def transaction(self, lock: str | None = None, *, flush: bool = True) -> Iterator[Database]:
        """A write transaction that holds SQLite's write lock from its first statement.

        Reading the chain head and appending the next row must be one step across
        all worker processes; ``BEGIN IMMEDIATE`` makes other writers wait (up to the
        busy timeout) instead of both reading the same head, so ``lock`` needs
        nothing more here. sqlite-utils calls made inside nest as savepoints.

        Writers first queue on an advisory file lock beside the database: the
        kernel wakes the next writer the moment the lock is free, whereas SQLite's
        own busy handler polls with sleeps of a millisecond and more, which under
        load costs more than the write itself.

        On a durable database the transaction is flushed to disk after both locks
        are released and before this returns, unless ``flush`` is false: then the
        caller answers for it, as the gateway does with ``flush_soon``.
        """
        if self.writer_lock >= 0:
            fcntl.flock(self.writer_lock, fcntl.LOCK_EX)
        try:
            self.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                self.rollback()
                raise
            self.execute("COMMIT")
        finally:
            if self.writer_lock >= 0:
                fcntl.flock(self.writer_lock, fcntl.LOCK_UN)
        if flush:
            self.flush_if_durable()

    def claim(self, target: str, limit: int, owner: str, now: float, lease: float) -> list[tuple]:
        # One writer at a time: the rows read are still unleased when they are leased.
        with self.transaction():
            rows = self.execute(
                "select id, target, consent_id, payload, created, attempts from outbox"
                " where status = 'pending' and target = ? and next_attempt <= ?"
                " and (lease_until is null or lease_until < ?) order by id limit ?",
                [target, now, now, limit],
            ).fetchall()
            if rows:
                self.executemany(
                    "update outbox set lease_until = ?, lease_owner = ? where id = ?",
                    [(now + lease, owner, r[0]) for r in rows],
                )
        return rows

    def follow_ids(self, table: str, column: str) -> None:
        pass  # an integer primary key always continues after the largest

    def backup(self, dest: str) -> None:
        """A consistent copy into the empty or missing file ``dest`` (``VACUUM INTO``).

        VACUUM INTO does not fsync the file it writes; the caller does.
        """
        self.execute("VACUUM INTO ?", [str(dest)])

    def rollback_if_open(self) -> None:
        if self.conn.in_transaction:
            self.rollback()

    def release(self) -> None:
        # The thread keeps its connection (see consentmgr.db); only an open transaction goes.
        self.rollback_if_open()

    def has_table(self, name: str) -> bool:
        return self[name].exists()

    def add_table(
        self,
        name: str,
        columns: dict[str, type],
        pk: str | tuple[str, ...],
        not_null: Iterable[str] = (),
        defaults: dict | None = None,
    ) -> None:
        self[name].create(columns, pk=pk, not_null=set(not_null), defaults=defaults)

    def add_index(self, table: str, columns: Sequence[str], unique: bool = False) -> None:
        self[table].create_index(list(columns), unique=unique)

    def flush_if_durable(self) -> None:
        """After a write that must survive a power cut; inside a transaction, its commit flushes."""
        if self.durable and not self.conn.in_transaction:
            self.flush()

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

    ``synchronous`` is ``SQLITE_SYNCHRONOUS``: with ``FULL``, each transaction
    is flushed to disk before it returns (see the module's notes).
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


class Checkpointer:
    """Copies the WAL into the database file from a thread of its own, off the requests' path.

    SQLite checkpoints inside whichever commit finds the WAL over
    ``wal_autocheckpoint`` pages, so now and then one visitor's request copies
    megabytes into the database file and syncs it before its answer: at 2
    connections, that was half of a hit's p99. The app's request connections
    turn that off (:meth:`adopt`), and this thread runs a ``PASSIVE``
    checkpoint every ``interval`` seconds: it never waits for writers or
    readers, costs next to nothing when nothing was written, and one it
    cannot finish now is finished on a later round. Connections of other
    processes (the CLI, ``consentmgr deliver``) keep SQLite's own checkpoints.
    """

    def __init__(self, path: Path, interval: float = 0.1) -> None:
        self.path = path
        self.interval = interval
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.pid = -1
        self.checkpoints = 0  # rounds that left the whole WAL copied, in this process (tests)

    def adopt(self, db: Database) -> None:
        """Leave ``db``'s checkpoints to this process's thread (started on first use)."""
        with self.lock:
            if self.thread is None or self.pid != os.getpid() or not self.thread.is_alive():
                self.pid, self.checkpoints = os.getpid(), 0
                self.thread = threading.Thread(
                    target=_checkpoint_while_used,
                    args=(weakref.ref(self), self.path),
                    name="consentmgr-checkpointer",
                    daemon=True,
                )
                self.thread.start()
        db.execute("PRAGMA wal_autocheckpoint = 0")


def _checkpoint_while_used(ref: weakref.ref[Checkpointer], path: Path) -> None:
    """The thread's loop, on a connection of its own; it ends when its app is gone."""
    db = connect(path)
    try:
        while (checkpointer := ref()) is not None:
            interval = checkpointer.interval
            try:
                busy, frames, done = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if not busy and frames > 0 and frames == done:
                    checkpointer.checkpoints += 1
            except sqlite3.Error:
                log.exception("WAL checkpoint failed; trying again in %.1f s", interval)
            del checkpointer  # hold no reference while asleep
            time.sleep(interval)
    finally:
        db.close()
