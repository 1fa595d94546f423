"""Security headers on every response.

Pages are served with a strict Content-Security-Policy. Pages that must run an
inline script (the demo site's consent-gated examples) get a per-request nonce
from :func:`csp_nonce`, which the banner copies when it activates a script.

A view may set any of these headers itself; its value is kept.

They are added in a thin WSGI layer around the app rather than in an
``after_request`` hook: constant tuples appended to the header list, instead
of a validated ``Headers.add`` per header on every gateway hit, and responses
that never reach Flask's hooks carry them too.

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
from collections.abc import Iterable
from typing import TYPE_CHECKING

from flask import Flask, Response, current_app, request

from .origin import is_loopback

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

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


NONCE = "consentmgr.csp_nonce"  # the request's nonce, in the WSGI environ


def csp_nonce() -> str:
    environ = request.environ
    if NONCE not in environ:
        environ[NONCE] = secrets.token_urlsafe(16)
    return environ[NONCE]


class SecurityHeaders:
    """WSGI middleware that adds the default headers a response does not already have."""

    def __init__(self, wsgi_app: WSGIApplication, defaults: tuple[tuple[str, str], ...]) -> None:
        self.wsgi_app = wsgi_app
        self.defaults = tuple((name.lower(), name, value) for name, value in defaults)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> object:
            present = {name.lower() for name, _ in headers}
            for key, name, value in self.defaults:
                if key not in present:
                    if key == "content-security-policy" and NONCE in environ:
                        value = CSP.format(nonce=f" 'nonce-{environ[NONCE]}'")
                    headers.append((name, value))
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)


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
    defaults = (*DEFAULTS, HSTS) if https else DEFAULTS
    app.wsgi_app = SecurityHeaders(app.wsgi_app, defaults)  # type: ignore[method-assign]
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
