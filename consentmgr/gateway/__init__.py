"""The hit flow: endpoint → consent gate → outbox → deliverer → upstream.

The shared machinery lives here (outbox, deliverer, sealing at rest, upstream
sending, counters, the forwarding check); each upstream has a subpackage with
its endpoint, its parsing and cleaning, and its sender.
"""

from __future__ import annotations

from flask import Flask

from ..web import csrf
from . import counters, deliver, targets


def init_app(app: Flask) -> None:
    """Register every target's endpoint and start the background deliverer."""
    for target in targets.TARGETS:
        # Guarded by the visitor's signed consent cookie (and, for Meta, the Origin).
        csrf.register_exempt(app, target.blueprint())
    counters.init_app(app)
    deliver.init_app(app)
