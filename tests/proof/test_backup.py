"""``consentmgr backup``: a consistent, verified copy taken while decisions keep arriving."""

import stat
import threading

import pytest
from helpers import ACCEPT_ALL, make_config, post_decision

from consentmgr import create_app
from consentmgr.db import connect

# A PostgreSQL backup is pg_dump's; these are about the SQLite copy.
pytestmark = pytest.mark.sqlite_only


def test_backup_while_decisions_arrive_verifies_and_restores(app, runner, tmp_path):
    client = app.test_client()
    for _ in range(30):
        post_decision(client, ACCEPT_ALL)
    assert runner.invoke(args=["checkpoint"]).exit_code == 0

    stop = threading.Event()
    written = []

    def keep_deciding():
        visitor = app.test_client()
        while not stop.is_set():
            # From many networks: one network's decisions are limited (RATE_LIMIT_DECISIONS).
            address = f"10.2.{len(written) % 250}.1"
            written.append(post_decision(visitor, ACCEPT_ALL, remote_addr=address).status_code)

    writer = threading.Thread(target=keep_deciding)
    writer.start()
    try:
        for _ in range(2000):  # the backup starts while decisions are being written
            if len(written) >= 5 or not writer.is_alive():
                break
            stop.wait(0.01)
        assert len(written) >= 5, "the writer thread did not get going"
        result = runner.invoke(args=["backup", str(tmp_path / "copy.sqlite")])
    finally:
        stop.set()
        writer.join()
    assert result.exit_code == 0, result.output
    assert "decisions, chain verified; 1 signed checkpoint verified" in result.output
    assert set(written) == {201}

    copy = tmp_path / "copy.sqlite"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert not list(tmp_path.glob("copy.sqlite?*")), "no side files next to the copy"
    db = connect(copy)
    copied = db["decisions"].count
    db.close()
    assert 30 < copied <= 30 + len(written)
    assert f": {copied} decisions" in result.output

    # Restored as the database of a new instance, the log still verifies with the same key.
    restored = tmp_path / "restored"
    restored.mkdir()
    (restored / "consent.sqlite").write_bytes(copy.read_bytes())
    other = create_app(make_config(restored))
    check = other.test_cli_runner().invoke(args=["verify-log"])
    assert check.exit_code == 0, check.output
    assert f"ok: {copied} decisions verified" in check.output


def test_backup_never_overwrites(runner, tmp_path):
    existing = tmp_path / "keep.sqlite"
    existing.write_text("yesterday's backup")
    result = runner.invoke(args=["backup", str(existing)])
    assert result.exit_code == 1
    assert "already exists; backups never overwrite" in result.output
    assert existing.read_text() == "yesterday's backup"


def test_backup_into_a_missing_folder_says_so(runner, tmp_path):
    result = runner.invoke(args=["backup", str(tmp_path / "no" / "such" / "copy.sqlite")])
    assert result.exit_code == 1
    assert "cannot create" in result.output and "No such file or directory" in result.output


def test_a_copy_whose_log_does_not_verify_is_kept_apart_and_fails(app, database, runner, tmp_path):
    client = app.test_client()
    for _ in range(3):
        post_decision(client, ACCEPT_ALL)
    # An edit made behind the service's back: the chain no longer matches.
    database.execute("update decisions set method = 'reject_all' where seq = 2")
    result = runner.invoke(args=["backup", str(tmp_path / "copy.sqlite")])
    assert result.exit_code == 1
    assert "does not verify" in result.output and "kept as" in result.output
    assert sorted(p.name for p in tmp_path.iterdir() if "copy" in p.name) == [
        "copy.sqlite.unverified"
    ], "never under the name of a good backup, and no temporary file left behind"
    kept = connect(tmp_path / "copy.sqlite.unverified")
    assert kept.execute("select method from decisions where seq = 2").fetchone() == ("reject_all",)
    kept.close()


def test_check_finds_a_damaged_copy(app, runner, tmp_path):
    from consentmgr.proof import backup

    client = app.test_client()
    for _ in range(200):
        post_decision(client, ACCEPT_ALL)
    copy = tmp_path / "copy.sqlite"
    assert runner.invoke(args=["backup", str(copy)]).exit_code == 0
    data = bytearray(copy.read_bytes())
    page = 4096
    data[3 * page : 4 * page] = bytes(range(256)) * 16  # one page overwritten with noise
    copy.write_bytes(bytes(data))
    with pytest.raises(backup.BackupError, match="damaged|cannot be read"):
        backup.check(app, copy)
