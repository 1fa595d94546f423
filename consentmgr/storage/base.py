"""The storage interface every backend implements.

Everything above the storage layer talks to the database through these
methods only, with SQL written once in the subset every backend accepts:
``?`` placeholders, ``ON CONFLICT (cols) DO UPDATE``/``DO NOTHING``,
``RETURNING`` instead of change counters, lists passed as one placeholder per
element. What differs per backend lives in the backend's own module: locking
and durability (:meth:`Storage.transaction`), the outbox claim
(:meth:`Storage.claim`) and :meth:`Storage.backup`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class Unavailable(Exception):
    """The database cannot be reached now; the request may be tried again later."""


class Cursor(Protocol):
    """What :meth:`Storage.execute` returns: rows as tuples."""

    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list: ...

    def fetchmany(self, size: int) -> list: ...

    def __iter__(self) -> Iterator: ...


class Storage(Protocol):
    """One connection to the database, used by one thread at a time."""

    #: "sqlite" or "postgresql": for the few places that must say which (health, backup).
    kind: str

    def execute(self, sql: str, params: Sequence | None = None) -> Cursor:
        """Run one statement; rows come back as tuples."""

    def executemany(self, sql: str, rows: Iterable[Sequence]) -> None:
        """Run one statement once per parameter row."""

    def query(self, sql: str, params: Sequence | None = None) -> Iterator[dict]:
        """Run one statement; rows come back as dicts."""

    def stream(self, sql: str, params: Sequence | None = None) -> Iterator[tuple]:
        """Run one statement; rows come as tuples while the database reads them.

        For results too large to hold (the export): memory stays flat.
        """

    def transaction(
        self, lock: str | None = None, *, flush: bool = True
    ) -> contextlib.AbstractContextManager[Storage]:
        """A write transaction, committed when the block ends, rolled back on error.

        ``lock`` names a lock held until the commit, serialising the blocks that
        name it across every process and server (the consent log's chain).
        With ``flush`` false the commit may return before it is durable; the
        caller then asks for it with ``flush_soon`` (hits).
        """

    def claim(self, target: str, limit: int, owner: str, now: float, lease: float) -> list[tuple]:
        """Lease up to ``limit`` due pending outbox rows of ``target`` to ``owner``.

        Returns (id, target, consent_id, payload, created, attempts) rows; a
        row leased to one deliverer is skipped by every other until the lease ends.
        """

    def follow_ids(self, table: str, column: str) -> None:
        """After rows were inserted with their ids: new rows get ids after the largest."""

    def backup(self, dest: str) -> None:
        """Write a consistent copy of the whole database to ``dest``."""

    def rollback_if_open(self) -> None:
        """Roll back a transaction an error left open (at the end of a request)."""

    def release(self) -> None:
        """The request is over: roll back what it left open, give a pooled connection back."""

    # Schema, for the migrations: each backend maps Python types to its own.
    def has_table(self, name: str) -> bool: ...

    def add_table(
        self,
        name: str,
        columns: dict[str, type],
        pk: str | tuple[str, ...],
        not_null: Iterable[str] = (),
        defaults: dict | None = None,
    ) -> None: ...

    def add_index(self, table: str, columns: Sequence[str], unique: bool = False) -> None: ...

    def close(self) -> None: ...


class HitFlusher(Protocol):
    """Puts hits committed with ``transaction(flush=False)`` on disk within a window."""

    def request(self) -> None:
        """A hit was committed: have it on disk by the end of the window."""

    def stop(self) -> None:
        """At exit: flush what is pending now."""


def marks(values: Sequence) -> str:
    """Placeholders for a list: ``in ({marks(ids)})`` with ``ids`` among the parameters."""
    return ", ".join("?" * len(values))
