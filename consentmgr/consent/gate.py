"""The consent check every gateway hit passes: does the visitor's latest decision grant this?

Only a cookie that verifies, has not expired, was given for the current
policy version and still carries its consent id's *latest* decision counts.
Anything else counts as no consent: a stale cookie from before a purpose
change, and an old copy of the cookie kept after the visitor withdrew,
changed their choice or had their record erased (or purged after retention).

A cookie carries the latest decision when the log's newest row for its
consent id has the cookie's version and granted categories and was written
no later than the cookie was signed (cookies are signed to the second, after
the row is written). Two decisions with the same choices in the same second
are indistinguishable, and equivalent. Finding the newest row is one seek in
the ``consent_id`` index per hit with a cookie; nothing is cached across requests,
so a withdrawal holds in every worker process from its commit on.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime

from flask import current_app, request

from ..db import get_db
from . import cookie as consent_cookie
from .cookie import Consent
from .policy import Policy

LATEST = "select ts, version, choices from decisions where consent_id = ? order by seq desc limit 1"


def current_policy() -> Policy:
    return current_app.extensions["consentmgr.policy"]


def current_consent(*, allow_expired: bool = False) -> Consent | None:
    """The visitor's verified consent, whatever its version; unexpired unless allowed."""
    return consent_cookie.decode(
        current_app,
        request.cookies.get(current_app.config["COOKIE_NAME"]),
        allow_expired=allow_expired,
    )


def visitor_id() -> str | None:
    """The consent id whose data this browser may see, download and erase, if any.

    That is the id of a verified cookie that still carries the id's latest
    decision. An expired cookie and one from an older policy version still
    count: they are the visitor's own, and the banner asking again does not
    take their data away from them. An old copy of the cookie (another
    profile, a restored backup, someone who copied it) counts as no cookie,
    as it does at the gateway: it must not show what the visitor chose since,
    where they were, or let its holder erase the record (an erase token handed
    out while the copy was current is refused too, since the POST asks again).
    Costs the one indexed lookup of ``is_latest`` when there is a cookie.
    """
    consent = current_consent(allow_expired=True)
    return consent.id if consent is not None and is_latest(consent) else None


def _latest(consent: Consent) -> tuple | None:
    return get_db().execute(LATEST, [consent.id]).fetchone()


def is_latest(consent: Consent) -> bool:
    """Whether the cookie carries its consent id's latest decision (one indexed lookup)."""
    row = _latest(consent)
    return row is not None and _carries(consent, *row)


def is_superseded(consent: Consent) -> bool:
    """Whether the log holds a decision for the cookie's id that the cookie does not carry.

    Unlike ``not is_latest``, an id with no rows left (erased, purged, never
    logged) is not superseded: nothing under it can be revealed.
    """
    row = _latest(consent)
    return row is not None and not _carries(consent, *row)


@functools.lru_cache(maxsize=8192)  # a pure function of immutable values: always safe to reuse
def _carries(consent: Consent, ts: str, version: str, choices: str) -> bool:
    if version != consent.version:
        return False
    try:
        granted = frozenset(c for c, on in json.loads(choices).items() if on is True)
        written = datetime.fromisoformat(ts).replace(microsecond=0)
    except (TypeError, ValueError, AttributeError):
        return False
    return granted == consent.granted and consent.time >= written


def valid_consent(category: str | None = None) -> Consent | None:
    """The visitor's consent if it is verified, unexpired, current and their latest decision.

    With ``category``, also only if it grants it; that is checked before the
    log lookup, so a cookie that does not grant it costs no query.
    """
    consent = current_consent()
    if consent is None or consent.version != current_policy().version:
        return None
    if category is not None and category not in consent.granted:
        return None
    return consent if is_latest(consent) else None


def consent_for(category: str) -> Consent | None:
    """The visitor's consent if it grants ``category``, else None."""
    return valid_consent(category)
