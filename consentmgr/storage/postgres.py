"""The PostgreSQL backend: several app servers on one database.

Connections come from a pool per process (psycopg 3 and psycopg-pool) and run
in autocommit mode, so that, as on SQLite, every transaction is explicit.
What differs from SQLite:

- Locking. :meth:`PostgresStorage.transaction` with a ``lock`` name takes
  ``pg_advisory_xact_lock`` on it, held until the commit: the consent log's
  appends form one queue across every server, so the chain cannot fork.
  Transactions without a name run side by side (row locks and unique keys
  keep them apart), instead of one writer at a time.
- Durability. A commit is on disk (and on any synchronous standby) before it
  returns, by PostgreSQL's own group commit. A transaction under a named lock
  (an append to the consent log) holds its lock while its commit is flushed,
  so appends queue behind each other's flushes: a commit that skipped the
  flush to release the lock sooner could not be waited for afterwards (a
  later commit that writes no WAL does not flush either). A transaction with
  ``flush=False`` (hits) sets ``synchronous_commit = off``: it returns before
  its WAL is flushed, which PostgreSQL does within ``wal_writer_delay``
  (200 ms by default); a crash of the database server can take back that
  window of hits, never a decision.
- The outbox claim: ``SELECT ... FOR UPDATE SKIP LOCKED``, so deliverers on
  every server take disjoint rows without waiting for each other.
- Backup: ``pg_dump --format=custom``.

SQL is written once with ``?`` placeholders; they become ``%s`` here.
While the database cannot be reached, every call raises
:class:`~consentmgr.storage.base.Unavailable` within the pool's timeout.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import psycopg
import psycopg_pool
from psycopg.rows import dict_row
from psycopg.types.numeric import NumericLoader

from .base import Unavailable

TYPES = {str: "text", int: "bigint", float: "double precision", bytes: "bytea"}


class _Numbers(NumericLoader):
    """``sum()`` and ``round()`` answer numeric; give back int or float, as SQLite does."""

    def load(self, data):  # type: ignore[override]
        value = super().load(data)
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        return value


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """``?`` placeholders become ``%s``, a literal ``%`` becomes ``%%`` (outside quotes too)."""
    out = []
    quote = ""
    for ch in sql:
        if quote:
            if ch == quote:
                quote = ""
            out.append("%%" if ch == "%" else ch)
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


def _configure(conn: psycopg.Connection) -> None:
    conn.adapters.register_loader("numeric", _Numbers)


_pools: dict[tuple[int, str], psycopg_pool.ConnectionPool] = {}
_pools_lock = threading.Lock()


def pool_for(url: str, size: int = 10, timeout: float = 5.0) -> psycopg_pool.ConnectionPool:
    """This process's pool for ``url`` (a forked worker makes its own)."""
    key = (os.getpid(), url)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = psycopg_pool.ConnectionPool(
                url,
                min_size=0,
                max_size=size,
                timeout=timeout,
                # Give up a failing connection attempt soon (the next request starts a new
                # one) instead of backing off for minutes: the service is back within
                # seconds of the database.
                reconnect_timeout=max(2.0, timeout),
                kwargs={"autocommit": True, "connect_timeout": max(1, round(timeout))},
                configure=_configure,
                check=psycopg_pool.ConnectionPool.check_connection,
                open=True,
                name="consentmgr",
            )
            _pools[key] = pool
    return pool


def close_pools() -> None:
    with _pools_lock:
        for pool in _pools.values():
            with contextlib.suppress(Exception):
                pool.close(timeout=1)
        _pools.clear()


