"""The consent check every gateway hit passes: does the signed cookie grant this category?

Only a cookie that verifies, has not expired and was given for the current
policy version counts. Anything else, including a stale cookie from before a
purpose change, counts as no consent.
"""

from __future__ import annotations

from flask import current_app, request

from . import cookie as consent_cookie
from .cookie import Consent
from .policy import Policy


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
    """The consent id in this browser's signed cookie (expired still counts: it is theirs)."""
    consent = current_consent(allow_expired=True)
    return consent.id if consent else None


def valid_consent() -> Consent | None:
    """The visitor's consent if it is verified, unexpired and for the current version."""
    consent = current_consent()
    if consent is None or consent.version != current_policy().version:
        return None
    return consent


def consent_for(category: str) -> Consent | None:
    """The visitor's consent if it grants ``category``, else None."""
    consent = valid_consent()
    if consent is None or category not in consent.granted:
        return None
    return consent
