"""The gateway's promise, checked: nothing reached an upstream without consent.

The gateway decides from the visitor's signed cookie; this check decides again,
independently, from the consent log. For every outbox item delivered upstream
it finds the latest decision of the item's consent id made at or before the
item was accepted, and counts the item as *without consent* unless that
decision granted the target's category and had not yet expired
(``CONSENT_MAX_AGE_DAYS``). The dashboard shows that number; it must read 0.

An item whose consent id has decisions, but none before the item, counts as
without consent. Items whose consent id has no decision any more (the
visitor's record was erased, or purged after retention) cannot be checked and
are counted apart as *unknown*, never as fine.

Delivered items are pruned after ``OUTBOX_KEEP_DAYS``, so the check runs
incrementally and keeps running totals in ``forwarding_check``: each call looks
only at items delivered since the last one, up to a minute ago (a deliverer may
commit an item stamped a little earlier than its commit).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..storage import Storage
from .targets import TARGETS

MARGIN_SECONDS = 60

_TARGETS = ", ".join("(?, ?)" for _ in TARGETS)
_SQL = f"""
with targets(target, category) as (values {_TARGETS}),
items as (
    select o.created, t.category,
        (select seq from decisions
          where consent_id = o.consent_id and ts_epoch <= o.created
          order by seq desc limit 1) as seq,
        case when exists(select 1 from decisions where consent_id = o.consent_id)
          then 1 else 0 end as known
    from outbox o join targets t on t.target = o.target
    where o.status = 'delivered' and o.finished > ? and o.finished <= ?
)
select count(*),
    coalesce(sum(case when i.known = 1 and (d.seq is null
        or d.granted not like '%,' || i.category || ',%'
        or d.ts_epoch < i.created - ?) then 1 else 0 end), 0),
    coalesce(sum(1 - i.known), 0)
from items i left join decisions d on d.seq = i.seq
"""  # noqa: S608


@dataclass(frozen=True)
class Totals:
    checked: int
    without_consent: int
    unknown: int
    checked_until: float


def refresh(db: Storage, max_age_days: int, now: float) -> Totals:
    """Check the items delivered since the last call and return the running totals."""
    until = now - MARGIN_SECONDS
    # One server at a time moves the running totals on.
    with db.transaction(lock="forwarding_check"):
        since, checked, without, unknown = db.execute(
            "select checked_until, checked, without_consent, unknown"
            " from forwarding_check where id = 1"
        ).fetchone()
        if until > since:
            pairs = [v for t in TARGETS for v in (t.name, t.category)]
            n, bad, lost = db.execute(_SQL, [*pairs, since, until, max_age_days * 86400]).fetchone()
            checked, without, unknown, since = checked + n, without + bad, unknown + lost, until
            db.execute(
                "update forwarding_check set checked_until = ?, checked = ?,"
                " without_consent = ?, unknown = ? where id = 1",
                [since, checked, without, unknown],
            )
    return Totals(checked, without, unknown, since)
