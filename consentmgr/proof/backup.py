"""``consentmgr backup``: a consistent, checked copy of the database while the service runs.

The consent log is the proof that consent was given; losing the file loses
the proof. Copying ``consentmgr.sqlite`` with ``cp`` while workers write can
capture a torn file, and misses whatever still sits in the ``-wal`` file.
SQLite's ``VACUUM INTO`` instead writes one read transaction's view of the
whole database to a new file, so the copy is consistent however busy the
service is, and compacted.

The copy is then opened on its own and checked: SQLite's ``quick_check``, and
the consent log's hash chain and signed checkpoints (``checkpoints.verify``),
so a backup that would not prove anything is reported as a failure at once,
not found out on the day it is needed. A copy whose log does not verify is
still kept, as ``DEST.unverified``: if the live log was tampered with, that
copy is evidence, and nightly runs must not stop keeping any.

The file is created ``0600`` and never overwrites anything: it holds consent
ids, network prefixes and sealed gateway payloads. It is written under a
temporary name, flushed to disk and only then given its name. Keep
``SECRET_KEY`` (and ``OLD_SECRET_KEYS``) with it, elsewhere: checkpoints,
receipts and the sealed payloads can only be checked or opened with those
keys.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils
from flask import Flask

from ..storage import Storage
from . import checkpoints


class BackupError(Exception):
    """The backup could not be written, or the written copy failed its checks."""


@dataclass(frozen=True)
class Backup:
    path: Path
    size: int
    decisions: int
    outbox_items: int
    checkpoints: int


def write(app: Flask, db: sqlite_utils.Database, dest: str | Path) -> Backup:
    """Write a consistent copy of ``db`` to the new file ``dest``, check it, and flush it.

    The copy is made under a temporary name beside ``dest`` and linked to
    ``dest`` only once it is checked and on disk, so ``dest`` is never a torn
    or unchecked file, even if the process is killed half way. A copy that
    SQLite finds damaged is removed. A sound copy whose consent log does not
    verify is kept as ``DEST.unverified`` (evidence of the state it shows)
    and reported as a failure.
    """
    dest = Path(dest)
    if dest.exists():
        raise _taken(dest)
    if db.kind == "postgresql":
        return _write_dump(app, db, dest)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        # O_EXCL: the copy is private from its first byte. VACUUM INTO accepts
        # an existing file only if it is empty, as this one is.
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    except OSError as e:
        raise BackupError(f"cannot create a file in {dest.parent}: {e.strerror}") from None
    try:
        db.backup(str(tmp))
        _flush(tmp)  # VACUUM INTO does not fsync the file it writes
        try:
            done = check(app, tmp)
        except Unverified as e:
            _publish(tmp, dest.with_name(dest.name + ".unverified"))
            raise BackupError(f"{e}; the copy is kept as {dest}.unverified") from None
        _publish(tmp, dest)
        return dataclasses.replace(done, path=dest)
    finally:
        tmp.unlink(missing_ok=True)


def _write_dump(app: Flask, db: Storage, dest: Path) -> Backup:
    """PostgreSQL: ``pg_dump --format=custom``, checked in the snapshot it dumps.

    The consent log is verified in the very snapshot ``pg_dump`` copies, so
    the file holds exactly what was verified. Restore it with ``pg_restore
    --no-owner -d URL DEST`` into an empty database, then ``consentmgr verify-log``.
    """
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")

    def check(snapshot: Storage) -> tuple[checkpoints.Verdict, int, int]:
        return (
            checkpoints.verify(app, snapshot),
            snapshot.execute("select count(*) from outbox").fetchone()[0],
            snapshot.execute("select count(*) from checkpoints").fetchone()[0],
        )

    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    except OSError as e:
        raise BackupError(f"cannot create a file in {dest.parent}: {e.strerror}") from None
    try:
        try:
            verdict, outbox_items, anchored = db.backup(str(tmp), check)
        except OSError as e:
            raise BackupError(str(e)) from None
        _flush(tmp)
        if not verdict.ok:
            _publish(tmp, dest.with_name(dest.name + ".unverified"))
            raise BackupError(
                f"the consent log in the copy does not verify: {verdict.reason};"
                f" the copy is kept as {dest}.unverified"
            )
        _publish(tmp, dest)
        return Backup(dest, dest.stat().st_size, verdict.count, outbox_items, anchored)
    finally:
        tmp.unlink(missing_ok=True)


def _flush(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(tmp: Path, dest: Path) -> None:
    """Give the finished copy its name: a hard link, which fails if the name is taken."""
    try:
        os.link(tmp, dest)
    except FileExistsError:
        raise _taken(dest) from None
    _flush(dest.parent)  # the new name itself must survive a power cut


def _taken(dest: Path) -> BackupError:
    return BackupError(f"{dest} already exists; backups never overwrite, choose a new name")


class Unverified(BackupError):
    """The copy is a sound SQLite file, but the consent log in it does not verify."""


def check(app: Flask, path: Path) -> Backup:
    """Open a copy on its own, read-only, and check the file and the consent log in it."""
    # immutable: nobody writes the copy, so SQLite needs no locks and no side files.
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True)
    copy = sqlite_utils.Database(conn)
    try:
        problems = [r[0] for r in copy.execute("PRAGMA quick_check").fetchall()]
        if problems != ["ok"]:
            raise BackupError(f"the copy is damaged: {'; '.join(problems[:5])}")
        verdict = checkpoints.verify(app, copy)
        if not verdict.ok:
            raise Unverified(f"the consent log in the copy does not verify: {verdict.reason}")
        return Backup(
            path=path,
            size=path.stat().st_size,
            decisions=verdict.count,
            outbox_items=copy.execute("select count(*) from outbox").fetchone()[0],
            checkpoints=copy.execute("select count(*) from checkpoints").fetchone()[0],
        )
    except sqlite3.DatabaseError as e:
        raise BackupError(f"the copy cannot be read as a consentmgr database: {e}") from None
    finally:
        conn.close()
