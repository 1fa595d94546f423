"""Sending queued hits to Matomo as bulk tracking requests.

One POST to ``<MATOMO_URL>/matomo.php`` carries up to 100 hits and the
server's ``token_auth`` (which makes Matomo accept ``cip`` and ``cdt``). A
status code alone does not say the hits were tracked: Matomo answers
``{"status": "success", "tracked": N, "invalid": M, "invalid_indices": [...]}``
and only that body decides which hits are done.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import requests
from flask import Flask

from ...web.request_body import UNSENDABLE
from .. import upstream
from ..upstream import Outcome, Upstream

if TYPE_CHECKING:
    from ..outbox import Item
from . import hit as matomo_hit


def configured(app: Flask) -> bool:
    return bool(app.config["MATOMO_URL"])


def max_age_seconds(app: Flask) -> float:
    return app.config["OUTBOX_MAX_AGE_HOURS"] * 3600.0


def endpoint(app: Flask) -> str:
    return app.config["MATOMO_URL"].rstrip("/") + "/matomo.php"


def encode(pairs: list) -> str:
    """One hit as a bulk request item; raises for what Matomo could not be sent."""
    for pair in pairs:
        if any(UNSENDABLE.search(part) for part in pair):
            raise ValueError("a parameter holds NUL or an unpaired surrogate")
    return matomo_hit.query(pairs)


def send(app: Flask, http: requests.Session, items: Sequence[Item]) -> Outcome:
    def body(queries: list[str]) -> dict:
        data: dict = {"requests": queries}
        if app.config["MATOMO_TOKEN_AUTH"]:
            data["token_auth"] = app.config["MATOMO_TOKEN_AUTH"]
        return data

    return upstream.send_sealed(app, http, items, endpoint(app), encode, body, judge)


def judge(items: Sequence[Item], response: requests.Response) -> Outcome:
    return upstream.http_failure(items, response) or read_reply(items, response)


def read_reply(items: Sequence[Item], response: requests.Response) -> Outcome:
    """Decide per hit from Matomo's bulk reply body."""
    try:
        reply = response.json()
    except ValueError:
        reply = None
    if not isinstance(reply, dict) or "tracked" not in reply:
        snippet = response.text[:200].strip() or "(empty body)"
        return Outcome.all_retry(items, f"Matomo did not confirm tracking: {snippet}")
    if reply.get("status") != "success":
        return Outcome.all_retry(items, f"Matomo answered {reply}"[:500])
    tracked, invalid = int(reply.get("tracked") or 0), int(reply.get("invalid") or 0)
    if invalid == 0:
        if tracked == 0:
            return Outcome.all_retry(items, "Matomo tracked none of the hits")
        return Outcome(delivered=list(items))
    indices = reply.get("invalid_indices")
    if not isinstance(indices, list):
        message = f"Matomo rejected {invalid} of {len(items)} hits without saying which"
        return Outcome.all_dead(items, message, split=True)
    bad = {i for i in indices if isinstance(i, int)}
    return Outcome(
        delivered=[item for n, item in enumerate(items) if n not in bad],
        dead=[
            (item, "Matomo reported this hit invalid") for n, item in enumerate(items) if n in bad
        ],
        error=f"Matomo reported {invalid} invalid hits",
    )


UPSTREAM = Upstream(batch=100, configured=configured, max_age_seconds=max_age_seconds, send=send)
