"""Consent statistics for the admin dashboard, read from the daily aggregates only.

The consent log grows by one row per decision; the aggregate tables grow by
at most one row per day, version, language, method (and category and
outcome). Every figure here comes from those small tables, filtered by a
period and optionally by policy version and language, so the dashboard costs
the same with ten thousand decisions or ten million, and erasing a visitor's
personal fields never changes a figure.

``daily_pages`` has no version or language, so top pages follow the period
only; the dashboard says so.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from ..storage import Storage


@dataclass(frozen=True)
class Filters:
    """A period of whole UTC days (both ends included) and optional version / language."""

    start: date
    end: date
    version: str | None = None
    lang: str | None = None

    def days(self) -> list[str]:
        n = (self.end - self.start).days + 1
        return [(self.start + timedelta(days=i)).isoformat() for i in range(n)]

    def where(self) -> tuple[str, list]:
        sql, params = "day between ? and ?", [self.start.isoformat(), self.end.isoformat()]
        for column in ("version", "lang"):
            value = getattr(self, column)
            if value:
                sql += f" and {column} = ?"
                params.append(value)
        return sql, params


@dataclass
class OptIn:
    """Decisions that granted a category, out of the decisions that were asked about it."""

    granted: int = 0
    asked: int = 0

    @property
    def rate(self) -> float | None:
        return self.granted / self.asked if self.asked else None


@dataclass
class Breakdown:
    """Decisions by method and opt-ins by category for one slice (a day, a language, ...)."""

    methods: Counter = field(default_factory=Counter)
    optin: dict[str, OptIn] = field(default_factory=dict)

    @property
    def decisions(self) -> int:
        return sum(self.methods.values())

    def share(self, method: str) -> float | None:
        total = self.decisions
        return self.methods[method] / total if total else None

    def add_optin(self, category: str, granted: bool, n: int) -> None:
        entry = self.optin.setdefault(category, OptIn())
        entry.asked += n
        entry.granted += n if granted else 0


@dataclass
class Summary:
    filters: Filters
    total: Breakdown
    by_day: dict[str, Breakdown]
    by_lang: dict[str, Breakdown]
    by_version: dict[str, Breakdown]
    categories: list[str]


def _slot(table: dict[str, Breakdown], key: str) -> Breakdown:
    return table.setdefault(key, Breakdown())


def summary(db: Storage, filters: Filters, categories: list[str]) -> Summary:
    """Every dashboard figure about decisions for ``filters``, in two aggregate queries."""
    where, params = filters.where()
    total = Breakdown()
    by_day = {day: Breakdown() for day in filters.days()}
    by_lang: dict[str, Breakdown] = {}
    by_version: dict[str, Breakdown] = {}
    for day, version, lang, method, n in db.execute(
        "select day, version, lang, method, sum(count) from daily_decisions"  # noqa: S608
        f" where {where} group by day, version, lang, method",
        params,
    ):
        for slot in (total, by_day[day], _slot(by_lang, lang), _slot(by_version, version)):
            slot.methods[method] += n
    seen = list(categories)
    for day, version, lang, category, granted, n in db.execute(
        "select day, version, lang, category, granted, sum(count) from daily_consent"  # noqa: S608
        f" where {where} group by day, version, lang, category, granted",
        params,
    ):
        if category not in seen:
            seen.append(category)
        for slot in (total, by_day[day], _slot(by_lang, lang), _slot(by_version, version)):
            slot.add_optin(category, bool(granted), n)
    return Summary(filters, total, by_day, by_lang, by_version, seen)


def top_pages(db: Storage, start: date, end: date, limit: int = 10) -> list[tuple]:
    """The pages where most decisions were made in the period: (page, decisions)."""
    return db.execute(
        "select page, sum(count) as n from daily_pages where day between ? and ?"
        " group by page order by n desc, page limit ?",
        [start.isoformat(), end.isoformat(), limit],
    ).fetchall()


def gateway_by_day(db: Storage, start: date, end: date) -> dict[str, dict[str, Counter]]:
    """Gateway outcomes per target and day: {target: {day: Counter(outcome -> n)}}."""
    out: dict[str, dict[str, Counter]] = {}
    for day, target, outcome, n in db.execute(
        "select day, target, outcome, sum(count) from gateway_daily where day between ? and ?"
        " group by day, target, outcome order by day",
        [start.isoformat(), end.isoformat()],
    ):
        out.setdefault(target, {}).setdefault(day, Counter())[outcome] += n
    return out
