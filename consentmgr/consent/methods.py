"""How a decision was made: the one list of methods, with the console's labels.

The API takes the posted methods in ``POST /api/consent``; ``withdraw`` comes
only from ``DELETE /api/consent``. The console labels them in English; the
visitor pages name them in the visitor's language from the catalogue
(``method.<name>`` in ``web/visitor_texts.json``). The order is the order of
the console's charts and tables.
"""

from __future__ import annotations

from typing import NamedTuple


class Method(NamedTuple):
    name: str
    console: str  # the admin console's label
    posted: bool  # may be sent to POST /api/consent


METHODS = (
    Method("accept_all", "Accept all", True),
    Method("custom", "Custom", True),
    Method("reject_all", "Reject all", True),
    Method("gpc", "GPC", True),
    Method("withdraw", "Withdraw", False),
)
NAMES = tuple(m.name for m in METHODS)
POSTED = tuple(m.name for m in METHODS if m.posted)
CONSOLE_LABELS = {m.name: m.console for m in METHODS}
