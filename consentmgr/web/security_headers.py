"""Security headers on every response.

Pages are served with a strict Content-Security-Policy. Pages that must run an
inline script (the demo site's consent-gated examples) get a per-request nonce
from :func:`csp_nonce`, which the banner copies when it activates a script.

A view may set any of these headers itself; its value is kept.
"""

from __future__ import annotations

import secrets

from flask import Flask, Response, g

CSP = (
    "default-src 'self'; "
    "script-src 'self'{nonce}; "
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; "
    "connect-src 'self'; "
    "frame-src 'self'; "
    "frame-ancestors 'none'; "
    "base-uri 'none'; "
    "form-action 'self'; "
    "object-src 'none'"
)
DEFAULTS = (
    ("Content-Security-Policy", CSP.format(nonce="")),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "interest-cohort=(), browsing-topics=()"),
)


def csp_nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def add_headers(response: Response) -> Response:
    # One pass over the headers already set, instead of a search per default:
    # this runs on every gateway hit.
    present = {name.lower() for name in response.headers.keys()}  # noqa: SIM118
    for name, value in DEFAULTS:
        if name.lower() not in present:
            if name == "Content-Security-Policy" and "csp_nonce" in g:
                value = CSP.format(nonce=f" 'nonce-{g.csp_nonce}'")
            response.headers.add(name, value)
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce


def private(response: Response, vary: tuple[str, ...] = ("Cookie",)) -> Response:
    """One visitor's own data: never cached or indexed, and it depends on their cookie."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    response.vary.update(vary)
    return response
