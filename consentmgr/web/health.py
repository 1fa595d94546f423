"""``GET /health`` for load balancers and monitoring: the app is up and the database answers."""

from flask import Blueprint, jsonify

from ..db import get_db
from ..storage import Unavailable
from .errors import RETRY_AFTER_SECONDS

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    try:
        get_db().execute("select 1").fetchone()
    except Unavailable:
        response = jsonify(status="down", database="down")
        response.status_code = 503
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return jsonify(status="ok", database="ok")
