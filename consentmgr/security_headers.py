"""Security headers on every response.

Pages are served with a strict Content-Security-Policy. Pages that must run an
inline script (the demo site's consent-gated examples) get a per-request nonce
from :func:`csp_nonce`, which the banner copies when it activates a script.
"""

from __future__ import annotations

import secrets

from flask import Flask, Response, g


def csp_nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def _policy() -> str:
    script = "'self'"
    if "csp_nonce" in g:
        script += f" 'nonce-{g.csp_nonce}'"
    return (
        "default-src 'self'; "
        f"script-src {script}; "
        "style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; "
        "connect-src 'self'; "
        "frame-src 'self'; "
        "frame-ancestors 'none'; "
        "base-uri 'none'; "
        "form-action 'self'; "
        "object-src 'none'"
    )


def add_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", _policy())
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "interest-cohort=(), browsing-topics=()")
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
