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

Erasure on disk: blanking a row (erasure, retention) writes new versions of
its pages, and the old ones are what someone reading the files would find.
Every connection sets ``secure_delete``, so space freed inside the database
file is overwritten with zeros (Debian's SQLite does this by default,
upstream's does not). The old versions also sit in the WAL, possibly for
good: a WAL that was once long (a backup held an old snapshot through a
burst) restarts from its start, and frames past what later writes reach are
never overwritten. So after an erasure or a purge commits,
:meth:`Database.destroy_old_copies` copies the whole WAL into the database
file and cuts the WAL to nothing (a ``TRUNCATE`` checkpoint). That needs every
reader to have left the WAL; while one has not, an app process's
:class:`Checkpointer` keeps trying, and the copies go within a second of
that reader finishing. ``journal_size_limit`` also shrinks a WAL left long by a
burst, once it restarts.

The tables are plain SQLite tables made with sqlite-utils, so anyone can open
the file with ``sqlite-utils`` or Datasette.
"""

from __future__ import annotations

import atexit
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
#: A truncating checkpoint holds the write lock while it waits for readers: never long.
TRUNCATE_BUSY_MS = 20
#: Between attempts while a reader holds an old snapshot (a backup can take minutes).
TRUNCATE_RETRY_SECONDS = 0.25
#: What a WAL is cut back to when it restarts after a burst (about wal_autocheckpoint's 1000 pages).
JOURNAL_SIZE_LIMIT = 4 * 1024 * 1024
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
    #: The process's checkpointer thread, once it has adopted this connection.
    checkpointer: weakref.ref[Checkpointer] | None = None
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

    def truncate_wal(self, busy_ms: int = TRUNCATE_BUSY_MS) -> bool:
        """Copy the whole WAL into the database file and cut it to nothing; whether it could.

        ``wal_checkpoint(TRUNCATE)`` takes SQLite's write lock and then waits for
        every reader to leave the WAL; with the usual busy timeout a backup's
        long read would stop every visitor's write for up to ten seconds, so it
        waits ``busy_ms`` at most and says ``False`` when a reader was still
        there. Writers first queue on the writers' lock, as for a transaction, so
        none of them is left polling SQLite's lock meanwhile.
        """
        if self.conn.in_transaction:
            return False  # a checkpoint cannot run inside a transaction
        if self.writer_lock >= 0:
            fcntl.flock(self.writer_lock, fcntl.LOCK_EX)
        try:
            self.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
            try:
                busy, _, _ = self.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.OperationalError:  # "database is locked" by a writer of another kind
                busy = 1
            finally:
                self.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        finally:
            if self.writer_lock >= 0:
                fcntl.flock(self.writer_lock, fcntl.LOCK_UN)
        return not busy

    def destroy_old_copies(self, wait: float = 0.0) -> bool:
        """After an erasure or purge committed: leave no old version of its rows in the WAL.

        Tries :meth:`truncate_wal` until it succeeds or ``wait`` seconds have
        passed (``0``: once, which is what a visitor's request can afford), and
        says whether the WAL is now empty. When it is not, a reader holds a
        snapshot older than the erasure and still needs those pages; the
        process's checkpointer thread, if this connection has one, keeps trying
        and destroys them within a second of that reader finishing (and the
        process tries once more as it exits). Otherwise (``consentmgr
        deliver``, a script), or if that last try fails too, a warning is
        logged and the next erasure or hourly purge tries again.
        """
        deadline = time.monotonic() + wait
        while not self.truncate_wal():
            if time.monotonic() >= deadline:
                checkpointer = self.checkpointer() if self.checkpointer is not None else None
                if checkpointer is not None:
                    checkpointer.truncate_soon()
                else:
                    _warn_old_copies_kept(self.file)
                return False
            time.sleep(TRUNCATE_RETRY_SECONDS)
        return True

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
    # Erased and purged values must not stay in free space (see the module's notes).
    db.execute("PRAGMA secure_delete = ON")
    db.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
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

    After an erasure that could not empty the WAL at once (a reader holds an
    older snapshot), :meth:`truncate_soon` has the thread try a ``TRUNCATE``
    checkpoint instead, at most every ``TRUNCATE_RETRY_SECONDS`` and each
    time holding writers up for ``TRUNCATE_BUSY_MS`` at most, until one
    succeeds. A request is lost if the process ends first; the next erasure or
    hourly purge truncates again.
    """

    def __init__(self, path: Path, interval: float = 0.1) -> None:
        self.path = path
        self.interval = interval
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.pid = -1
        self.checkpoints = 0  # rounds that left the whole WAL copied, in this process (tests)
        self.truncations_wanted = 0  # truncate_soon() calls, in this process
        self.truncated = 0  # how many of them a truncating checkpoint has answered
        self.truncations = 0  # truncating checkpoints that succeeded (tests)
        self.exit_hook = False

    def _start(self) -> None:
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

    def adopt(self, db: Database) -> None:
        """Leave ``db``'s checkpoints to this process's thread (started on first use)."""
        self._start()
        db.checkpointer = weakref.ref(self)
        db.execute("PRAGMA wal_autocheckpoint = 0")

    def truncate_soon(self) -> None:
        """Have the thread empty the WAL as soon as no reader holds an older snapshot."""
        with self.lock:
            self.truncations_wanted += 1
            if not self.exit_hook:
                self.exit_hook = True
                atexit.register(_truncate_at_exit, weakref.ref(self))
        self._start()
        log.info("a reader holds an old snapshot: the WAL is emptied once it is done")


def _truncate_at_exit(ref: weakref.ref[Checkpointer]) -> None:
    """A last try for a truncation still wanted when the process ends (a command, a restart)."""
    checkpointer = ref()
    if checkpointer is None or checkpointer.pid != os.getpid():
        return
    if checkpointer.truncations_wanted <= checkpointer.truncated:
        return
    db = connect(checkpointer.path)
    try:
        done = db.truncate_wal()
    finally:
        db.close()
    if not done:
        _warn_old_copies_kept(checkpointer.path)


def _warn_old_copies_kept(path: str | Path) -> None:
    log.warning(
        "a reader holds an old snapshot: the WAL of %s keeps old copies of erased"
        " data until the next erasure or purge",
        path,
    )


def _checkpoint_while_used(ref: weakref.ref[Checkpointer], path: Path) -> None:
    """The thread's loop, on a connection of its own; it ends when its app is gone."""
    db = connect(path)
    next_truncate = 0.0
    pending_since: float | None = None
    try:
        while (checkpointer := ref()) is not None:
            interval = checkpointer.interval
            try:
                wanted = checkpointer.truncations_wanted
                if wanted > checkpointer.truncated and time.monotonic() >= next_truncate:
                    pending_since = pending_since or time.monotonic()
                    if db.truncate_wal():
                        checkpointer.truncated = wanted
                        checkpointer.truncations += 1
                        log.info("WAL emptied: no old copy of erased data is left in it")
                        pending_since = None
                    else:
                        next_truncate = time.monotonic() + TRUNCATE_RETRY_SECONDS
                        if time.monotonic() - pending_since > 60:
                            log.warning(
                                "a reader has held an old snapshot for over a minute:"
                                " the WAL still holds old copies of erased data"
                            )
                            pending_since = time.monotonic()  # once a minute at most
                else:
                    busy, frames, done = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if not busy and frames > 0 and frames == done:
                        checkpointer.checkpoints += 1
            except sqlite3.Error:
                log.exception("WAL checkpoint failed; trying again in %.1f s", interval)
            del checkpointer  # hold no reference while asleep
            time.sleep(interval)
    finally:
        db.close()
