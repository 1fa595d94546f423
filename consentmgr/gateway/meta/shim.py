"""The ``fbq()`` shim as served: the minified script with this site's pixel id filled in.

The shim compares the ids a site passes to ``fbq("init", id)`` and
``fbq("trackSingle", id, ...)`` with the one pixel the gateway sends to
(``META_PIXEL_ID``), so it can say so in the console instead of sending data
meant for another pixel to this one. The id is written into the script when
it is served, alone (``/fbq.js``) or inside ``/consent.js``; both are built
once per app, so this costs nothing per request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PLACEHOLDER = "__PIXEL__"


def with_pixel(script: str, config: Mapping[str, Any]) -> str:
    """``script`` with the configured pixel id (digits, or empty when Meta is off) in place."""
    if PLACEHOLDER not in script:
        raise RuntimeError(f"the fbq() shim must contain {PLACEHOLDER}")
    return script.replace(PLACEHOLDER, config.get("META_PIXEL_ID") or "")
