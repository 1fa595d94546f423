"""The gateway's targets, each defined once: name, consent category, sender.

A target's name is what the ``outbox`` and ``gateway_daily`` tables store;
its category is what the visitor's cookie must grant before a hit is queued,
and what a refusal takes back; its upstream is how the deliverer sends it.
Adding an upstream means a folder beside ``matomo/`` and ``meta/`` (endpoint,
parsing, sender) and one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass

from .matomo import upstream as matomo
from .meta import upstream as meta
from .upstream import Upstream


@dataclass(frozen=True)
class Target:
    name: str
    category: str
    upstream: Upstream


MATOMO = Target("matomo", "analytics", matomo.UPSTREAM)
META = Target("meta", "marketing", meta.UPSTREAM)

TARGETS = (MATOMO, META)
BY_NAME = {t.name: t for t in TARGETS}


def refused(choices: dict[str, bool]) -> list[Target]:
    """The targets whose category ``choices`` does not grant."""
    return [t for t in TARGETS if not choices.get(t.category)]
