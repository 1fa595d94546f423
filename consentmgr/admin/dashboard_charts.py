"""The console's charts: decisions and opt-in from a ``stats.Summary``, and gateway hits."""

from __future__ import annotations

from collections import Counter

from markupsafe import Markup

from ..consent.methods import CONSOLE_LABELS
from .charts import Series, legend, rate_lines, stacked_bars
from .stats import Summary

# Each at least 3:1 against white; neighbours in a stack are apart in lightness too.
METHOD_COLOURS = {
    "accept_all": "#1a7f37",
    "custom": "#6f42c1",
    "reject_all": "#b4232c",
    "gpc": "#9a6700",
    "withdraw": "#57606a",
}
CATEGORY_COLOURS = ("#0969da", "#bc4c00", "#1a7f37", "#6f42c1", "#57606a")
OUTCOME_LABELS = {
    "forwarded": "Forwarded",
    "dropped_no_consent": "Dropped, no consent",
    "rejected_invalid": "Rejected as invalid",
    "dead": "Dead",
}
OUTCOME_COLOURS = {
    "forwarded": "#1a7f37",
    "dropped_no_consent": "#57606a",
    "rejected_invalid": "#9a6700",
    "dead": "#b4232c",
}


def method_series(summary: Summary) -> list[Series]:
    days = list(summary.by_day)
    return [
        Series(label, [summary.by_day[d].methods[m] for d in days], METHOD_COLOURS[m])
        for m, label in CONSOLE_LABELS.items()
    ]


def optin_series(summary: Summary) -> list[Series]:
    days = list(summary.by_day)
    out = []
    for n, category in enumerate(summary.categories):
        values = []
        for d in days:
            entry = summary.by_day[d].optin.get(category)
            values.append(entry.rate if entry else None)
        out.append(Series(category, values, CATEGORY_COLOURS[n % len(CATEGORY_COLOURS)]))
    return out


def _busiest(summary: Summary) -> str:
    if not summary.total.decisions:
        return "There were no decisions in the period."
    day, slot = max(summary.by_day.items(), key=lambda kv: kv[1].decisions)
    return f"The busiest day was {day} with {slot.decisions} decisions."


def decisions_chart(summary: Summary) -> dict[str, Markup]:
    f, total = summary.filters, summary.total
    shares = ", ".join(
        f"{label} {total.methods[m]}" for m, label in CONSOLE_LABELS.items() if total.methods[m]
    )
    desc = (
        f"Bar chart, one bar per day from {f.start} to {f.end}, stacked by method."
        f" {total.decisions} decisions in all{': ' + shares if shares else ''}. {_busiest(summary)}"
        " The table below lists every value."
    )
    series = method_series(summary)
    return {
        "svg": stacked_bars(
            "chart-decisions", "Decisions per day by method", desc, list(summary.by_day), series
        ),
        "legend": legend(series),
    }


def optin_chart(summary: Summary) -> dict[str, Markup]:
    f = summary.filters
    rates = ", ".join(
        f"{c} {summary.total.optin[c].rate * 100:.1f} %"
        for c in summary.categories
        if c in summary.total.optin and summary.total.optin[c].rate is not None
    )
    desc = (
        f"Line chart of the share of decisions that granted each category, per day from"
        f" {f.start} to {f.end}. Over the period: {rates or 'no decisions'}."
        " Days without decisions are gaps. The table below lists every value."
    )
    series = optin_series(summary)
    return {
        "svg": rate_lines(
            "chart-optin", "Opt-in rate per category per day", desc, list(summary.by_day), series
        ),
        "legend": legend(series, lines=True),
    }


def gateway_chart(gateway: dict[str, dict[str, Counter]], days: list[str]) -> dict:
    """Hits per day stacked by outcome, every target together (``stats.gateway_by_day``).

    The returned ``rows`` (newest day first, days without hits left out) and
    ``by_target`` are the chart's numbers as tables, so the page can show the
    same figures the bars are drawn from.
    """
    per_day = {d: Counter() for d in days}
    by_target: dict[str, Counter] = {}
    for target, by_day in gateway.items():  # read for the same days
        for day, outcomes in by_day.items():
            per_day[day].update(outcomes)
            by_target.setdefault(target, Counter()).update(outcomes)
    total = sum(per_day.values(), Counter())
    shares = ", ".join(f"{label} {total[o]}" for o, label in OUTCOME_LABELS.items() if total[o])
    desc = (
        f"Bar chart, one bar per day from {days[0]} to {days[-1]}, stacked by outcome,"
        f" all targets together. {total.total()} hits in all{': ' + shares if shares else ''}."
        " The table below lists every value."
    )
    series = [
        Series(label, [per_day[d][o] for d in days], OUTCOME_COLOURS[o])
        for o, label in OUTCOME_LABELS.items()
    ]
    return {
        "svg": stacked_bars("chart-gateway", "Gateway hits per day by outcome", desc, days, series),
        "legend": legend(series),
        "outcomes": OUTCOME_LABELS,
        "rows": [(d, per_day[d]) for d in reversed(days) if per_day[d].total()],
        "total": total,
        "by_target": by_target,
    }
