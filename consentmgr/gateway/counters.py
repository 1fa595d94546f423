"""Gateway counters: day x target x category x outcome.

Outcomes: ``forwarded`` (the upstream accepted it), ``dropped_no_consent``
(the visitor's cookie did not grant the category; nothing was kept),
``rejected_invalid`` (malformed or over a limit) and ``dead`` (given up on).
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlite_utils

from .targets import BY_NAME

OUTCOMES = ("forwarded", "dropped_no_consent", "rejected_invalid", "dead")


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def count(db: sqlite_utils.Database, day: str, target: str, outcome: str, n: int = 1) -> None:
    """Add ``n`` to a counter. Runs in the caller's transaction, if any."""
    if n <= 0:
        return
    db.execute(
        "insert into gateway_daily (day, target, category, outcome, count) values (?, ?, ?, ?, ?)"
        " on conflict do update set count = count + excluded.count",
        [day, target, BY_NAME[target].category, outcome, n],
    )


def totals(db: sqlite_utils.Database, target: str | None = None) -> dict[str, int]:
    """Sum of every outcome, over all days (for ``consentmgr outbox`` and tests)."""
    sql = "select outcome, sum(count) from gateway_daily"
    params: list = []
    if target:
        sql += " where target = ?"
        params.append(target)
    out = dict.fromkeys(OUTCOMES, 0)
    out.update(dict(db.execute(sql + " group by outcome", params).fetchall()))
    return out
