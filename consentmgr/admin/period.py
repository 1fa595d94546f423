"""Reading the dashboard's period and filters from the query string.

Anything unreadable falls back to the last 30 days with a message, instead of
an error page: the filters are a convenience, and a bookmarked URL with an
old version id should still open.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from ..consent.policy import LANGS
from .stats import Filters

PERIODS = ("7", "30", "90")
DEFAULT_PERIOD = "30"
MAX_DAYS = 366


@dataclass
class Choice:
    """The filters in force and what the form should show."""

    filters: Filters
    period: str
    problems: list[str] = field(default_factory=list)


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _range(args: Mapping[str, str], today: date, problems: list[str]) -> tuple[str, date, date]:
    period = args.get("period") or DEFAULT_PERIOD
    if period == "custom":
        start, end = _day(args.get("from")), _day(args.get("to"))
        if start is None or end is None:
            problems.append("Give both dates of a custom period as YYYY-MM-DD.")
        elif start > end:
            problems.append("The custom period starts after it ends.")
        elif (end - start).days + 1 > MAX_DAYS:
            problems.append(f"A custom period can be at most {MAX_DAYS} days.")
        else:
            return period, start, end
        period = DEFAULT_PERIOD
    if period not in PERIODS:
        problems.append("Unknown period; showing the last 30 days.")
        period = DEFAULT_PERIOD
    return period, today - timedelta(days=int(period) - 1), today


def parse(args: Mapping[str, str], today: date, versions: list[str]) -> Choice:
    """The period (7, 30, 90 days up to today, or custom dates) plus version and language."""
    problems: list[str] = []
    period, start, end = _range(args, today, problems)
    version = args.get("version") or None
    if version and version not in versions:
        problems.append(f"Policy version {version!r} is unknown; showing all versions.")
        version = None
    lang = args.get("lang") or None
    if lang and lang not in LANGS:
        problems.append(f"Language {lang!r} is unknown; showing all languages.")
        lang = None
    return Choice(Filters(start, end, version, lang), period, problems)
