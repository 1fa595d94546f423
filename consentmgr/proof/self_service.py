"""``/mine-data``: what consentmgr holds about this browser, as a download, and erasure.

The visitor is identified only by the consent id in their signed cookie;
there is no account, so the cookie is the key to the data and nothing else
is asked for. Only the cookie carrying the id's latest decision is that key
(``gate.visitor_id``; expired or from an older policy version still counts):
an old copy of it, kept in another profile or a backup or copied by someone,
gets the page of a browser without a decision, so it cannot read what the
visitor chose since, download it or erase it. What is held:

* the decisions logged under that id, with their personal fields (page,
  browser family, network prefix);
* the gateway items queued for Matomo or Meta under that id. They are sealed
  at rest (``sealed``) and opened here so the visitor sees what would be, or
  was, sent.

*Erase* is two steps, like the console's: ``GET /mine-data/slett`` says what
will be deleted and what cannot be (what was already sent to Matomo or
Meta), and its form posts to ``POST /mine-data/slett``, which blanks the
personal fields of the id's decisions through
``consent_log.erase`` (the rows stay, anonymous, so the chain still verifies
and the daily aggregates are untouched), deletes the id's items not yet
delivered, empties the copies of those already delivered (``outbox.erase_visitor``)
and clears the consent cookie, so the browser is a stranger again and the
banner asks anew. The tracker cookies of the policy's optional categories
that the request carries (``_pk_id.*``, ``_fbp``, ``_fbc``) are deleted in
the same response, not left for the next page that loads the banner.

Another site cannot erase a visitor's record: the form must come from an
allowed origin and carry a token signed for this visitor's consent id, which
only a page of ours showing that visitor's data can hand out. Binding the
token to the consent id rather than to a session means a visitor who opens
this page gets no cookie beyond the consent cookie they already have.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    make_response,
    request,
)
from itsdangerous import BadData, URLSafeTimedSerializer

from .. import signing
from ..consent import cookie as consent_cookie
from ..consent import log as consent_log
from ..consent.gate import current_policy, visitor_id
from ..consent.policy import cookie_patterns
from ..db import get_db
from ..gateway import outbox, sealed
from ..storage import Storage
from ..web import i18n, ratelimit
from ..web.errors import ApiError, visitor_abort
from ..web.origin import require_allowed_origin
from ..web.security_headers import private
from . import retention

bp = Blueprint("self_service", __name__)

DOWNLOAD_NAME = "mine-data.json"
ERASE_SALT = "consentmgr.mine-data.erase"
ERASE_TOKEN_MAX_AGE = 3600


def _erase_tokens(app: Flask) -> URLSafeTimedSerializer:
    return signing.serializer(app, ERASE_SALT, timed=True)


def erase_token(consent_id: str) -> str:
    """The erase form's token: this consent id, signed and timestamped."""
    return _erase_tokens(current_app).dumps(consent_id)


def check_erase_token(token: str, consent_id: str) -> None:
    """Refuse (400) a token that is missing, forged, over an hour old or for another visitor."""
    try:
        bound = _erase_tokens(current_app).loads(token, max_age=ERASE_TOKEN_MAX_AGE)
    except BadData:
        visitor_abort(400, "stale_form")
    if not hmac.compare_digest(str(bound).encode(), consent_id.encode()):
        visitor_abort(400, "stale_form")


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def decisions(db: Storage, consent_id: str) -> list[dict[str, Any]]:
    return [
        {
            "seq": r["seq"],
            "time": r["ts"],
            "version": r["version"],
            "revision": r["revision"],
            "choices": json.loads(r["choices"]),
            "method": r["method"],
            "lang": r["lang"],
            "page": r["page"],
            "ua_family": r["ua_family"],
            "ip_prefix": r["ip_prefix"],
            "chain_hash": r["chain_hash"],
        }
        for r in consent_log.history(db, consent_id)
    ]


def gateway_items(app: Flask, db: Storage, consent_id: str) -> list[dict[str, Any]]:
    """The id's outbox items, opened; delivered copies are listed until they are pruned."""
    keep = app.config["OUTBOX_KEEP_DAYS"] * 86400
    items = []
    for r in db.query("select * from outbox where consent_id = ? order by id", [consent_id]):
        try:
            payload, readable = sealed.unseal(app, r["payload"]), True
        except sealed.Unreadable:
            payload, readable = None, False
        items.append(
            {
                "id": r["id"],
                "target": r["target"],
                "status": r["status"],
                "created": _iso(r["created"]),
                "finished": _iso(r["finished"]),
                "deleted_after": _iso(r["finished"] + keep) if r["finished"] else None,
                "payload": payload,
                "readable": readable,
            }
        )
    return items


