"""The admin console at ``/admin``: sign-in, dashboard, records, export, gateway health, scans.

Each concern is its own module; importing them here attaches their routes to
the one blueprint. ``init_app`` also hardens Flask's session cookie, which the
console is the only user of: ``HttpOnly``, ``SameSite=Strict``, ``Secure`` per
``COOKIE_SECURE`` (with the ``__Host-`` prefix, so no subdomain can set it).
"""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from . import auth, dashboard, export, outbox_view, records, scans  # noqa: F401 (attach the routes)
from .blueprint import bp
from .formatting import FILTERS


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, opened for free when the request has no session cookie.

    Flask builds a signing serializer for every request to read the cookie.
    Nearly all requests (gateway hits, the consent API, scripts) come from
    visitors who never have one, so they get an empty session without it.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    secure = app.config["COOKIE_SECURE"]
    app.config.update(
        SESSION_COOKIE_NAME="__Host-session" if secure else "session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_PATH="/",
    )
    app.session_interface = SessionInterface()
    app.jinja_env.filters.update(FILTERS)
    app.register_blueprint(bp)
