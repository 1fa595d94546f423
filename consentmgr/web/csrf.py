"""CSRF protection for every HTML form (flask-wtf), and who is exempt from it.

``CSRFProtect`` checks every POST, PUT, PATCH and DELETE for a token bound to
the session, so a new form is protected without anyone remembering to. The
machine endpoints are exempt: browsers call them cross-site with no session
and no token, and they have their own guard (the consent API and the Meta
endpoint refuse an ``Origin`` outside ``SITE_ORIGINS``; the Matomo endpoint
changes nothing but a counter unless the visitor's signed cookie grants
consent). ``/mine-data`` is exempt too: its erase form carries a token bound
to the visitor's consent id (``self_service``), so visitors get no session
cookie. A new machine endpoint's blueprint must be added to ``EXEMPT``.

A missing or wrong token is answered 400 with a short page, not a stack trace.
"""

from __future__ import annotations

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect

from ..consent import api as consent_api
from ..gateway.matomo import endpoint as matomo_gateway
from ..gateway.meta import endpoint as meta_gateway
from ..proof import self_service

csrf = CSRFProtect()

EXEMPT = (consent_api.bp, matomo_gateway.bp, meta_gateway.bp, self_service.bp)


def _refused(e: CSRFError):
    if request.path.startswith("/admin"):
        return render_template("admin/error.html", status=400, message=e.description), 400
    return e


def init_app(app: Flask) -> None:
    # A token lives as long as the session it is bound to; sessions have their own timeouts.
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    csrf.init_app(app)
    for blueprint in EXEMPT:
        csrf.exempt(blueprint)
    app.register_error_handler(CSRFError, _refused)
