"""The database layer: durable transactions, and what every response carries."""

import fcntl
import struct
import subprocess
import sys
import time

import pytest

from consentmgr.db import connect, immediate


@pytest.fixture
def path(tmp_path):
    return tmp_path / "db.sqlite"


@pytest.fixture
def db(path):
    """A connection with SQLITE_SYNCHRONOUS = "FULL" and a table ``t``."""
    db = connect(path, synchronous="FULL")
    with immediate(db):
        db.execute("create table t (n integer)")
    yield db
    db.close()


@pytest.mark.sqlite_only
def test_durable_follows_the_setting(tmp_path):
    full = connect(tmp_path / "full.sqlite", synchronous="FULL")
    normal = connect(tmp_path / "normal.sqlite", synchronous="NORMAL")
    try:
        assert full.durable is True
        assert normal.durable is False
        # SQLite itself runs at NORMAL; durability comes from the flush after the lock.
        assert full.execute("PRAGMA synchronous").fetchone()[0] == 1
    finally:
        full.close()
        normal.close()


@pytest.mark.sqlite_only
def test_immediate_commits_and_flushes_the_wal(db, path):
    with immediate(db):
        db.execute("insert into t values (1)")
    assert db._wal >= 0  # the WAL file was opened to be flushed
    other = connect(path)
    assert other.execute("select n from t").fetchall() == [(1,)]
    other.close()


@pytest.mark.sqlite_only
def test_flush_survives_leaving_wal_mode(db, path):
    db.execute("PRAGMA journal_mode = DELETE")
    assert not path.with_name("db.sqlite-wal").exists()
    with immediate(db):
        db.execute("insert into t values (2)")
    assert db.execute("select n from t").fetchall() == [(2,)]


@pytest.mark.sqlite_only
def test_failed_transaction_rolls_back_and_releases_the_lock(db, path):
    with pytest.raises(RuntimeError), immediate(db):
        db.execute("insert into t values (1)")
        raise RuntimeError("boom")
    other = connect(path)
    fcntl.flock(other.writer_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if still held
    fcntl.flock(other.writer_lock, fcntl.LOCK_UN)
    with immediate(other):
        other.execute("insert into t values (3)")
    other.close()
    assert db.execute("select n from t").fetchall() == [(3,)]


def test_visitors_get_no_session_cookie(client):
    for path in ("/api/consent", "/matomo.php?idsite=1&rec=1", "/demo"):
        r = client.get(path)
        cookies = r.headers.getlist("Set-Cookie")
        assert not any(c.startswith("session=") for c in cookies), (path, cookies)


def test_a_header_set_by_a_view_is_kept(app):
    @app.get("/framed")
    def framed():
        return "ok", 200, {"X-Frame-Options": "SAMEORIGIN"}

    r = app.test_client().get("/framed")
    assert r.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]


# Eight workers forked at once open a new file and write, twenty times over. They
# are forked by a process of one thread, as gunicorn's master forks its workers: a
# child forked from the test process could inherit a lock that another of its
# threads (a deliverer, a checkpointer) held at that moment, and never start.
WORKERS_STARTING_TOGETHER = """
import multiprocessing, sys
from consentmgr.db import connect, immediate

def open_and_write(path, barrier, results):
    barrier.wait()
    try:
        db = connect(path)
        with immediate(db):
            db.execute("create table if not exists t (n integer)")
            db.execute("insert into t values (1)")
        db.close()
        results.put("ok")
    except Exception as e:  # reported to the test, which names it
        results.put(repr(e))

if __name__ == "__main__":
    ctx = multiprocessing.get_context("fork")
    for n in range(20):
        path = f"{sys.argv[1]}/new{n}.sqlite"
        barrier, results = ctx.Barrier(8), ctx.Queue()
        procs = [ctx.Process(target=open_and_write, args=(path, barrier, results), daemon=True)
                 for _ in range(8)]
        for p in procs:
            p.start()
        print(" ".join(results.get(timeout=60) for _ in procs), flush=True)
        for p in procs:
            p.join(timeout=60)
"""


