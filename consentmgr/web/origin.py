"""The origin rule and CORS for endpoints the customer's site calls.

Browsers send ``Origin`` on every cross-site POST and DELETE and on every
``fetch``; a write whose origin is not the site or this service is refused,
so another site cannot record or withdraw consent on a visitor's behalf.
"""

from __future__ import annotations

import functools
import ipaddress

from flask import Response, current_app, request

from .errors import ApiError

PREFLIGHT_MAX_AGE = 600


@functools.lru_cache(maxsize=256)  # asked on every request; a service has few host names
def is_loopback(host: str) -> bool:
    """Whether ``host`` (``name[:port]``) names this machine: localhost, 127.0.0.0/8, ::1."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def own_origin() -> str | None:
    """This service's origin: ``PUBLIC_URL``, never the request's ``Host``.

    Without ``PUBLIC_URL`` the service has an origin only when it is opened on
    this machine (``http://127.0.0.1:5000``, ``http://localhost:5000``), so
    ``./dev run`` and a first try of ``consentmgr serve`` work unconfigured,
    while a Host header naming any other site is never taken for this service.
    """
    public = current_app.config["PUBLIC_URL"]
    if public:
        return public
    if is_loopback(request.host):
        return f"{request.scheme}://{request.host}".lower()
    return None


def is_allowed(origin: str | None) -> bool:
    if not origin:
        return False
    origin = origin.lower()
    return origin == own_origin() or origin in current_app.config["SITE_ORIGINS"]


def require_allowed_origin() -> None:
    """Refuse a state-changing request unless its Origin is the site or this service."""
    origin = request.headers.get("Origin")
    if not origin:
        raise ApiError(403, "missing Origin header: requests must come from a browser on the site")
    if not is_allowed(origin):
        raise ApiError(403, f"origin {origin} is not allowed (see SITE_ORIGINS and PUBLIC_URL)")


def add_cors_headers(response: Response, methods: str = "GET, POST, DELETE") -> Response:
    """Let allowed origins read responses with credentials; answer their preflights."""
    origin = request.headers.get("Origin")
    response.vary.add("Origin")
    if is_allowed(origin):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = methods
            response.headers["Access-Control-Allow-Headers"] = "Content-Type"
            response.headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
    return response


def preflight() -> Response:
    if not is_allowed(request.headers.get("Origin")):
        raise ApiError(403, "origin is not allowed (see SITE_ORIGINS and PUBLIC_URL)")
    return Response(status=204)
