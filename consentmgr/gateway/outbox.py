"""The durable outbox: accepted hits wait here until their upstream has them.

A row is committed before the visitor gets the gateway's 2xx, so a crash, a
restart or an upstream outage loses nothing. Deliverers (a background thread
in every app process, or ``consentmgr deliver``) *claim* due rows by writing a
lease; another deliverer skips leased rows until the lease runs out, so any
number of processes can deliver at once, and a deliverer that dies mid-send
only delays its rows by one lease.

Delivery is at-least-once: a row is sent again if its deliverer dies (or the
upstream's answer is lost) after the upstream accepted it but before the row
was marked delivered.

Row states: ``pending`` (waiting or being retried), ``delivered``, ``dead``
(permanent error or too old; kept with ``last_error``, and ``retry`` puts it
back to ``pending``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from ..consent import log as consent_log
from ..storage import Storage, marks
from . import counters as gateway_stats
from . import targets

LEASE_SECONDS = 120
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 3600.0


@dataclass(frozen=True)
class Item:
    id: int
    target: str
    consent_id: str | None
    payload: str
    created: float
    attempts: int


def enqueue(db: Storage, target: str, consent_id: str, payloads: Sequence[str], now: float) -> None:
    """Queue sealed payloads for ``target`` in one committed transaction.

    Committed, not yet flushed: the caller puts it on disk with ``db.flush_soon``.
    """
    with db.transaction(flush=False):
        db.executemany(
            "insert into outbox (target, consent_id, payload, created, status, attempts,"
            " next_attempt) values (?, ?, ?, ?, 'pending', 0, ?)",
            [(target, consent_id, p, now, now) for p in payloads],
        )


def claim(
    db: Storage,
    target: str,
    limit: int,
    owner: str,
    now: float,
    lease: float = LEASE_SECONDS,
) -> list[Item]:
    """Lease up to ``limit`` due pending rows of ``target`` to ``owner`` for ``lease`` seconds."""
    return [Item(*r) for r in db.claim(target, limit, owner, now, lease)]


def drop_refused(
    db: Storage, target: targets.Target, items: Sequence[Item], owner: str
) -> list[Item]:
    """The leased items whose visitor's latest decision still grants ``target``; delete the rest.

    A hit checks the visitor's latest decision before its row is committed, so
    a withdrawal can land in between: it deletes the visitor's rows
    (:func:`forget_refused`) before this one exists. Asking the log again
    before sending, once per batch, means such an item does not leave while
    the visitor's latest decision refuses it (a batch already on its way when
    the refusal lands cannot be called back, and an item whose visitor grants
    again before it is claimed goes out under that consent). An item with no
    consent id, or whose visitor has no decision left (erased, purged), is
    not sent either.
    """
    granting = consent_log.granting(
        db, {i.consent_id for i in items if i.consent_id}, target.category
    )
    kept = [i for i in items if i.consent_id in granting]
    refused = [i.id for i in items if i.consent_id not in granting]
    if refused:
        with db.transaction():
            db.execute(
                f"delete from outbox where id in ({marks(refused)})"  # noqa: S608
                " and lease_owner = ? and status = 'pending'",
                [*refused, owner],
            )
    return kept


def delivered(db: Storage, items: Sequence[Item], owner: str, now: float, day: str) -> int:
    """Mark leased rows delivered and count what reached the upstream.

    A row whose lease was lost is left alone: its new owner sends and counts
    it. A row deleted while it was being sent (the visitor was erased or
    withdrew) did reach the upstream, so it is counted, though there is no
    row left to mark.
    """
    if not items:
        return 0
    ids = [i.id for i in items]
    with db.transaction():
        marked = db.execute(
            "update outbox set status = 'delivered', finished = ?, lease_until = null,"  # noqa: S608
            " attempts = attempts + 1, last_error = null"
            f" where id in ({marks(ids)}) and lease_owner = ? and status = 'pending'",
            [now, *ids, owner],
        ).rowcount
        still_there = db.execute(
            f"select count(*) from outbox where id in ({marks(ids)})",  # noqa: S608
            ids,
        ).fetchone()[0]
        done = marked + len(items) - still_there
        gateway_stats.count(db, day, items[0].target, "forwarded", done)
    return done


def backoff(attempts: int) -> float:
    """Seconds to wait before attempt ``attempts + 1``: exponential, capped, with jitter."""
    delay = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0))
    return delay * random.uniform(0.5, 1.0)


def failed(
    db: Storage,
    items: Sequence[Item],
    owner: str,
    error: str,
    now: float,
    day: str,
    *,
    permanent: bool,
) -> None:
    """Record a failed attempt: retry later with backoff, or make the rows dead."""
    if permanent:
        dead(db, [(i, error) for i in items], owner, now, day)
        return
    if not items:
        return
    with db.transaction():
        db.executemany(
            "update outbox set next_attempt = ?, lease_until = null,"
            " attempts = attempts + 1, last_error = ?"
            " where id = ? and lease_owner = ? and status = 'pending'",
            [(now + backoff(i.attempts + 1), error[:2000], i.id, owner) for i in items],
        )


def dead(
    db: Storage,
    failures: Sequence[tuple[Item, str]],
    owner: str,
    now: float,
    day: str,
) -> None:
    """Make leased rows dead, each with its own error, in one transaction."""
    if not failures:
        return
    with db.transaction():
        # Rows deleted meanwhile (the visitor was erased) or re-leased are not counted.
        count = sum(
            db.execute(
                "update outbox set status = 'dead', finished = ?, lease_until = null,"
                " attempts = attempts + 1, last_error = ?"
                " where id = ? and lease_owner = ? and status = 'pending'",
                [now, error[:2000], i.id, owner],
            ).rowcount
            for i, error in failures
        )
        gateway_stats.count(db, day, failures[0][0].target, "dead", count)


def expire(db: Storage, target: str, max_age_seconds: float, now: float, day: str) -> int:
    """Make pending rows older than ``max_age_seconds`` dead instead of sending them late."""
    with db.transaction():
        cursor = db.execute(
            "update outbox set status = 'dead', finished = ?, lease_until = null,"
            " last_error = 'expired: older than ' || ? || ' hours, not sent late'"
            " || coalesce(' (last error: ' || last_error || ')', '')"
            " where status = 'pending' and target = ? and created < ?"
            " and (lease_until is null or lease_until < ?)",
            [now, round(max_age_seconds / 3600, 1), target, now - max_age_seconds, now],
        )
        gateway_stats.count(db, day, target, "dead", cursor.rowcount)
    return cursor.rowcount


def retry_dead(db: Storage, now: float, ids: Sequence[int] | None = None) -> int:
    """Put dead rows (all, or the given ids) back to pending, due now.

    Their age is kept: an item that died of old age dies again rather than
    reaching the upstream with a stale time.
    """
    where = "status = 'dead'"
    params: list = [now]
    if ids is not None:
        if not ids:
            return 0
        where += f" and id in ({', '.join('?' * len(ids))})"
        params += list(ids)
    with db.transaction():
        cursor = db.execute(
            "update outbox set status = 'pending', next_attempt = ?,"  # noqa: S608
            f" finished = null, lease_until = null where {where}",
            params,
        )
    return cursor.rowcount


def forget_refused(db: Storage, consent_id: str, choices: dict[str, bool]) -> int:
    """Delete a visitor's not-yet-delivered rows of every target whose category is now refused.

    One transaction for every target, and none when nothing is refused:
    each write waits for the writer lock and an fsync.
    """
    names = [t.name for t in targets.refused(choices)]
    if not names:
        return 0
    with db.transaction():
        return db.execute(
            "delete from outbox where consent_id = ? and status != 'delivered'"  # noqa: S608
            f" and target in ({marks(names)})",
            [consent_id, *names],
        ).rowcount


class Erased(NamedTuple):
    deleted: int  # undelivered rows deleted, in_flight included
    emptied: int  # delivered rows emptied
    in_flight: int  # deleted rows a deliverer was sending: they may still arrive


def erase_visitor(db: Storage, consent_id: str, now: float) -> Erased:
    """Erasure: delete the id's undelivered rows and empty its delivered ones.

    A delivered row's sealed payload still holds the visitor's IP address and
    user agent, so it is emptied and unlinked from the id at once rather than
    kept until ``OUTBOX_KEEP_DAYS``. The row itself stays until then, without
    anything personal, so the forwarding check counts it (as *unknown*, like
    every item of an erased id) instead of losing it.

    A row under a live lease is already in a deliverer's hands and cannot be
    called back; it is deleted like the rest, but counted apart so the
    visitor is told it may still reach the upstream.
    """
    with db.transaction():
        in_flight = db.execute(
            "select count(*) from outbox where consent_id = ? and status = 'pending'"
            " and lease_until >= ?",
            [consent_id, now],
        ).fetchone()[0]
        deleted = db.execute(
            "delete from outbox where consent_id = ? and status != 'delivered'", [consent_id]
        ).rowcount
        emptied = db.execute(
            "update outbox set payload = '', consent_id = null where consent_id = ?",
            [consent_id],
        ).rowcount
    return Erased(deleted, emptied, in_flight)


# Only finished rows have a finish time: the partial index ``outbox_finished`` holds just them.
PRUNE = "delete from outbox where finished < ? and status != 'pending'"


def prune(db: Storage, before: float, *, dry_run: bool = False) -> int:
    """Delete delivered and dead rows finished before ``before``; with dry_run, only count."""
    if dry_run:
        return db.execute(PRUNE.replace("delete", "select count(*)"), [before]).fetchone()[0]
    with db.transaction():
        return db.execute(PRUNE, [before]).rowcount


def stats(db: Storage, now: float) -> dict:
    """Counts per status and target, and the age in seconds of the oldest pending row."""
    counts = {"pending": 0, "delivered": 0, "dead": 0}
    by_target: dict[str, dict[str, int]] = {}
    for target, status, n in db.execute(
        "select target, status, count(*) from outbox group by target, status"
    ):
        counts[status] = counts.get(status, 0) + n
        by_target.setdefault(target, {"pending": 0, "delivered": 0, "dead": 0})[status] = n
    oldest = db.execute("select min(created) from outbox where status = 'pending'").fetchone()[0]
    return {
        **counts,
        "oldest_pending_seconds": round(now - oldest, 1) if oldest is not None else None,
        "by_target": by_target,
    }


def dead_items(db: Storage, limit: int = 100) -> list[dict]:
    return [
        dict(zip(("id", "target", "created", "attempts", "last_error", "finished"), r, strict=True))
        for r in db.execute(
            "select id, target, created, attempts, last_error, finished from outbox"
            " where status = 'dead' order by id desc limit ?",
            [limit],
        )
    ]
