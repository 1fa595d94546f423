"""JSON errors for the machine-facing endpoints (consent API, gateway)."""

from __future__ import annotations

from flask import Flask, jsonify
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
        # Nothing was written: the client may send it again, and the banner keeps the page usable.
        app.logger.warning("database unavailable: %s", e)
        response = json_error(503, "the service is briefly unavailable; try again shortly")
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(e: HTTPException):
        return json_error(413, "request body is too large")
