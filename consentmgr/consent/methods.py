"""How a decision was made: the one list of methods, with their labels.

The API takes the posted methods in ``POST /api/consent``; ``withdraw`` comes
only from ``DELETE /api/consent``. The console labels them in English, the
visitor's receipt and ``/mine-data`` in bokmål. The order is the order of
the console's charts and tables.
"""

from __future__ import annotations

from typing import NamedTuple


class Method(NamedTuple):
    name: str
    console: str  # the admin console's label
    visitor: str  # the receipt's and /mine-data's label
    posted: bool  # may be sent to POST /api/consent


METHODS = (
    Method("accept_all", "Accept all", "Godta alle", True),
    Method("custom", "Custom", "Tilpasset valg", True),
    Method("reject_all", "Reject all", "Avvis alle", True),
    Method("gpc", "GPC", "Nettleserens personvernsignal (Global Privacy Control)", True),
    Method("withdraw", "Withdraw", "Samtykke trukket tilbake", False),
)
NAMES = tuple(m.name for m in METHODS)
POSTED = tuple(m.name for m in METHODS if m.posted)
CONSOLE_LABELS = {m.name: m.console for m in METHODS}
VISITOR_LABELS = {m.name: m.visitor for m in METHODS}
