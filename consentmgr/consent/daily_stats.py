"""Daily aggregates of decisions, kept up to date on every write.

Statistics read these small tables instead of scanning the log, so the
console stays fast however long the log grows, and erasing or purging a
decision's personal fields never changes a figure.

* ``daily_decisions``: day x version x lang x method -> decisions
* ``daily_consent``: day x version x lang x method x category x granted -> decisions
* ``daily_pages``: day x page -> decisions, at most ``MAX_PAGES_PER_DAY``
  distinct pages a day; decisions on further pages count as ``OTHER_PAGES``,
  so a client posting a new page with every decision cannot flood the table
  (or the dashboard's top pages).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..storage import Storage

if TYPE_CHECKING:
    from .log import Decision

MAX_PAGES_PER_DAY = 1000
OTHER_PAGES = "(other pages)"


def count_decision(db: Storage, day: str, decision: Decision) -> None:
    """Add one decision to the aggregates. Call inside the log's transaction."""
    key = [day, decision.version, decision.lang, decision.method]
    db.execute(
        "insert into daily_decisions (day, version, lang, method, count) values (?, ?, ?, ?, 1)"
        " on conflict (day, version, lang, method)"
        " do update set count = daily_decisions.count + 1",
        key,
    )
    db.executemany(
        "insert into daily_consent (day, version, lang, method, category, granted, count)"
        " values (?, ?, ?, ?, ?, ?, 1)"
        " on conflict (day, version, lang, method, category, granted)"
        " do update set count = daily_consent.count + 1",
        [[*key, category, int(granted)] for category, granted in decision.choices.items()],
    )
    if decision.page:
        db.execute(
            "insert into daily_pages (day, page, count) values (?, ?, 1)"
            " on conflict (day, page) do update set count = daily_pages.count + 1",
            [day, _page_or_other(db, day, decision.page)],
        )


def _page_or_other(db: Storage, day: str, page: str) -> str:
    """``page``, unless it is new and the day already has its share of distinct pages."""
    if db.execute("select 1 from daily_pages where day = ? and page = ?", [day, page]).fetchone():
        return page
    pages = db.execute(
        "select count(*) from daily_pages where day = ? and page != ?", [day, OTHER_PAGES]
    ).fetchone()[0]
    return page if pages < MAX_PAGES_PER_DAY else OTHER_PAGES
