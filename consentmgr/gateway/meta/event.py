"""Building Conversions API events from what the ``fbq()`` shim posts.

Meta matches events to people with hashed identifiers. Email and phone are
normalised and SHA-256 hashed here, on the server, the moment they arrive;
only the hashes are ever queued or stored. The rules follow Meta's customer
information parameters: email trimmed and lower-cased; phone reduced to
digits with the country code (``+47`` and ``0047`` become ``47``; an 8-digit
Norwegian number without a code gets ``47``). A value that is already a
SHA-256 hex digest is passed through.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

STANDARD_EVENTS = frozenset(
    """
    AddPaymentInfo AddToCart AddToWishlist CompleteRegistration Contact CustomizeProduct
    Donate FindLocation InitiateCheckout Lead PageView Purchase Schedule Search StartTrial
    SubmitApplication Subscribe ViewContent
    """.split()
)
CUSTOM_NAME = re.compile(r"[A-Za-z0-9_ .-]{1,50}")
EVENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
FBP = re.compile(r"fb\.\d\.\d{13}\.\d{1,20}")
FBC = re.compile(r"fb\.\d\.\d{13}\.[A-Za-z0-9_-]{1,500}")
WHITESPACE = re.compile(r"\s")


class InvalidEvent(ValueError):
    """The posted event cannot be sent to Meta."""


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def hash_email(value: str) -> str:
    email = value.strip().lower()
    if SHA256_HEX.fullmatch(email):
        return email
    if not is_email(email):
        raise InvalidEvent("user_data.em must be an email address")
    return sha256(email)


def is_email(text: str) -> bool:
    """``local@domain.tld``: one ``@``, no whitespace, a dot inside the domain.

    The rule the regular expression this replaces had (no ``@`` or whitespace
    in any part), checked in one pass over the text: that expression
    backtracked, so a crafted address (``a@....@``) cost time growing with the
    square of its length.
    """
    local, _, domain = text.partition("@")
    return (
        bool(local)
        and "@" in text
        and "@" not in domain
        and "." in domain[1:-1]
        and not WHITESPACE.search(text)
    )


def normalise_phone(value: str) -> str:
    raw = value.strip()
    digits = re.sub(r"\D", "", raw)
    if raw.startswith("+"):
        pass
    elif digits.startswith("00"):
        digits = digits[2:]
    elif len(digits) == 8:
        digits = "47" + digits
    digits = digits.lstrip("0")
    if not 8 <= len(digits) <= 15:
        raise InvalidEvent("user_data.ph must be a phone number with 8 to 15 digits")
    return digits


def hash_phone(value: str) -> str:
    lowered = value.strip().lower()
    if SHA256_HEX.fullmatch(lowered):
        return lowered
    return sha256(normalise_phone(value))


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


def parse(body: dict[str, Any]) -> dict[str, Any]:
    """Check a posted event; return its parts or raise InvalidEvent."""
    unknown = set(body) - {"type", "event_name", "event_id", "page", "custom_data", "user_data"}
    if unknown:
        raise InvalidEvent(f"unknown field: {sorted(unknown)[0]}")
    kind, name = body.get("type", "track"), body.get("event_name")
    if kind not in ("track", "trackCustom"):
        raise InvalidEvent("type must be track or trackCustom")
    if not isinstance(name, str):
        raise InvalidEvent("event_name must be a string")
    if kind == "track" and name not in STANDARD_EVENTS:
        raise InvalidEvent(f"{name!r} is not a standard event; send it with trackCustom")
    if kind == "trackCustom" and (not CUSTOM_NAME.fullmatch(name) or name in STANDARD_EVENTS):
        raise InvalidEvent("custom event names are 1-50 letters, digits, spaces, _ . -")
    event_id = body.get("event_id") or secrets.token_urlsafe(12)
    if not isinstance(event_id, str) or not EVENT_ID.fullmatch(event_id):
        raise InvalidEvent("event_id must be 1-100 letters, digits or _ . : -")
    page = body.get("page")
    if page is not None and (
        not isinstance(page, str) or urlsplit(page).scheme not in ("http", "https")
    ):
        raise InvalidEvent("page must be an http(s) URL")
    custom = body.get("custom_data", {})
    if not isinstance(custom, dict):
        raise InvalidEvent("custom_data must be an object")
    user = body.get("user_data", {})
    if not isinstance(user, dict) or set(user) - {"em", "ph"}:
        raise InvalidEvent("user_data may only hold em and ph")
    hashed = {}
    for key, fn in (("em", hash_email), ("ph", hash_phone)):
        if user.get(key) in (None, ""):
            continue
        if not isinstance(user[key], str):
            raise InvalidEvent(f"user_data.{key} must be a string")
        hashed[key] = [fn(user[key])]
    return {"event_name": name, "event_id": event_id, "page": page, "custom": custom, **hashed}


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
    """The event as the Conversions API expects it."""
    user_data: dict[str, Any] = {
        "client_ip_address": client_ip,
        "client_user_agent": user_agent,
        "external_id": [sha256(consent_id)],
    }
    for key in ("em", "ph"):
        if key in parts:
            user_data[key] = parts[key]
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
    return event
