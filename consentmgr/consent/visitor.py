"""What the consent log may keep about a visitor, reduced to what proof needs.

A raw IP address or a full user-agent string would identify the visitor more
than proving the decision requires, so they are coarsened before anything is
stored: the address to its /24 (IPv4) or /48 (IPv6) network, the user agent to
its browser family, the page URL to scheme, host and path.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from urllib.parse import urlsplit, urlunsplit

_FAMILIES = (
    (re.compile(r"bot|crawl|spider|slurp|headless", re.I), "bot"),
    (re.compile(r"Edg/|Edge/"), "Edge"),
    (re.compile(r"OPR/|Opera"), "Opera"),
    (re.compile(r"SamsungBrowser"), "Samsung Internet"),
    (re.compile(r"Firefox/|FxiOS/"), "Firefox"),
    (re.compile(r"Chrome/|CriOS/|Chromium/"), "Chrome"),
    (re.compile(r"Safari/"), "Safari"),
)


def ua_family(user_agent: str | None) -> str:
    """The browser family of a user-agent string, or ``other``."""
    if not user_agent:
        return "other"
    for pattern, family in _FAMILIES:
        if pattern.search(user_agent):
            return family
    return "other"


@functools.lru_cache(maxsize=4096)  # a visitor's hits and decisions come from one address
def ip_prefix(address: str | None) -> str:
    """The visitor's network, never the address: a.b.c.0/24 or the IPv6 /48."""
    if not address:
        return ""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    # The network address from the integer: no second parse of a formatted string.
    if ip.version == 4:
        return f"{ipaddress.IPv4Address(int(ip) >> 8 << 8)}/24"
    return f"{ipaddress.IPv6Address(int(ip) >> 80 << 80)}/48"


def page_url(url: str | None, max_length: int = 2048) -> str | None:
    """The page a decision was made on, without query string, fragment or credentials.

    Returns None for anything that is not an http(s) URL.
    """
    if url is None:
        return None
    if not isinstance(url, str) or len(url) > max_length:
        raise ValueError("page must be an http(s) URL of at most 2048 characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("page must be an http(s) URL")
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, host, parts.path or "/", "", ""))
