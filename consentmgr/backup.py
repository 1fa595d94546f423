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
not found out on the day it is needed.

The file is created ``0600`` and never overwrites anything: it holds consent
ids, network prefixes and sealed gateway payloads. Keep ``SECRET_KEY`` (and
``OLD_SECRET_KEYS``) with it, elsewhere: checkpoints, receipts and the sealed
payloads can only be checked or opened with those keys.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils
from flask import Flask

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
    """Write a consistent copy of ``db`` to the new file ``dest`` and check it."""
    dest = Path(dest)
    try:
        # O_EXCL: never overwrite, and the copy is private from its first byte.
        # VACUUM INTO accepts an existing file only if it is empty, as this one is.
        os.close(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    except FileExistsError:
        raise BackupError(
            f"{dest} already exists; backups never overwrite, choose a new name"
        ) from None
    except OSError as e:
        raise BackupError(f"cannot create {dest}: {e.strerror}") from None
    try:
        db.execute("VACUUM INTO ?", [str(dest)])
        return check(app, dest)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise


def check(app: Flask, path: Path) -> Backup:
    """Open a copy on its own, read-only, and check the file and the consent log in it."""
    # immutable: nobody writes the copy, so SQLite needs no locks and no side files.
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True)
    copy = sqlite_utils.Database(conn)
    try:
        problems = [r[0] for r in copy.execute("PRAGMA quick_check").fetchall()]
        if problems != ["ok"]:
            raise BackupError(f"{path} is damaged: {'; '.join(problems[:5])}")
        verdict = checkpoints.verify(app, copy)
        if not verdict.ok:
            raise BackupError(f"the consent log in {path} does not verify: {verdict.reason}")
        return Backup(
            path=path,
            size=path.stat().st_size,
            decisions=verdict.count,
            outbox_items=copy["outbox"].count,
            checkpoints=copy["checkpoints"].count,
        )
    except sqlite3.DatabaseError as e:
        raise BackupError(f"{path} cannot be read as a consentmgr database: {e}") from None
    finally:
        conn.close()
