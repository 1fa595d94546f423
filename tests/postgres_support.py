"""A throwaway PostgreSQL cluster for the tests: its own data directory and port.

Debian's ``postgresql`` package provides the server (``./dev test`` installs
it). The server refuses to run as root, and CI runs as root, so the cluster
then belongs to ``nobody``. Durability settings are off: the tests check what
the app does, not what the disk does, and a cluster is thrown away at the end.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ADMIN = "consentmgr"


def bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _version(path: str) -> float:
    try:
        return float(Path(path).parent.parent.name)
    except ValueError:
        return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, *, durable: bool = False) -> None:
        """``durable``: PostgreSQL's own defaults (fsync, synchronous commit), for benchmarks."""
        self.durable = durable
        bin_ = bindir()
        if bin_ is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.bin = bin_
        self.root = Path(tempfile.mkdtemp(prefix="consentmgr-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.user = None
        if os.geteuid() == 0:
            import pwd

            self.user = pwd.getpwnam("nobody")
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        self.root.chmod(0o700)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        kwargs = {}
        if self.user is not None:
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        return subprocess.run(  # noqa: S603
            list(args),
            check=check,
            capture_output=True,
            text=True,
            cwd=self.root,
            env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8"},
            **kwargs,
        )

    def start(self) -> Cluster:
        self._run(
            str(self.bin / "initdb"),
            "-D", str(self.data),
            "-U", ADMIN,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )  # fmt: skip
        self.start_again()
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False
        )  # fmt: skip

    def start_again(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root}"
            " -c max_connections=300 -c shared_buffers=64MB"
        )
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
            "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{ADMIN}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, name: str, template: str | None = None) -> str:
        extra = f" template {template}" if template else ""
        self.admin(f"create database {name}{extra}")
        return self.url(name)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def wait_down(cluster: Cluster, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while (cluster.data / "postmaster.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


#: The cluster of this test session when the suite runs on PostgreSQL.
CURRENT: Cluster | None = None
_made: dict[str, str] = {}


def database_for(key: str) -> str:
    """A database of its own for one test folder, copied from the migrated template."""
    assert CURRENT is not None
    if key not in _made:
        name = f"t{len(_made) + 1}_{os.getpid()}"
        _made[key] = CURRENT.create_database(name, template=TEMPLATE)
    return _made[key]


TEMPLATE = "consentmgr_template"


class Table:
    """The few sqlite-utils table calls the tests make, for a PostgreSQL database."""

    def __init__(self, db, name: str) -> None:
        self.db, self.name = db, name

    @property
    def rows(self):
        return self.db.query(f"select * from {self.name} order by 1")  # noqa: S608

    def rows_where(self, where=None, params=(), order_by=None):
        sql = f"select * from {self.name}"  # noqa: S608
        if where:
            sql += f" where {where}"
        order_by = "1" if order_by in (None, "rowid") else order_by
        return self.db.query(f"{sql} order by {order_by}", params)

    def get(self, pk):
        key = self.db.execute(
            "select a.attname from pg_index i join pg_attribute a"
            " on a.attrelid = i.indrelid and a.attnum = any(i.indkey)"
            " where i.indrelid = ?::regclass and i.indisprimary",
            [self.name],
        ).fetchone()[0]
        return next(self.db.query(f"select * from {self.name} where {key} = ?", [pk]))  # noqa: S608

    def insert_all(self, rows):
        for row in rows:
            self.db.execute(
                f"insert into {self.name} ({', '.join(row)})"  # noqa: S608
                f" values ({', '.join('?' * len(row))})",
                list(row.values()),
            )

    @property
    def count(self) -> int:
        return self.db.execute(f"select count(*) from {self.name}").fetchone()[0]  # noqa: S608


def test_storage(url: str):
    """A PostgreSQL storage that also answers ``db[table]`` and ``table_names()``, as tests use."""
    from consentmgr.storage import postgres

    class TestStorage(postgres.PostgresStorage):
        file = url

        def __getitem__(self, name: str) -> Table:
            return Table(self, name)

        def table_names(self) -> list[str]:
            return [
                r[0]
                for r in self.execute(
                    "select table_name from information_schema.tables"
                    " where table_schema = current_schema() order by 1"
                )
            ]

    return TestStorage(url, postgres.pool_for(url))
