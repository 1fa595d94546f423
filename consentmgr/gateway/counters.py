"""Gateway counters: day x target x category x outcome.

Outcomes: ``forwarded`` (the upstream accepted it), ``dropped_no_consent``
(the visitor's cookie did not grant the category; nothing was kept),
``rejected_invalid`` (malformed or over a limit) and ``dead`` (given up on).

Dropped and rejected hits leave nothing to keep, so they are not worth a
write transaction each: every process tallies them in memory and writes the
tally in one transaction at most every ``TALLY_SECONDS`` (on the next hit
after that, on each delivery pass, and at exit). A ``kill -9`` can lose at most
one interval of these counts, never a hit.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import Counter
from datetime import UTC, datetime

from flask import Flask, current_app

from ..db import get_db, open_for
from ..storage import Storage
from ..storage.base import Unavailable
from .targets import BY_NAME

OUTCOMES = ("forwarded", "dropped_no_consent", "rejected_invalid", "dead")


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def count(db: Storage, day: str, target: str, outcome: str, n: int = 1) -> None:
    """Add ``n`` to a counter. Runs in the caller's transaction, if any."""
    if n <= 0:
        return
    db.execute(
        "insert into gateway_daily (day, target, category, outcome, count) values (?, ?, ?, ?, ?)"
        " on conflict (day, target, category, outcome)"
        " do update set count = gateway_daily.count + excluded.count",
        [day, target, BY_NAME[target].category, outcome, n],
    )


def totals(db: Storage, target: str | None = None) -> dict[str, int]:
    """Sum of every outcome, over all days (for ``consentmgr outbox`` and tests)."""
    sql = "select outcome, sum(count) from gateway_daily"
    params: list = []
    if target:
        sql += " where target = ?"
        params.append(target)
    out = dict.fromkeys(OUTCOMES, 0)
    out.update(dict(db.execute(sql + " group by outcome", params).fetchall()))
    return out


TALLY_SECONDS = 1.0
log = logging.getLogger(__name__)


class Tally:
    """This process's unwritten counts of dropped and rejected hits."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.written = time.monotonic()
        self.pid = os.getpid()

    def add(self, target: str, outcome: str, n: int) -> bool:
        """Count; True when the tally is due to be written."""
        with self.lock:
            if self.pid != os.getpid():  # a forked child starts with its own tally
                self.counts.clear()
                self.pid = os.getpid()
            self.counts[(today(), target, outcome)] += n
            return time.monotonic() - self.written >= TALLY_SECONDS

    def write(self, db: Storage | None = None) -> None:
        """Write and clear the tally in one transaction (opening a connection if none given)."""
        with self.lock:
            counts, self.counts = self.counts, Counter()
            self.written = time.monotonic()
        if not counts or self.pid != os.getpid():
            return
        own = db is None
        db = open_for(self.app) if own else db
        try:
            with db.transaction():
                for (day, target, outcome), n in counts.items():
                    count(db, day, target, outcome, n)
        finally:
            if own:
                db.close()


def tally(target: str, outcome: str, n: int = 1) -> None:
    """Count dropped or rejected hits of this request without a write of their own."""
    if current_app.extensions["consentmgr.tally"].add(target, outcome, n):
        current_app.extensions["consentmgr.tally"].write(get_db())


def write_tally(app: Flask, db: Storage | None = None) -> None:
    app.extensions["consentmgr.tally"].write(db)


def init_app(app: Flask) -> None:
    app.extensions["consentmgr.tally"] = Tally(app)
    atexit.register(_write_at_exit, app.extensions["consentmgr.tally"])


def _write_at_exit(tally: Tally) -> None:
    try:
        tally.write()
    except Unavailable:  # the database went first: the counts of this last interval are lost
        log.warning("gateway counts not written at exit: the database cannot be reached")
