"""Storage backends: one interface (:mod:`.base`), one module per database engine."""

from pathlib import Path

from .base import POSTGRES_SCHEMES, Cursor, Storage, Unavailable, marks

__all__ = ["POSTGRES_SCHEMES", "Cursor", "Storage", "Unavailable", "marks", "open_storage"]


def open_storage(
    target: str, *, synchronous: str = "FULL", pool_size: int = 10, timeout: float = 5.0
) -> Storage:
    """A connection to ``target``: a ``postgresql://`` URL, or else a SQLite file's path."""
    if target.startswith(POSTGRES_SCHEMES):
        from . import postgres  # psycopg is needed only on PostgreSQL

        return postgres.connect(target, pool_size, timeout)
    from . import sqlite

    return sqlite.connect(Path(target), synchronous)
