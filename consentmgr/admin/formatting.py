"""Jinja filters for the console: numbers, shares and times written the same way everywhere."""

from __future__ import annotations

from datetime import UTC, datetime


def count(n: int | None) -> str:
    """Thousands separated by a thin space, as in Norwegian and SI style: 12 345."""
    return "0" if not n else f"{n:,}".replace(",", "\u202f")


def plural(n: int, word: str) -> str:
    """``1 decision``, ``2 decisions``: for messages (the console writes its own)."""
    return f"{n} {word if n == 1 else word + 's'}"


def percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.1f}\u00a0%"


def epoch(value: float | None) -> str:
    if value is None:
        return "–"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "none pending"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def language(code: str | None) -> str:
    """A language code named in English words: ``nn`` -> ``Norwegian Nynorsk (nn)``."""
    from ..web.i18n import catalogue

    name = catalogue()["en"].get(f"lang.{code}")
    return f"{name} ({code})" if name else str(code)


# Names chosen not to shadow Jinja's own filters (``count`` is ``length`` there).
FILTERS = {
    "language": language,
    "thousands": count,
    "percent": percent,
    "utc_time": epoch,
    "duration": duration,
}