def held(app: Flask, db: Storage, consent_id: str, now: datetime) -> dict[str, Any]:
    """Everything consentmgr holds under one consent id: what the page shows and the download."""
    return {
        "generated": now.isoformat(timespec="seconds"),
        "consent_id": consent_id,
        "decisions": decisions(db, consent_id),
        "gateway_items": gateway_items(app, db, consent_id),
        "receipt": f"/receipt/{consent_id}",
    }


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Nested payloads as ``key.sub: value`` lines, for a readable list on the page."""
    if isinstance(value, list) and value and all(_is_pair(v) for v in value):
        value = dict(value)  # a Matomo hit: its query parameters as (name, value) pairs
    if isinstance(value, dict):
        for k, v in value.items():
            yield from flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        for i, v in enumerate(value):
            yield from flatten(v, f"{prefix}[{i}]")
    else:
        text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        yield prefix, text


def _is_pair(value: Any) -> bool:
    return isinstance(value, list | tuple) and len(value) == 2 and isinstance(value[0], str)


def category_names(lang: str) -> dict[str, str]:
    """Category ids by their names in the current policy, in ``lang``."""
    return {c["id"]: c["texts"][lang]["name"] for c in current_policy().categories}


def tracker_cookies() -> list[str]:
    """The request's cookies that belong to an optional category (``_pk_id.1.ab12``, ``_fbp``)."""
    patterns = [
        re.escape(p.name).replace(r"\*", ".*")
        for c in current_policy().categories
        if not c.get("required")
        for p in cookie_patterns(c)
    ]
    if not patterns:
        return []
    pattern = re.compile("|".join(patterns))
    return sorted(name for name in request.cookies if pattern.fullmatch(name))


def delete_cookies(response: Response, names: list[str]) -> None:
    """Expire cookies on this host and on ``COOKIE_DOMAIN``, where the service set its own."""
    config = current_app.config
    for name in names:
        for domain in dict.fromkeys((None, config["COOKIE_DOMAIN"])):
            response.delete_cookie(
                name, path="/", domain=domain, secure=config["COOKIE_SECURE"], samesite="Lax"
            )


def erase_plan(app: Flask, db: Storage, consent_id: str) -> dict[str, Any] | None:
    """What erasing ``consent_id`` would delete, and what already left for an upstream."""
    data = held(app, db, consent_id, datetime.now(UTC))
    if not data["decisions"] and not data["gateway_items"]:
        return None
    items = data["gateway_items"]
    sent_to: dict[str, int] = {}
    for item in items:
        if item["status"] == "delivered":
            sent_to[item["target"]] = sent_to.get(item["target"], 0) + 1
    return {
        "decisions": len(data["decisions"]),
        "pending": sum(1 for i in items if i["status"] != "delivered"),
        "sent": sum(1 for i in items if i["status"] == "delivered" and i["readable"]),
        "sent_to": sent_to,
    }


def upstream_hosts(app: Flask) -> dict[str, str]:
    config = app.config
    return {
        "matomo": urlsplit(config["MATOMO_URL"] or "").hostname or "Matomo",
        "meta": urlsplit(config["META_GRAPH_URL"] or "").hostname or "Meta",
    }


@bp.get("/mine-data")
def show() -> Response:
    consent_id = visitor_id()
    data = None
    if consent_id:
        data = held(current_app, get_db(), consent_id, datetime.now(UTC))
    html = i18n.render(
        "mine_data.html",
        data=data,
        categories=category_names(i18n.negotiate()),
        flatten=flatten,
        keep_days=current_app.config["OUTBOX_KEEP_DAYS"],
    )
    return i18n.vary(private(make_response(html)))


@bp.get("/mine-data/slett")
def confirm_erase() -> Response:
    """The confirmation step: what erasing deletes, what it cannot, and the form that does it."""
    consent_id = visitor_id()
    plan = erase_plan(current_app, get_db(), consent_id) if consent_id else None
    html = i18n.render(
        "mine_data_erase.html",
        plan=plan,
        erase_token=erase_token(consent_id) if consent_id else None,
        cookie_name=current_app.config["COOKIE_NAME"],
        tracker_cookies=tracker_cookies(),
        hosts=upstream_hosts(current_app),
    )
    return i18n.vary(private(make_response(html)))


@bp.get("/mine-data.json")
def download() -> Response:
    consent_id = visitor_id()
    now = datetime.now(UTC)
    data = (
        held(current_app, get_db(), consent_id, now)
        if consent_id
        else {"generated": now.isoformat(timespec="seconds"), "consent_id": None}
    )
    response = make_response(json.dumps(data, ensure_ascii=False, indent=2))
    response.mimetype = "application/json"
    response.headers["Content-Disposition"] = f'attachment; filename="{DOWNLOAD_NAME}"'
    return private(response)


@bp.post("/mine-data/slett")
def erase() -> Response:
    try:
        require_allowed_origin()
    except ApiError:
        visitor_abort(403, "foreign_origin")
    wait = ratelimit.wait_for("erasures")
    if wait is not None:  # a page in the visitor's language, not the API's JSON
        visitor_abort(429, retry_after=wait)
    consent_id = visitor_id()
    erased, hits = 0, outbox.Erased(0, 0, 0)
    if consent_id:
        check_erase_token(request.form.get("token", ""), consent_id)
        db = get_db()
        erased, hits = retention.erase(db, consent_id, datetime.now(UTC))
    trackers = tracker_cookies()
    response = make_response(
        i18n.render(
            "mine_data_erased.html",
            had_id=consent_id is not None,
            erased=erased,
            hits=hits,
            tracker_cookies=trackers,
        )
    )
    consent_cookie.clear_cookie(current_app, response)
    delete_cookies(response, trackers)
    return i18n.vary(private(response))
