"""JSON errors for the machine-facing endpoints (consent API, gateway); error pages for visitors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import NoReturn

from flask import Flask, abort, current_app, jsonify, make_response, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ..storage import Unavailable

#: Seconds a client is asked to wait while the database cannot be reached.
RETRY_AFTER_SECONDS = 5


class ApiError(Exception):
    """An error answered as ``{"error": message}`` with ``status``; nothing was written."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def json_error(status: int, message: str):
    response = jsonify(error=message)
    response.status_code = status
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(e: ApiError):
        response = json_error(e.status, e.message)
        response.headers.update(e.headers)
        return response

    @app.errorhandler(Unavailable)
    def _unavailable(e: Unavailable):
        # The client may send it again, and the banner keeps the page usable. Nothing was
        # written, unless the connection dropped after a commit (README, "Several servers").
        app.logger.warning("database unavailable: %s", e)
        response = json_error(503, "the service is briefly unavailable; try again shortly")
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(e: HTTPException):
        return json_error(413, "request body is too large")


# -- error pages for visitors --------------------------------------------------------------
#
# A visitor who reaches a missing page, an expired erase form or a failure gets
# a page in their language (``i18n``) with a way on, not Werkzeug's English
# text. Machine endpoints (the consent API, the gateway, scripts, health) and
# the admin console keep their own answers.

VISITOR_STATUSES = (400, 403, 404, 429, 500, 503)
MACHINE_BLUEPRINTS = frozenset(
    {"consent_api", "matomo_gateway", "meta_gateway", "banner", "health", "admin"}
)
MACHINE_PREFIXES = ("/api/", "/admin", "/static/")


def visitor_abort(
    status: int, reason: str | None = None, *, retry_after: int | None = None
) -> NoReturn:
    """Stop with ``status``; a visitor's error page explains ``reason`` (``error.reason.*``),
    or the status's own text, and a 429 or 503 says when to try again (``Retry-After``)."""
    try:
        abort(status)
    except HTTPException as e:
        e.visitor_reason = reason  # type: ignore[attr-defined]
        if retry_after is not None:
            e.retry_after = retry_after  # type: ignore[attr-defined]
        raise


def is_for_visitors() -> bool:
    if request.blueprint in MACHINE_BLUEPRINTS or request.path.startswith(MACHINE_PREFIXES):
        return False
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best != "application/json" or request.accept_mimetypes["text/html"] > 0


def visitor_error_page(e: HTTPException, earlier: Mapping[type, Callable] | None = None):
    """The error as a page in the visitor's language, keeping headers such as Retry-After.

    Requests that are not a visitor's get the handler registered for the status
    before this one (``earlier``), if any, else the plain answer.
    """
    if not is_for_visitors():
        for cls in type(e).__mro__:
            if earlier and cls in earlier:
                return earlier[cls](e)
        return e
    from . import i18n

    status = e.code or 500
    try:
        html = i18n.render(
            "visitor_error.html", status=status, reason=getattr(e, "visitor_reason", None)
        )
    except Exception:  # noqa: BLE001 (the page itself failed: fall back to the plain answer)
        current_app.logger.exception("cannot render the error page for %s", status)
        return e
    response = make_response(html, status)
    for name, value in e.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    response.headers["Cache-Control"] = "no-store"
    return i18n.vary(response)


def init_visitor_pages(app: Flask) -> None:
    """Register the visitor pages; a handler already registered for a status still answers
    the requests that are not a visitor's."""
    for status in VISITOR_STATUSES:
        earlier = dict(app.error_handler_spec[None].get(status, {}))
        app.register_error_handler(status, partial(visitor_error_page, earlier=earlier))
