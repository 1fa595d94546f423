"""Building Conversions API events from what the ``fbq()`` shim posts.

Meta matches events to people with hashed identifiers. The advanced matching
values a site gives the pixel (``em``, ``ph``, ``fn`` ... ``external_id``)
are normalised and SHA-256 hashed the moment they arrive, by the rules in
``matching``; only the hashes are ever queued or stored.
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import matching

STANDARD_EVENTS = frozenset(
    """
    AddPaymentInfo AddToCart AddToWishlist CompleteRegistration Contact CustomizeProduct
    Donate FindLocation InitiateCheckout Lead PageView Purchase Schedule Search StartTrial
    SubmitApplication Subscribe ViewContent
    """.split()
)
CUSTOM_NAME = re.compile(r"[A-Za-z0-9_ .-]{1,50}")
EVENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
FBP = re.compile(r"fb\.\d\.\d{13}\.\d{1,20}")
FBC = re.compile(r"fb\.\d\.\d{13}\.[A-Za-z0-9_-]{1,500}")
FIELDS = frozenset(
    {"type", "event_name", "event_id", "page", "referrer", "custom_data", "user_data"}
)


class InvalidEvent(ValueError):
    """The posted event cannot be sent to Meta."""


def sha256(text: str) -> str:
    return matching.sha256(text)


def fbclid_of(url: str | None) -> str | None:
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get("fbclid")
    if values and re.fullmatch(r"[A-Za-z0-9_-]{1,500}", values[0]):
        return values[0]
    return None


def new_fbp(now: float) -> str:
    """A browser id in Meta's ``fb.1.<ms>.<random>`` format, for the ``_fbp`` cookie."""
    return f"fb.1.{int(now * 1000)}.{secrets.randbelow(10**10)}"


def fbc_for(fbclid: str, now: float) -> str:
    return f"fb.1.{int(now * 1000)}.{fbclid}"


def url_or_none(body: dict[str, Any], field: str) -> str | None:
    """An http(s) URL from the body, or ``None`` when the shim had none to give."""
    value = body.get(field) or None
    if value is not None and (
        not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https")
    ):
        raise InvalidEvent(f"{field} must be an http(s) URL")
    return value


def event_name(body: dict[str, Any]) -> str:
    kind, name = body.get("type", "track"), body.get("event_name")
    if kind not in ("track", "trackCustom"):
        raise InvalidEvent("type must be track or trackCustom")
    if not isinstance(name, str):
        raise InvalidEvent("event_name must be a string")
    if kind == "track" and name not in STANDARD_EVENTS:
        raise InvalidEvent(f"{name!r} is not a standard event; send it with trackCustom")
    if kind == "trackCustom" and (not CUSTOM_NAME.fullmatch(name) or name in STANDARD_EVENTS):
        raise InvalidEvent("custom event names are 1-50 letters, digits, spaces, _ . -")
    return name


def user_hashes(body: dict[str, Any]) -> dict[str, str]:
    """The advanced matching values, normalised and hashed on arrival (see ``matching``)."""
    user = body.get("user_data", {})
    if not isinstance(user, dict):
        raise InvalidEvent("user_data must be an object")
    try:
        return matching.hash_all(user)
    except matching.InvalidMatch as e:
        raise InvalidEvent(str(e)) from None


def parse(body: dict[str, Any]) -> dict[str, Any]:
    """Check a posted event; return its parts or raise InvalidEvent."""
    unknown = set(body) - FIELDS
    if unknown:
        raise InvalidEvent(f"unknown field: {sorted(unknown)[0]}")
    name = event_name(body)
    event_id = body.get("event_id") or secrets.token_urlsafe(12)
    if not isinstance(event_id, str) or not EVENT_ID.fullmatch(event_id):
        raise InvalidEvent("event_id must be 1-100 letters, digits or _ . : -")
    custom = body.get("custom_data", {})
    if not isinstance(custom, dict):
        raise InvalidEvent("custom_data must be an object")
    return {
        "event_name": name,
        "event_id": event_id,
        "page": url_or_none(body, "page"),
        "referrer": url_or_none(body, "referrer"),
        "custom": custom,
        "user": user_hashes(body),
    }


def capi_event(
    parts: dict[str, Any],
    *,
    consent_id: str,
    client_ip: str,
    user_agent: str,
    fbp: str | None,
    fbc: str | None,
    accepted_at: float,
) -> dict[str, Any]:
    """The event as the Conversions API expects it.

    ``external_id`` always carries the hash of the consent id, a stable id for
    this browser; a site's own ``external_id`` (a user or loyalty id) comes
    first, as it is the one Meta can also see on the site's other channels.
    """
    user = parts["user"]
    user_data: dict[str, Any] = {
        "client_ip_address": client_ip,
        "client_user_agent": user_agent,
        **{key: [digest] for key, digest in user.items() if key != "external_id"},
        "external_id": [*filter(None, [user.get("external_id")]), sha256(consent_id)],
    }
    if fbp:
        user_data["fbp"] = fbp
    if fbc:
        user_data["fbc"] = fbc
    event = {
        "event_name": parts["event_name"],
        "event_time": int(accepted_at),
        "event_id": parts["event_id"],
        "action_source": "website",
        "user_data": user_data,
        "custom_data": parts["custom"],
    }
    if parts["page"]:
        event["event_source_url"] = parts["page"]
    if parts["referrer"]:
        event["referrer_url"] = parts["referrer"]
    return event
