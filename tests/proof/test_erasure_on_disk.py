"""Erasure and retention leave no copy of what they blanked in the database's files.

Blanking a row writes a new version of its pages; the old versions are what a
disk image, or anyone who reads the files, would find. On SQLite they can sit
in the ``-wal`` file (frames a later write never overwrote) and in the free
space of the database file's pages, so these tests make the WAL long (a reader
holds an old snapshot meanwhile, as a nightly backup does), erase, and read
the files' raw bytes.
"""

import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import ACCEPT_ALL, SITE, decide, erase_token, make_config, post_decision

from consentmgr import create_app
from consentmgr.db import connect

pytestmark = pytest.mark.sqlite_only

VISITOR_ADDR = "203.0.113.77"  # the only decisions from 203.0.113.0/24
VISITOR_PREFIX = b"203.0.113.0/24"
VISITOR_PAGE = "https://ansettr.no/stillinger/erase-me-7f3a"


def kept_in_aggregates(path: Path, secret: bytes) -> int:
    """Copies the daily aggregates keep on purpose: ``daily_pages`` counts pages, not visitors.

    Each of its rows is in the file twice: in the table and in its primary key's index.
    """
    reader = sqlite3.connect(path)
    try:
        rows = reader.execute(
            "select count(*) from daily_pages where page = ?", [secret.decode()]
        ).fetchone()[0]
    finally:
        reader.close()
    return 2 * rows


def leftovers(path: Path, secrets: list[bytes]) -> dict[str, int]:
    """How often each secret occurs in the database file and its WAL, by file.

    Counted in the database file are only copies beyond those the aggregates keep.
    """
    found = {}
    for suffix in ("", "-wal"):
        file = Path(f"{path}{suffix}")
        data = file.read_bytes() if file.exists() else b""
        for secret in secrets:
            kept = 0 if suffix else kept_in_aggregates(path, secret)
            if n := data.count(secret) - kept:
                found[f"{file.name}: {secret.decode()}"] = n
    return found


def until_gone(path: Path, secrets: list[bytes]) -> dict[str, int]:
    """Leftovers once they are gone, or after a bounded while (nothing here is timed)."""
    for _ in range(200):
        found = leftovers(path, secrets)
        if not found:
            break
        time.sleep(0.05)
    return found


def snapshot_reader(path: Path) -> sqlite3.Connection:
    """A plain connection holding a read transaction open, as a long backup would."""
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("begin")
    reader.execute("select count(*) from decisions").fetchone()
    return reader


def decide_as_others(app, n: int) -> None:
    for i in range(n):
        r = post_decision(app.test_client(), {**ACCEPT_ALL, "page": f"{SITE}/annonse/{i}"})
        assert r.status_code == 201, r.get_data(as_text=True)


@pytest.fixture
def on_disk(tmp_path):
    app = create_app(make_config(tmp_path))
    app.extensions["consentmgr.checkpointer"].interval = 0.02
    return app, Path(app.config["DATABASE"])


def test_connections_delete_securely(on_disk):
    """Freed space is zeroed whatever SQLite's build default (Debian's is ON; upstream's OFF)."""
    _, path = on_disk
    db = connect(path)
    try:
        assert db.execute("PRAGMA secure_delete").fetchone()[0] == 1
        assert db.execute("PRAGMA journal_size_limit").fetchone()[0] >= 0
    finally:
        db.close()


@pytest.mark.parametrize("reader_during_erase", [False, True], ids=["idle", "backup-running"])
def test_erased_visitor_is_in_neither_file(on_disk, reader_during_erase):
    app, path = on_disk
    decide_as_others(app, 1)
    reader = snapshot_reader(path)
    decide_as_others(app, 40)  # the WAL cannot restart meanwhile: it grows
    visitor = app.test_client()
    r = post_decision(visitor, {**ACCEPT_ALL, "page": VISITOR_PAGE}, remote_addr=VISITOR_ADDR)
    consent_id = r.get_json()["id"]
    secrets = [consent_id.encode(), VISITOR_PAGE.encode(), VISITOR_PREFIX]
    if not reader_during_erase:
        reader.close()
    assert leftovers(path, secrets)  # the values are on disk before the erasure

    r = visitor.post(
        "/mine-data/slett", data={"token": erase_token(visitor)}, headers={"Origin": SITE}
    )
    assert r.status_code == 200
    if reader_during_erase:
        # The old snapshot pins the WAL: the erasure answers without waiting for it, and
        # the checkpointer thread empties the WAL once the reader is done.
        assert leftovers(path, secrets)
        reader.close()

    assert until_gone(path, secrets) == {}
    if reader_during_erase:
        assert app.extensions["consentmgr.checkpointer"].truncations >= 1
    db = connect(path)
    try:
        assert (
            db.execute("select count(*) from decisions where erased_at is not null").fetchone()[0]
            == 1
        )
    finally:
        db.close()


def test_purged_decisions_are_in_neither_file(on_disk):
    """``consentmgr purge`` (cron, or the deliverer's hourly pass) leaves no copy behind."""
    app, path = on_disk
    old = datetime.now(UTC) - timedelta(days=app.config["RETENTION_DAYS"] + 1)
    db = connect(path)
    try:
        decide(app, db, "expired-id-5d1c", when=old, page=VISITOR_PAGE, ip_prefix="203.0.113.0/24")
        reader = snapshot_reader(path)
        decide_as_others(app, 40)
        for n in range(3):
            decide(app, db, f"expired-id-{n}", when=old, page=VISITOR_PAGE)
        reader.close()
    finally:
        db.close()
    secrets = [b"expired-id-", VISITOR_PAGE.encode(), VISITOR_PREFIX]
    assert leftovers(path, secrets)

    result = app.test_cli_runner().invoke(args=["purge"])
    assert result.exit_code == 0, result.output

    # The command has returned: what it left is what stays.
    assert leftovers(path, secrets) == {}
