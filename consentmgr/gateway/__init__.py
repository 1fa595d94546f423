"""The hit flow: endpoint → consent gate → outbox → deliverer → upstream.

The shared machinery lives here (outbox, deliverer, sealing at rest, upstream
sending, counters, the forwarding check); each upstream has a subpackage with
its endpoint, its parsing and cleaning, and its sender.
"""

from __future__ import annotations

from ..web import csrf
from ..web.direct_views import App
from . import counters, deliver, targets
from .matomo import endpoint as matomo_endpoint


def init_app(app: App) -> None:
    """Register every target's endpoint and start the background deliverer."""
    for target in targets.TARGETS:
        # Guarded by the visitor's signed consent cookie (and, for Meta, the Origin).
        csrf.register_exempt(app, target.blueprint())
    # The most frequent request by far answers without the app's hooks (web.direct_views).
    app.direct(f"{matomo_endpoint.bp.name}.track")
    counters.init_app(app)
    deliver.init_app(app)
