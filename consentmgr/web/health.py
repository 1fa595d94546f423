"""``GET /health`` for load balancers and monitoring: the app is up and the database answers."""

from flask import Blueprint, jsonify

from ..db import get_db

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    get_db().execute("select 1").fetchone()
    return jsonify(status="ok")
