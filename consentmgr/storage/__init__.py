"""Storage backends: one interface (:mod:`.base`), one module per database engine."""

from .base import Cursor, Storage, marks

__all__ = ["Cursor", "Storage", "marks"]
