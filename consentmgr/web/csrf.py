"""CSRF protection for every HTML form (flask-wtf), and who is exempt from it.

``CSRFProtect`` checks every POST, PUT, PATCH and DELETE for a token bound to
the session, so a new form is protected without anyone remembering to. The
machine endpoints are exempt: browsers call them cross-site with no session
and no token, and they have their own guard (the consent API and the Meta
endpoint refuse an ``Origin`` outside ``SITE_ORIGINS``; the Matomo endpoint
changes nothing but a counter unless the visitor's signed cookie grants
consent). ``/mine-data`` is exempt too: its erase form carries a token bound
to the visitor's consent id (``self_service``), so visitors get no session
cookie. Such blueprints are registered with ``register_exempt``, so the exemption
is written where the blueprint is registered; any other blueprint is protected.

A missing or wrong token is answered 400 with a short page, not a stack trace.
"""

from __future__ import annotations

from flask import Blueprint, Flask, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect

csrf = CSRFProtect()


def _refused(e: CSRFError):
    if request.path.startswith("/admin"):
        return render_template("admin/error.html", status=400, message=e.description), 400
    return e


def init_app(app: Flask) -> None:
    # A token lives as long as the session it is bound to; sessions have their own timeouts.
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    csrf.init_app(app)
    app.register_error_handler(CSRFError, _refused)


def register_exempt(app: Flask, blueprint: Blueprint) -> None:
    """Register a blueprint whose endpoints have their own guard instead of a session token."""
    csrf.exempt(blueprint)
    app.register_blueprint(blueprint)