class PostgresStorage:
    """A connection borrowed from the pool, given back by :meth:`release` or :meth:`close`."""

    kind = "postgresql"

    def __init__(self, url: str, pool: psycopg_pool.ConnectionPool) -> None:
        self.url = url
        self.pool = pool
        self._conn: psycopg.Connection | None = None

    @property
    def conn(self) -> psycopg.Connection:
        if self._conn is None:
            if self.pool.closed:  # closed by close_pools(): this process makes a new one
                self.pool = pool_for(self.url, self.pool.max_size, self.pool.timeout)
            try:
                self._conn = self.pool.getconn()
            except psycopg_pool.PoolTimeout as e:
                raise Unavailable("the database cannot be reached") from e
        return self._conn

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except psycopg.OperationalError as e:
            if self._conn is not None and self._conn.broken:
                self.release()
                raise Unavailable(f"the database cannot be reached: {e}") from e
            if isinstance(e, psycopg.errors.ConnectionTimeout):
                raise Unavailable(str(e)) from e
            raise

    def execute(self, sql: str, params: Sequence | None = None) -> psycopg.Cursor:
        with self._errors():
            # Parameters always go along, even none: a literal % is written %% either way.
            return self.conn.execute(translate(sql), list(params or ()))

    def executemany(self, sql: str, rows: Iterable[Sequence]) -> None:
        with self._errors(), self.conn.cursor() as cur:
            cur.executemany(translate(sql), [list(r) for r in rows])

    def query(self, sql: str, params: Sequence | None = None) -> Iterator[dict]:
        with self._errors():
            cur = self.conn.cursor(row_factory=dict_row)
            cur.execute(translate(sql), list(params or ()))
            rows = cur.fetchall()
        return iter(rows)

    def stream(self, sql: str, params: Sequence | None = None) -> Iterator[tuple]:
        # A plain cursor receives the whole result before the first row; stream()
        # has the server send rows one by one (libpq's single-row mode).
        with self._errors(), self.conn.cursor() as cur:
            yield from cur.stream(translate(sql), list(params or ()))

    @contextlib.contextmanager
    def transaction(
        self, lock: str | None = None, *, flush: bool = True
    ) -> Iterator[PostgresStorage]:
        with self._errors(), self.conn.transaction():
            if lock:
                self.conn.execute("select pg_advisory_xact_lock(hashtext(%s))", [lock])
            if not flush:
                self.conn.execute("set local synchronous_commit = off")
            yield self

    def claim(self, target: str, limit: int, owner: str, now: float, lease: float) -> list[tuple]:
        # SKIP LOCKED: deliverers on other servers take the next rows instead of waiting.
        with self.transaction():
            rows = self.execute(
                "update outbox set lease_until = ?, lease_owner = ? where id in ("
                " select id from outbox where status = 'pending' and target = ?"
                " and next_attempt <= ? and (lease_until is null or lease_until < ?)"
                " order by id limit ? for update skip locked)"
                " returning id, target, consent_id, payload, created, attempts",
                [now + lease, owner, target, now, now, limit],
            ).fetchall()
        return sorted(rows)

    def follow_ids(self, table: str, column: str) -> None:
        self.execute(
            f"select setval(pg_get_serial_sequence('{table}', '{column}'),"  # noqa: S608
            f" coalesce((select max({column}) from {table}), 0) + 1, false)"
        )

    def backup(self, dest: str, check: Callable[[PostgresStorage], Any] | None = None) -> Any:
        """``pg_dump --format=custom`` into ``dest``; ``pg_restore`` reads it back.

        The dump is taken from a snapshot this connection exports, and ``check``
        (if given) runs in that same snapshot first: what it verified is
        exactly what the file holds. Returns what ``check`` returned.
        """
        pg_dump = shutil.which("pg_dump") or "pg_dump"
        with self._errors(), self.conn.transaction():
            self.conn.execute("set transaction isolation level repeatable read, read only")
            snapshot = self.conn.execute("select pg_export_snapshot()").fetchone()[0]
            result = check(self) if check else None
            done = subprocess.run(  # noqa: S603 (our own URL and path, no shell)
                [pg_dump, "--format=custom", "--no-owner", f"--snapshot={snapshot}",
                 f"--file={dest}", self.url],
                capture_output=True,
                text=True,
            )  # fmt: skip
            if done.returncode:
                raise OSError(f"pg_dump failed: {done.stderr.strip()[:500]}")
        return result

    # Schema, for the migrations.
    def has_table(self, name: str) -> bool:
        return (
            self.execute(
                "select 1 from information_schema.tables"
                " where table_schema = current_schema() and table_name = ?",
                [name],
            ).fetchone()
            is not None
        )

    def add_table(
        self,
        name: str,
        columns: dict[str, type],
        pk: str | tuple[str, ...],
        not_null: Iterable[str] = (),
        defaults: dict | None = None,
    ) -> None:
        defaults = defaults or {}
        not_null = set(not_null)
        parts = []
        for column, kind in columns.items():
            sql = f"{column} {TYPES[kind]}"
            if column == pk and kind is int:
                sql += " generated by default as identity"
            if column in not_null:
                sql += " not null"
            if column in defaults:
                value = defaults[column]
                sql += f" default {value!r}" if isinstance(value, str) else f" default {value}"
            parts.append(sql)
        keys = (pk,) if isinstance(pk, str) else pk
        parts.append(f"primary key ({', '.join(keys)})")
        self.execute(f"create table {name} ({', '.join(parts)})")

    def add_index(self, table: str, columns: Sequence[str], unique: bool = False) -> None:
        name = f"idx_{table}_{'_'.join(columns)}"
        kind = "unique index" if unique else "index"
        self.execute(f"create {kind} {name} on {table} ({', '.join(columns)})")

    def rollback_if_open(self) -> None:
        conn = self._conn
        if conn is not None and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            with contextlib.suppress(psycopg.Error):
                conn.rollback()

    def release(self) -> None:
        """Give the connection back to the pool (the end of a request)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self.rollback_if_open_on(conn)
            with contextlib.suppress(Exception):
                self.pool.putconn(conn)

    @staticmethod
    def rollback_if_open_on(conn: psycopg.Connection) -> None:
        if not conn.broken and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            with contextlib.suppress(psycopg.Error):
                conn.rollback()

    def close(self) -> None:
        self.release()


def connect(url: str, size: int = 10, timeout: float = 5.0) -> PostgresStorage:
    return PostgresStorage(url, pool_for(url, size, timeout))


class LimitStore:
    """Rate-limit buckets every server shares: one row per key in an unlogged table.

    The same GCRA arithmetic as the shared-file store, in one statement: the
    upsert spends the tokens only when the bucket holds them, and the row lock
    it takes makes concurrent requests of one network on any server take
    turns. The table is ``UNLOGGED``: no WAL and no flush per request, and a
    crash of the database only refills every bucket. Rows of full buckets are
    removed now and then.
    """

    SPEND = """
        insert into rate_limits as r (key, full_at) values (%(key)s, %(now)s + %(cost)s)
        on conflict (key) do update
          set full_at = greatest(least(r.full_at, %(now)s + %(cap)s), %(now)s) + %(cost)s
          where greatest(least(r.full_at, %(now)s + %(cap)s), %(now)s) + %(cost)s
                - %(now)s - %(cap)s <= 1e-9
        returning full_at
    """
    WAIT = """
        select greatest(least(full_at, %(now)s + %(cap)s), %(now)s) + %(cost)s - %(now)s - %(cap)s
        from rate_limits where key = %(key)s
    """
    SWEEP_EVERY = 1000

    def __init__(self, url: str, size: int = 10, timeout: float = 5.0) -> None:
        self.url, self.size, self.timeout = url, size, timeout
        self.calls = 0
        with self._connection() as conn, conn.transaction():
            # Processes starting together would race to create the same table.
            conn.execute("select pg_advisory_xact_lock(hashtext('rate_limits'))")
            conn.execute(
                "create unlogged table if not exists rate_limits"
                " (key text primary key, full_at double precision not null)"
            )

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        try:
            with pool_for(self.url, self.size, self.timeout).connection() as conn:
                yield conn
        except (psycopg_pool.PoolTimeout, psycopg.OperationalError) as e:
            raise Unavailable(f"the database cannot be reached: {e}") from e

    def take(self, key: bytes, cost: int, interval: float, capacity: float, now: float) -> float:
        params = {"key": key.decode(), "now": now, "cost": cost * interval, "cap": capacity}
        self.calls += 1
        with self._connection() as conn:
            if conn.execute(self.SPEND, params).fetchone() is not None:
                if self.calls % self.SWEEP_EVERY == 0:
                    conn.execute("delete from rate_limits where full_at < %s", [now])
                return 0.0
            row = conn.execute(self.WAIT, params).fetchone()
            return max(float(row[0]), 1e-6) if row else 0.0
