"""Reading ``Set-Cookie`` lines and ``document.cookie`` writes the way a browser does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit


@dataclass(frozen=True)
class CookieLine:
    name: str
    domain: str  # without a leading dot: the Domain attribute, or the host that set it
    path: str
    expires: datetime | None  # None: a session cookie
    deletes: bool  # Max-Age <= 0 or Expires in the past


def default_path(url: str) -> str:
    """RFC 6265 5.1.4: the directory of the URL's path, "/" at the top."""
    path = urlsplit(url).path or "/"
    if not path.startswith("/") or path.count("/") == 1:
        return "/"
    return path[: path.rindex("/")]


def parse(line: str, url: str, now: datetime | None = None) -> CookieLine | None:
    """One cookie line as set from ``url``; None when it has no name."""
    now = now or datetime.now(UTC)
    first, *attributes = line.split(";")
    name = first.split("=", 1)[0].strip()
    if not name:
        return None
    attrs: dict[str, str] = {}
    for attribute in attributes:
        key, _, value = attribute.partition("=")
        attrs[key.strip().lower()] = value.strip()
    domain = attrs.get("domain", "").lstrip(".").lower() or (urlsplit(url).hostname or "")
    path = attrs.get("path", "")
    if not path.startswith("/"):
        path = default_path(url)
    expires: datetime | None = None
    if "max-age" in attrs:
        try:
            expires = now + timedelta(seconds=int(attrs["max-age"]))
        except (ValueError, OverflowError):
            expires = None
    elif "expires" in attrs:
        try:
            expires = parsedate_to_datetime(attrs["expires"])
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=UTC)
        except (TypeError, ValueError, IndexError):
            expires = None
    deletes = expires is not None and expires <= now
    return CookieLine(name, domain, path, expires, deletes)
