"""Sign-in and sign-out.

A failed sign-in says the same thing whether the username is unknown or the
password wrong, and costs the same (``admins.authenticate``). Failures are
throttled per username from one client network and per client network
(``login_throttle``): once either has ``ADMIN_LOGIN_MAX_FAILURES`` within the
window, attempts get 429 with ``Retry-After``; they are counted in the audit
trail, one entry per window, not stored one by one. All attempts, right or
wrong, are also limited per network (``RATE_LIMIT_SIGN_IN``); over that,
nothing is written at all. A successful sign-in clears the whole session and
starts a new server-side one, so no cookie value from before sign-in is valid
after.
"""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime

from flask import (
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError

from ..db import get_db
from ..web import ratelimit
from ..web.security_headers import cookies_need_https
from . import accounts as admins
from . import audit, login_throttle
from . import sessions as admin_sessions
from .blueprint import bp, error_page
from .forms import LoginForm

FAILED = "Wrong username or password."
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
BAD_NEXT = (
    "The page to return to after sign-in (next=) is not a valid address."
    " Open the console again from its start page."
)


def _window() -> float:
    return current_app.config["ADMIN_LOGIN_WINDOW_MINUTES"] * 60


def _next_url() -> str:
    """Where to go after sign-in: only a path inside the console, never another site."""
    target = request.args.get("next") or ""
    if target.startswith("/admin/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("admin.dashboard")


def storable(username: str) -> str:
    """The typed username as the throttle and the audit log keep it.

    No account name holds a control character or a lone surrogate, and no
    database stores NUL (PostgreSQL refuses it), so those become "?".
    """
    text = "".join(c if c.isprintable() else "?" for c in username)
    return text.encode("utf-8", "replace").decode("utf-8")


def _https_url() -> str:
    """This page over https: at PUBLIC_URL when that is https."""
    public = current_app.config["PUBLIC_URL"] or ""
    base = public if public.startswith("https://") else f"https://{request.host}"
    return base + request.full_path.rstrip("?")


def _check_next() -> None:
    """Refuse (400) a return address that no redirect can carry, e.g. with CR or LF in it."""
    target = request.args.get("next") or ""
    if CONTROL.search(target) or len(target) > 2048:
        abort(400, BAD_NEXT)


def _page(form: LoginForm, error: str | None = None, status: int = 200) -> Response:
    html = render_template("admin/login.html", form=form, error=error)
    return Response(html, status=status, mimetype="text/html")


def _needs_https(status: int = 200) -> Response:
    """The sign-in page without a form: the browser would drop the session cookie here."""
    html = render_template("admin/login.html", needs_https=True, https_url=_https_url())
    return Response(html, status=status, mimetype="text/html")


@bp.errorhandler(CSRFError)
def csrf_refused(e: CSRFError) -> Response | tuple[str, int]:
    """Over plain http the session cookie never came back: say that, not "token missing"."""
    if cookies_need_https():
        return _needs_https(400)
    return error_page(e)


def _wait_page(form: LoginForm, what: str, wait: int) -> Response:
    minutes = math.ceil(wait / 60)
    response = _page(
        form, f"{what} Wait {minutes} minute{'s' if minutes != 1 else ''} and try again.", 429
    )
    response.headers["Retry-After"] = str(wait)
    return response


def _throttled(form: LoginForm, username: str, wait: int, now: float) -> Response:
    since = datetime.fromtimestamp(now - _window(), UTC)
    audit.count_throttled(get_db(), username, request.remote_addr, since)
    return _wait_page(form, "Too many failed sign-ins.", wait)


def _signed_in(username: str) -> Response:
    db = get_db()
    admin_sessions.end(db, session.get("admin"))
    session.clear()
    session["admin"] = admin_sessions.start(db, username, request.remote_addr, time.time())
    session["who"] = username
    audit.append(db, "login", username, request.remote_addr)
    return redirect(_next_url())


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response:
    if cookies_need_https():
        return _needs_https()
    _check_next()
    form = LoginForm()
    if request.method == "GET":
        return _page(form)
    wait = ratelimit.wait_for("sign_in")
    if wait is not None:  # nothing is written for these, not even an audit entry
        return _wait_page(form, "Too many sign-in attempts from your network.", wait)
    db, now = get_db(), time.time()
    username = storable((form.username.data or "").strip())
    keys = login_throttle.keys(username, request.remote_addr)
    most = current_app.config["ADMIN_LOGIN_MAX_FAILURES"]
    wait, counted = login_throttle.begin(db, keys, most, _window(), now)
    if wait is not None:
        return _throttled(form, username, wait, now)
    if not form.validate():
        login_throttle.not_counted(db, counted)
        return _page(form, status=400)
    if admins.authenticate(db, username, form.password.data):
        login_throttle.succeeded(db, keys, counted)
        return _signed_in(username)
    audit.append(db, "login_failed", username, request.remote_addr)
    return _page(form, FAILED, 401)


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Response:
    if request.method == "GET":
        return Response(render_template("admin/logout.html"), mimetype="text/html")
    admin_sessions.end(get_db(), session.get("admin"))
    audit.append(get_db(), "logout", g.admin, request.remote_addr)
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("admin.login"))
