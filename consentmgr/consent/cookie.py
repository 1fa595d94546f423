"""The signed consent cookie: the visitor's choice, readable by the banner, trusted only here.

The value is an itsdangerous timestamped token, ``payload.timestamp.signature``.
The payload is plain base64url JSON, never compressed, so ``consent.js`` can
read the choice without asking the server; only the server can verify it.

Signing uses the current ``SECRET_KEY``; verification also accepts every key in
``OLD_SECRET_KEYS`` so keys can be rotated without resetting every visitor.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, Response
from itsdangerous import BadData, URLSafeTimedSerializer
from itsdangerous.encoding import base64_decode, base64_encode

from .. import signing

SALT = "consentmgr.consent-cookie.v1"


@dataclass(frozen=True)
class Consent:
    """A verified decision as carried by the cookie."""

    id: str
    version: str
    granted: frozenset[str]
    time: datetime

    def expires(self, max_age_days: int) -> datetime:
        return self.time + timedelta(days=max_age_days)


def new_id() -> str:
    """A random consent id: 128 bits, not derived from anything about the visitor."""
    return secrets.token_urlsafe(16)


def serializer(app: Flask) -> URLSafeTimedSerializer:
    return signing.serializer(app, SALT, readable=True)


def encode(app: Flask, consent: Consent) -> str:
    """Sign the consent with its own time, so the cookie expires when the API said it would.

    itsdangerous would stamp the clock at signing; across a second boundary that
    is a second later than the ``expires`` the API answered with.
    """
    ser = serializer(app)
    signer = ser.make_signer()
    signer.get_timestamp = lambda: int(consent.time.timestamp())  # type: ignore[method-assign]
    payload = ser.dump_payload(
        {"i": consent.id, "v": consent.version, "g": sorted(consent.granted)}
    )
    return signer.sign(payload).decode("ascii")


def _from_payload(payload: Any, timestamp: datetime) -> Consent | None:
    if not isinstance(payload, dict):
        return None
    cid, version, granted = payload.get("i"), payload.get("v"), payload.get("g")
    if not (isinstance(cid, str) and isinstance(version, str) and isinstance(granted, list)):
        return None
    if not all(isinstance(g, str) for g in granted):
        return None
    return Consent(cid, version, frozenset(granted), timestamp)


def _canonical(value: str) -> bool:
    """True when every base64 part is in its one canonical spelling.

    base64 leaves spare bits in the last character, so several spellings decode
    to the same bytes; only the one we issue is accepted.
    """
    try:
        return all(base64_encode(base64_decode(part)).decode() == part for part in value.split("."))
    except (BadData, ValueError, UnicodeError):
        return False


def _verifier(app: Flask) -> Callable[[str], Consent | None]:
    """Signature check of a cookie value, remembered per app.

    A visitor sends the same cookie with every hit; verifying it once and
    remembering the answer (bounded, per process) takes HMAC and base64 work
    off every later request. Only the signature is remembered; expiry is
    checked on every use.
    """
    verify = app.extensions.get("consentmgr.cookie_verifier")
    if verify is None:
        ser = serializer(app)

        @functools.lru_cache(maxsize=8192)
        def verify(value: str) -> Consent | None:
            if not _canonical(value):
                return None
            try:
                payload, ts = ser.loads(value, return_timestamp=True)
            except (BadData, ValueError, TypeError, UnicodeError):
                return None
            return _from_payload(payload, ts.astimezone(UTC))

        app.extensions["consentmgr.cookie_verifier"] = verify
    return verify


def decode(app: Flask, value: str | None, *, allow_expired: bool = False) -> Consent | None:
    """Verify a cookie value; anything missing, tampered, foreign or expired is None.

    ``allow_expired`` still requires a valid signature; it is used to keep the
    same consent id when an expired visitor decides again, and to let them
    reach their own data (``gate.visitor_id``).
    """
    if not value or len(value) > 1024:
        return None
    consent = _verifier(app)(value)
    if consent is None:
        return None
    max_age = timedelta(days=app.config["CONSENT_MAX_AGE_DAYS"])
    if not allow_expired and datetime.now(UTC) - consent.time > max_age:
        return None
    return consent


def set_cookie(app: Flask, response: Response, consent: Consent) -> None:
    response.set_cookie(
        app.config["COOKIE_NAME"],
        encode(app, consent),
        max_age=app.config["CONSENT_MAX_AGE_DAYS"] * 86400,
        domain=app.config["COOKIE_DOMAIN"],
        secure=app.config["COOKIE_SECURE"],
        httponly=False,
        samesite="Lax",
        path="/",
    )


def clear_cookie(app: Flask, response: Response) -> None:
    response.delete_cookie(
        app.config["COOKIE_NAME"],
        domain=app.config["COOKIE_DOMAIN"],
        secure=app.config["COOKIE_SECURE"],
        samesite="Lax",
        path="/",
    )
