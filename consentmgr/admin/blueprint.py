"""The ``/admin`` blueprint and the rule that every page but sign-in needs a live session."""

from __future__ import annotations

import time

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import HTTPException

from ..db import get_db
from . import audit
from . import sessions as admin_sessions

bp = Blueprint("admin", __name__, url_prefix="/admin")

OPEN_ENDPOINTS = ("admin.login",)


def idle_seconds() -> float:
    return current_app.config["ADMIN_IDLE_MINUTES"] * 60


@bp.before_request
def require_session() -> Response | None:
    """Send anyone without a live session to the sign-in page, remembering where they were."""
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    token = session.get("admin")
    username = admin_sessions.resume(get_db(), token, idle_seconds(), time.time())
    if username is not None:
        g.admin = username
        return None
    if token:
        audit.append(get_db(), "session_expired", session.get("who"), request.remote_addr)
        session.clear()
        flash(
            f"You were signed out after {current_app.config['ADMIN_IDLE_MINUTES']} minutes"
            " without activity, or your session was ended. Please sign in again."
        )
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("admin.login", next=target))


@bp.after_request
def no_store(response: Response) -> Response:
    """Console pages show personal data: never cache them anywhere."""
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(400)
@bp.errorhandler(404)
@bp.errorhandler(405)
def error_page(e: HTTPException) -> tuple[str, int]:
    """Console errors as console pages, with the reason and a way back."""
    return render_template("admin/error.html", status=e.code, message=e.description), e.code or 500
