"""Storage backends: one interface (:mod:`.base`), one module per database engine."""

from .base import Cursor, Storage, Unavailable, marks

__all__ = ["Cursor", "Storage", "Unavailable", "marks"]
