"""The consent API: read, record and withdraw a visitor's decision.

This is the server half of the *decision* flow: the banner posts here, and a
decision becomes a signed cookie (``consent_cookie``), a row in the
tamper-evident log (``consent_log``) and a count in the daily aggregates
(``daily_stats``), all before the 201 is sent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from ..db import get_db
from ..gateway import outbox
from ..proof import checkpoints
from ..web import ratelimit
from ..web.errors import ApiError
from ..web.origin import add_cors_headers, preflight, require_allowed_origin
from ..web.request_body import json_object
from . import cookie as consent_cookie
from . import log as consent_log
from . import methods
from .cookie import Consent
from .gate import current_consent, current_policy, is_latest, is_superseded
from .policy import DEFAULT_LANG, LANGS, Policy
from .visitor import ip_prefix, page_url, ua_family

bp = Blueprint("consent_api", __name__, url_prefix="/api")

MAX_BODY = 4096


def sends_gpc() -> bool:
    return request.headers.get("Sec-GPC") == "1" or request.headers.get("DNT") == "1"


def state(consent: Consent | None, *, expired: bool = False) -> dict[str, Any]:
    policy = current_policy()
    max_age = current_app.config["CONSENT_MAX_AGE_DAYS"]
    # Whenever the banner would ask, a browser sending GPC is answered with a refusal.
    gpc = bool(current_app.config["HONOR_GPC"] and sends_gpc())
    if consent is None:
        return {
            "decided": False,
            "stale": expired,
            "id": None,
            "version": policy.version,
            "choices": {c: False for c in policy.optional},
            "expires": None,
            "gpc": gpc,
        }
    stale = consent.version != policy.version
    return {
        "decided": True,
        "stale": stale,
        "id": consent.id,
        "version": policy.version,
        "choices": {c: c in consent.granted for c in policy.optional},
        "expires": consent.expires(max_age).isoformat(timespec="seconds"),
        "gpc": stale and gpc,
    }


def parse_decision(body: dict[str, Any], policy: Policy) -> tuple[dict[str, bool], str, str]:
    """Check a posted decision; return (choices, method, lang) or raise a 400."""
    unknown = set(body) - {"choices", "method", "lang", "page"}
    if unknown:
        raise ApiError(400, f"unknown field: {sorted(unknown)[0]}")
    method = body.get("method")
    if method not in methods.POSTED:
        raise ApiError(400, f"method must be one of {', '.join(methods.POSTED)}")
    lang = _lang(body)
    posted = body.get("choices")
    if not isinstance(posted, dict):
        raise ApiError(400, "choices must be an object of category: true/false")
    choices = {c: False for c in policy.optional}
    for category, value in posted.items():
        if not isinstance(value, bool):
            raise ApiError(400, f"choice for {category!r} must be true or false")
        if category in policy.required:
            if not value:
                raise ApiError(400, f"{category!r} is always on and cannot be false")
            continue
        if category not in choices:
            raise ApiError(400, f"unknown category: {category!r}")
        choices[category] = value
    if method == "accept_all" and not all(choices.values()):
        raise ApiError(400, "accept_all must grant every category")
    if method in ("reject_all", "gpc") and any(choices.values()):
        raise ApiError(400, f"{method} must refuse every optional category")
    return choices, method, lang


def save_decision(
    choices: dict[str, bool], method: str, lang: str, page: str | None, status: int = 201
) -> Response:
    """Log the decision, then answer with the new state and a fresh cookie."""
    policy = current_policy()
    previous = current_consent(allow_expired=True)
    if previous is not None and is_superseded(previous):
        # An old copy of someone's cookie starts a new id: continuing theirs would make
        # its holder the latest decision, with their record at /mine-data and its erasure,
        # and would drop the visitor's queued hits it refuses. Expired still keeps the id.
        previous = None
    consent_id = previous.id if previous else consent_cookie.new_id()
    now = datetime.now(UTC)
    row = consent_log.append(
        get_db(),
        consent_log.Decision(
            consent_id=consent_id,
            version=policy.version,
            revision=policy.revision,
            choices=choices,
            method=method,
            lang=lang,
            page=page,
            ua_family=ua_family(request.user_agent.string),
            ip_prefix=ip_prefix(request.remote_addr),
        ),
        now,
    )
    checkpoints.after_append(current_app, get_db(), row, now)
    if previous:
        outbox.forget_refused(get_db(), consent_id, choices)
    granted = frozenset(c for c, on in choices.items() if on)
    consent = Consent(consent_id, policy.version, granted, now.replace(microsecond=0))
    body = state(consent) | {"receipt": f"/receipt/{consent_id}"}
    response = jsonify(body)
    response.status_code = status
    consent_cookie.set_cookie(current_app, response, consent)
    return response


def _lang(body: dict[str, Any]) -> str:
    lang = body.get("lang", DEFAULT_LANG)
    if lang not in LANGS:
        raise ApiError(400, f"lang must be one of {', '.join(LANGS)}")
    return lang


def _page(body: dict[str, Any]) -> str | None:
    try:
        return page_url(body.get("page"))
    except ValueError as e:
        raise ApiError(400, str(e)) from None


@bp.get("/consent")
def read() -> Response:
    value = request.cookies.get(current_app.config["COOKIE_NAME"])
    consent = current_consent()
    if consent is not None and not is_latest(consent):
        # An old copy of the cookie: the visitor has decided since, or was erased.
        return jsonify(state(None, expired=True))
    expired = consent is None and (
        consent_cookie.decode(current_app, value, allow_expired=True) is not None
    )
    return jsonify(state(consent, expired=expired))


@bp.post("/consent")
def decide() -> Response:
    require_allowed_origin()
    ratelimit.check("decisions")
    body = json_object(MAX_BODY)
    choices, method, lang = parse_decision(body, current_policy())
    return save_decision(choices, method, lang, _page(body))


@bp.delete("/consent")
def withdraw() -> Response:
    require_allowed_origin()
    ratelimit.check("decisions")
    body = json_object(MAX_BODY, optional=True)
    unknown = set(body) - {"lang", "page"}
    if unknown:
        raise ApiError(400, f"unknown field: {sorted(unknown)[0]}")
    lang = _lang(body)
    choices = {c: False for c in current_policy().optional}
    return save_decision(choices, "withdraw", lang, _page(body), status=200)


@bp.before_request
def _preflight() -> Response | None:
    return preflight() if request.method == "OPTIONS" else None


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return add_cors_headers(response)
