"""The deliverer: moves outbox rows to their upstreams.

It runs as a background thread in every app process by default (started by
the process's first request) and as ``consentmgr deliver`` for deployments
that prefer a separate process. Leases in the outbox make any mix of the two
safe. Each pass: expire rows too old to send, then for each target claim due
rows in batches, drop those whose visitor has refused since
(``outbox.drop_refused``), send the rest, and record the outcome row by row.

An exception anywhere in a batch (an upstream reply nobody foresaw, a bug)
is recorded on the rows that batch held, as a failed attempt with its error,
so their lease is released and their backoff starts; it is logged with their
ids, and the other targets' passes go on.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests
from flask import Flask

from ..db import open_for
from ..proof import retention
from ..storage import Storage
from . import counters, outbox, upstream
from .targets import TARGETS, Target

log = logging.getLogger(__name__)

PRUNE_EVERY_SECONDS = 3600.0
EXTENSION = "consentmgr.deliverer"  # app.extensions key of the running thread
RUNNING = "consentmgr.deliverer_running"  # ... and of the function that starts it if need be


@dataclass
class Report:
    delivered: dict[str, int] = field(default_factory=dict)
    retried: dict[str, int] = field(default_factory=dict)
    dead: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def add(self, bucket: dict[str, int], target: str, n: int) -> None:
        if n:
            bucket[target] = bucket.get(target, 0) + n


def owner_id() -> str:
    return f"{os.getpid()}-{secrets.token_hex(4)}"


def _day(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).date().isoformat()


def deliver_target(
    app: Flask,
    db: Storage,
    http: requests.Session,
    target: Target,
    owner: str,
    report: Report,
) -> None:
    """Send every due row of one target, one batch after another."""
    sender = target.upstream
    now = time.time()
    report.add(
        report.dead,
        target.name,
        outbox.expire(db, target.name, sender.max_age_seconds(app), now, _day(now)),
    )
    if not sender.configured(app):
        return
    while True:
        # Each claim's lease runs from now, not from the pass's start: a pass that
        # drains a backlog outlasts a lease, and its later batches must still be held.
        items = outbox.claim(
            db, target.name, sender.batch, owner, time.time(), app.config["OUTBOX_LEASE_SECONDS"]
        )
        if not items:
            return
        try:
            items = outbox.drop_refused(db, target, items, owner)
            if not items:
                continue
            outcome = sender.send(app, http, items)
            done = time.time()
            day = _day(done)
            report.add(
                report.delivered,
                target.name,
                outbox.delivered(db, outcome.delivered, owner, done, day),
            )
            outbox.dead(db, outcome.dead, owner, done, day)
            report.add(report.dead, target.name, len(outcome.dead))
            outbox.failed(db, outcome.retry, owner, outcome.error, done, day, permanent=False)
            report.add(report.retried, target.name, len(outcome.retry))
        except Exception as e:
            error = f"delivery failed: {type(e).__name__}: {e}"[:500]
            log.exception("%s: %s; items %s", target.name, error, [i.id for i in items])
            # Rows already marked delivered or dead are not pending any more and stay so.
            outbox.failed(db, items, owner, error, time.time(), _day(now), permanent=False)
            report.add(report.retried, target.name, len(items))
            report.errors.append(f"{target.name}: {error}")
            return
        if outcome.error:
            report.errors.append(f"{target.name}: {outcome.error}")
        if outcome.retry:
            return  # the upstream is struggling: leave the rest for the next pass


def deliver_once(
    app: Flask, db: Storage | None = None, http: requests.Session | None = None
) -> Report:
    """One pass over every target; what a cron job or ``deliver --once`` runs.

    The background thread passes its own database connection and HTTP session,
    so connections to the upstreams are kept alive from one pass to the next.
    """
    report = Report()
    owner = owner_id()
    with ExitStack() as owned:
        if db is None:
            db = open_for(app)
            owned.callback(db.close)
        if http is None:
            http = owned.enter_context(upstream.session())
        counters.write_tally(app, db)
        for target in TARGETS:
            try:
                deliver_target(app, db, http, target, owner, report)
            except Exception as e:  # one target's failure never stops another's pass
                log.exception("%s: delivery pass failed", target.name)
                report.errors.append(f"{target.name}: delivery pass failed: {type(e).__name__}")
    return report


class Deliverer(threading.Thread):
    """A daemon thread that delivers whenever woken and at least every interval."""

    def __init__(self, app: Flask) -> None:
        super().__init__(name="consentmgr-deliverer", daemon=True)
        self.app = app
        self.woken = threading.Event()
        self.stopped = threading.Event()
        self.last_prune = 0.0

    def wake(self) -> None:
        self.woken.set()

    def stop(self) -> None:
        self.stopped.set()
        self.woken.set()

    def run(self) -> None:
        db = open_for(self.app)
        interval = self.app.config["DELIVER_INTERVAL_SECONDS"]
        try:
            with upstream.session() as http:
                while not self.stopped.is_set():
                    self.woken.clear()
                    try:
                        deliver_once(self.app, db, http)
                        self.prune(db)
                    except Exception:  # keep delivering after any single failure
                        log.exception("delivery pass failed")
                    self.woken.wait(interval)
        finally:
            db.close()

    def prune(self, db: Storage) -> None:
        """Hourly: retention (decisions and outbox) and a checkpoint if the last is a day old."""
        now = time.time()
        if now - self.last_prune >= PRUNE_EVERY_SECONDS:
            retention.housekeeping(self.app, db, datetime.fromtimestamp(now, UTC))
            self.last_prune = now


def init_app(app: Flask) -> None:
    """Start the background deliverer with this process's first request."""
    if not app.config["DELIVER_IN_BACKGROUND"]:
        return
    lock = threading.Lock()

    def running() -> Deliverer:
        thread = app.extensions.get(EXTENSION)
        if thread is None or not thread.is_alive():
            with lock:
                thread = app.extensions.get(EXTENSION)
                if thread is None or not thread.is_alive():
                    thread = app.extensions[EXTENSION] = Deliverer(app)
                    thread.start()
        return thread

    app.extensions[RUNNING] = running
    app.before_request(lambda: running() and None)


def wake(app: Flask) -> None:
    """Tell the background deliverer, if this process runs one, that a hit is queued.

    It is started first if need be: hits are answered by a direct view, which
    runs no ``before_request`` hook (``web.direct_views``).
    """
    running = app.extensions.get(RUNNING)
    if running is not None:
        running().wake()
