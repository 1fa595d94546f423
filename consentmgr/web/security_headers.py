"""Security headers on every response.

Pages are served with a strict Content-Security-Policy. Pages that must run an
inline script (the demo site's consent-gated examples) get a per-request nonce
from :func:`csp_nonce`, which the banner copies when it activates a script.

A view may set any of these headers itself; its value is kept.

When ``PUBLIC_URL`` is https, every response also carries HSTS, so a browser
that has once reached the service never again tries it over plain http.

``COOKIE_SECURE`` cookies never come back over plain http, except to this
machine (browsers treat http://localhost and 127.0.0.1 as secure), so a
service reached over http from anywhere else loses every cookie: the banner
asks again on every page and admin sign-in cannot work. The first such
request a process sees logs a warning naming the key and the file, and the
sign-in page says so instead of offering a form that cannot work
(:func:`cookies_need_https`).
"""

from __future__ import annotations

import secrets

from flask import Flask, Response, current_app, g, request

from .origin import is_loopback

HSTS = ("Strict-Transport-Security", "max-age=31536000")

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
    for name, value in current_app.extensions["consentmgr.security_headers"]:
        if name.lower() not in present:
            if name == "Content-Security-Policy" and "csp_nonce" in g:
                value = CSP.format(nonce=f" 'nonce-{g.csp_nonce}'")
            response.headers.add(name, value)
    return response


def cookies_need_https() -> bool:
    """Whether this request's browser will drop the service's cookies (see the module notes)."""
    return (
        current_app.config["COOKIE_SECURE"]
        and not request.is_secure
        and not is_loopback(request.host)
    )


def _warn_once_over_plain_http() -> None:
    state = current_app.extensions["consentmgr.plain_http"]
    if not state["warned"] and cookies_need_https():
        state["warned"] = True
        current_app.logger.warning(
            "COOKIE_SECURE is true in %s, but a request for %s came over plain http:"
            " browsers drop every cookie the service sets there, so the banner asks again on"
            " every page and admin sign-in fails. Serve it over https (behind a TLS proxy,"
            " with TRUSTED_PROXIES), or set COOKIE_SECURE = false on a test instance.",
            current_app.extensions["consentmgr.config_source"],
            f"http://{request.host}{request.path}",
        )


def init_app(app: Flask) -> None:
    public = app.config["PUBLIC_URL"]
    https = bool(public) and public.startswith("https://")
    app.extensions["consentmgr.security_headers"] = (*DEFAULTS, HSTS) if https else DEFAULTS
    app.after_request(add_headers)
    if app.config["COOKIE_SECURE"]:
        app.extensions["consentmgr.plain_http"] = {"warned": False}
        app.before_request(_warn_once_over_plain_http)
    app.jinja_env.globals["csp_nonce"] = csp_nonce


def private(response: Response, vary: tuple[str, ...] = ("Cookie",)) -> Response:
    """One visitor's own data: never cached or indexed, and it depends on their cookie."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    response.vary.update(vary)
    return response
