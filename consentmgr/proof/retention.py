"""Retention: personal details of decisions and copies of sent hits are not kept forever.

The privacy statement promises that data is kept only as long as it is
needed. Two clocks apply:

* ``RETENTION_DAYS`` (default 400) for decisions: after it, a row's personal
  fields (consent id, page, browser family, network) and salt are blanked,
  exactly as on erasure. The row itself, its chain hash and the daily
  aggregates stay, so the log still verifies and the statistics do not move.
* ``OUTBOX_KEEP_DAYS`` for gateway items that were delivered or died: they
  are deleted.
* ``AUDIT_KEEP_DAYS`` for the admin console's audit trail: older entries are
  deleted.

``consentmgr purge`` runs both (``--dry-run`` counts without changing
anything); the background thread runs :func:`housekeeping` every hour, which
purges, prunes and makes sure the log's head was checkpointed within a day.

:func:`erase` is the same deletion at once, for one consent id, on request
(the visitor's ``/mine-data`` or an admin).

Both then have the storage engine drop its old versions of what they blanked
or deleted (:func:`consentmgr.storage.destroy_old_copies`): on SQLite the WAL
would otherwise keep copies of the erased values, possibly for good. An
erasure tries once, so the visitor's answer is not held up, and while a
reader (a backup) holds an older snapshot it leaves the rest to the app
process's checkpointer thread, which empties the WAL within a second of that
reader finishing. A purge runs in the background or from cron and tries for
up to ``PURGE_TRUNCATE_WAIT`` seconds; if the reader outlasts that, a warning
is logged and the next erasure or purge empties the WAL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask

from .. import storage
from ..admin import audit
from ..consent import log as consent_log
from ..gateway import outbox
from ..storage import Storage
from . import checkpoints

#: How long a purge waits for readers of older snapshots before leaving the WAL to the thread.
PURGE_TRUNCATE_WAIT = 5.0


@dataclass(frozen=True)
class Purged:
    decisions: int
    outbox_items: int
    decisions_before: datetime
    outbox_before: datetime
    audit_entries: int = 0
    audit_before: datetime | None = None


def purge(app: Flask, db: Storage, now: datetime, *, dry_run: bool = False) -> Purged:
    """Blank decision details past RETENTION_DAYS, delete old outbox items and audit entries.

    Unless ``dry_run``, the engine's old copies go afterwards, even when nothing
    was due this time: that also finishes an earlier erasure's, had its process
    ended before it could.
    """
    decisions_before = now - timedelta(days=app.config["RETENTION_DAYS"])
    outbox_before = now - timedelta(days=app.config["OUTBOX_KEEP_DAYS"])
    audit_before = now - timedelta(days=app.config["AUDIT_KEEP_DAYS"])
    purged = Purged(
        consent_log.purge(db, decisions_before, now, dry_run=dry_run),
        outbox.prune(db, outbox_before.timestamp(), dry_run=dry_run),
        decisions_before,
        outbox_before,
        audit.prune(db, audit_before, dry_run=dry_run),
        audit_before,
    )
    if not dry_run:
        storage.destroy_old_copies(db, wait=PURGE_TRUNCATE_WAIT)
    return purged


def erase(db: Storage, consent_id: str, now: datetime) -> tuple[int, outbox.Erased]:
    """Erase one consent id: its gateway items, then its decisions' personal fields.

    The outbox goes first: if the log step then fails, a retry still finds the
    id. Returns how many decisions were blanked, and what became of the hits.

    Then the old versions of those rows go from the engine's files: at once
    when no reader holds an older snapshot, else within seconds of it ending
    (see the module's notes). The visitor is not kept waiting for that reader.
    """
    hits = outbox.erase_visitor(db, consent_id, now.timestamp())
    erased = consent_log.erase(db, consent_id, now)
    storage.destroy_old_copies(db)
    return erased, hits


def housekeeping(app: Flask, db: Storage, now: datetime) -> Purged:
    """The background thread's hourly chores: retention, then a checkpoint if one is due."""
    purged = purge(app, db, now)
    checkpoints.ensure_recent(app, db, now)
    return purged
