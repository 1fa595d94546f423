"""The gateway's targets, each defined once: name, consent category, sender.

A target's name is what the ``outbox`` and ``gateway_daily`` tables store;
its category is what the visitor's cookie must grant before a hit is queued,
and what a refusal takes back; its upstream is how the deliverer sends it.
Adding an upstream means a folder beside ``matomo/`` and ``meta/`` (endpoint,
parsing, sender) and one entry here: ``gateway.init_app`` registers every
target's endpoint. The endpoint is named, not imported, because endpoints
import this registry for their own name and category.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

from flask import Blueprint

from .matomo import upstream as matomo
from .meta import upstream as meta
from .upstream import Upstream


@dataclass(frozen=True)
class Target:
    name: str
    category: str
    upstream: Upstream
    endpoint: str  # the module whose ``bp`` takes the hits

    def blueprint(self) -> Blueprint:
        return import_module(self.endpoint).bp


MATOMO = Target("matomo", "analytics", matomo.UPSTREAM, f"{__package__}.matomo.endpoint")
META = Target("meta", "marketing", meta.UPSTREAM, f"{__package__}.meta.endpoint")

TARGETS = (MATOMO, META)
BY_NAME = {t.name: t for t in TARGETS}


def refused(choices: dict[str, bool]) -> list[Target]:
    """The targets whose category ``choices`` does not grant."""
    return [t for t in TARGETS if not choices.get(t.category)]