@pytest.mark.sqlite_only
def test_workers_starting_together_on_a_new_database(tmp_path):
    """Several processes opening a new file at once all get in: none sees "database is locked"."""
    out = subprocess.run(
        [sys.executable, "-c", WORKERS_STARTING_TOGETHER, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [" ".join(["ok"] * 8)] * 20, out.stdout


SQLITE_SHARED_LOCK = struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0x40000000 + 2, 510, 0)


def shared_lock_seen_from_another_process(path) -> bool:
    """Whether another process sees SQLite's SHARED lock on the database file."""
    code = (
        "import fcntl, os, struct, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDWR)\n"
        "held = fcntl.fcntl(fd, fcntl.F_GETLK, bytes.fromhex(sys.argv[2]))\n"
        "print(struct.unpack('hhqqi', held)[0] != fcntl.F_UNLCK)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), SQLITE_SHARED_LOCK.hex()],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.strip() == "True"


@pytest.mark.parametrize("synchronous", ["FULL", "NORMAL"])
def test_a_new_connection_never_drops_another_connections_locks(tmp_path, synchronous):
    """Closing any descriptor of the database file drops every POSIX lock the process holds
    on it (SQLite's "How To Corrupt", 2.2): another process could then checkpoint and
    delete the WAL under a reader, or write beside a writer, and corrupt the file."""
    path = tmp_path / "locks.sqlite"
    reader = connect(path, synchronous=synchronous)
    reader.execute("create table t (x)")
    with immediate(reader):
        reader.execute("insert into t values (1)")
    reader.execute("begin")
    reader.execute("select * from t").fetchall()
    assert shared_lock_seen_from_another_process(path)

    other = connect(path, synchronous=synchronous)
    with immediate(other):
        other.execute("insert into t values (2)")
    assert shared_lock_seen_from_another_process(path), "the reader's lock is still held"
    reader.execute("commit")
    other.close()
    reader.close()


@pytest.mark.parametrize(
    ("target", "settings", "flusher"),
    [
        ("db.sqlite", {}, True),
        ("db.sqlite", {"HIT_FLUSH_MS": 0}, False),
        ("db.sqlite", {"SQLITE_SYNCHRONOUS": "NORMAL"}, False),
        ("postgresql://u@127.0.0.1:9/db", {}, False),
    ],
)
def test_a_hit_flusher_only_where_commits_need_one(target, settings, flusher):
    """Only a durable file groups hit flushes; PostgreSQL's WAL writer flushes its own."""
    from consentmgr import storage
    from consentmgr.config import KEYS

    config = {name: key.default for name, key in KEYS.items()} | settings
    found = storage.hit_flusher(target, config)
    assert (found is not None) is flusher


@pytest.mark.sqlite_only
def test_requests_leave_wal_checkpoints_to_a_thread(app):
    """No visitor's commit copies the WAL into the file: the process's thread does it."""
    from consentmgr.db import get_db

    checkpointer = app.extensions["consentmgr.checkpointer"]
    checkpointer.interval = 0.05
    with app.app_context():
        db = get_db()
        assert db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        with immediate(db):
            db.execute("create table filler (blob text)")
        for _ in range(3):  # well past the 1000 pages of 4 KiB that call for a checkpoint
            with immediate(db):
                db.executemany("insert into filler values (?)", [["x" * 4000]] * 500)
    for _ in range(200):  # bounded; nothing is timed
        if checkpointer.checkpoints:
            break
        time.sleep(0.05)
    assert checkpointer.checkpoints >= 1
    with app.app_context():
        busy, frames, done = get_db().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert busy == 0 and frames == done


def test_no_checkpointer_on_postgresql():
    from consentmgr import storage

    assert storage.wal_checkpointer("postgresql://u@127.0.0.1:9/db") is None
    assert storage.wal_checkpointer("/srv/consentmgr.sqlite") is not None


@pytest.mark.sqlite_only
def test_truncating_the_wal_gives_up_while_a_reader_holds_an_old_snapshot(db, path):
    """An erasure's ``TRUNCATE`` checkpoint never makes writers wait out a long reader."""
    with immediate(db):
        db.executemany("insert into t values (?)", [[n] for n in range(100)])
    reader = connect(path)
    reader.execute("begin")
    reader.execute("select count(*) from t").fetchone()
    with immediate(db):
        db.execute("insert into t values (-1)")

    assert db.truncate_wal() is False  # after TRUNCATE_BUSY_MS, not the 10 s busy timeout
    assert db.destroy_old_copies() is False  # no checkpointer thread: it is logged
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000
    with immediate(db):  # writers are not held up
        db.execute("insert into t values (-2)")

    reader.execute("commit")
    reader.close()
    assert db.destroy_old_copies() is True
    assert path.with_name("db.sqlite-wal").stat().st_size == 0
