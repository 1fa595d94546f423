"""Consent receipts: the visitor's own proof of what they were shown and what they chose.

``GET /receipt/<id>`` lists every decision of one consent id with its time,
policy version and revision, choices, method, language, the exact category
texts that were shown (from ``policies``, so a later rewording does not
change them) and the row's chain hash. HTML for people; JSON for
``Accept: application/json`` or ``?format=json`` (a download). Only the
browser whose signed consent cookie carries that id's latest decision may see
it (``gate.visitor_id``: an expired cookie still may, an old copy of it may
not, since the receipt lists the decisions made since); everyone else gets
404, so a receipt URL reveals nothing, not even whether the id exists.

A receipt is evidence only if it can be checked later against the log:

* it is signed (itsdangerous, its own salt) over each decision's seq, content
  digest and chain hash, so neither the visitor nor anyone else can alter it
  unnoticed;
* each decision carries the latest signed checkpoint at or before it (see
  ``checkpoints``), a copy of the chain's state held outside the database.

``consentmgr verify-receipt FILE`` recomputes the digests and compares them,
the chain hashes and the heads with the log. If someone edited a decision
and recomputed the later hashes, the log's chain hash at the visitor's row no
longer equals the one in the receipt, and the check fails.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    make_response,
    request,
)
from itsdangerous import BadSignature, URLSafeSerializer

from .. import signing
from ..consent import log as consent_log
from ..consent.gate import visitor_id
from ..consent.policy import LEGACY_SHOWN, canonical, shown
from ..db import get_db
from ..storage import Storage
from ..web import i18n
from ..web.security_headers import private
from . import checkpoints

bp = Blueprint("receipts", __name__)

SALT = "consentmgr.receipt.v1"
FORMAT = 1
DOWNLOAD_NAME = "samtykkekvittering.json"
VARY = ("Cookie", "Accept", "Accept-Language")  # /receipt answers HTML or JSON by Accept


def _serializer(app: Flask) -> URLSafeSerializer:
    return signing.serializer(app, SALT)


def is_own(consent_id: str) -> bool:
    own = visitor_id()
    return own is not None and hmac.compare_digest(own.encode(), consent_id.encode())


def categories_shown(
    content: Mapping[str, Any] | None, lang: str, choices: Mapping[str, bool]
) -> list[dict[str, Any]]:
    """The category texts of one policy revision as the banner showed them, in its language.

    Only what the banner displayed is listed: the revision records it as
    ``shown``; revisions served before that showed ``policy.LEGACY_SHOWN``.
    """
    if content is None:
        return []
    fields = content.get("shown", LEGACY_SHOWN)
    out = []
    for c in content["categories"]:
        entry = {
            "id": c["id"],
            "required": bool(c.get("required")),
            "granted": True if c.get("required") else bool(choices.get(c["id"])),
        }
        for key in fields:
            if key == "vendors":
                entry["vendors"] = [v.get("name", v["id"]) for v in c["vendors"]]
            else:
                entry[key] = c["texts"][lang][key]
        out.append(entry)
    return out


def _row_fields(decision: Mapping[str, Any]) -> dict[str, Any]:
    """A receipt entry as the log row it claims to be, for ``consent_log.content_digest``."""
    return {
        "seq": decision["seq"],
        "ts": decision["time"],
        "version": decision["version"],
        "revision": decision["revision"],
        "choices": canonical(decision["choices"]).decode(),
        "method": decision["method"],
        "lang": decision["lang"],
        "personal_digest": decision["personal_digest"],
    }


def entry(db: Storage, row: Mapping[str, Any]) -> dict[str, Any]:
    """One decision of a receipt: the row, the texts shown, and the head it was issued under."""
    choices = json.loads(row["choices"])
    head = checkpoints.latest(db, row["seq"])
    return {
        "seq": row["seq"],
        "time": row["ts"],
        "version": row["version"],
        "revision": row["revision"],
        "choices": choices,
        "method": row["method"],
        "lang": row["lang"],
        "page": row["page"],
        "personal_digest": row["personal_digest"],
        "digest": consent_log.content_digest(row),
        "chain_hash": row["chain_hash"],
        "categories": categories_shown(
            shown(db, row["version"], row["revision"]), row["lang"], choices
        ),
        "head": checkpoints.export(head) if head else None,
    }


def build(app: Flask, db: Storage, consent_id: str, now: datetime) -> dict[str, Any] | None:
    """The signed receipt of one consent id, or None when the log holds nothing for it."""
    rows = consent_log.history(db, consent_id)
    if not rows:
        return None
    decisions = [entry(db, r) for r in rows]
    issued = now.isoformat(timespec="seconds")
    signed = {
        "id": consent_id,
        "issued": issued,
        "rows": [[d["seq"], d["digest"], d["chain_hash"]] for d in decisions],
    }
    return {
        "receipt": FORMAT,
        "consent_id": consent_id,
        "issued": issued,
        "decisions": decisions,
        "signature": _serializer(app).dumps(signed),
    }


def verify(app: Flask, db: Storage, receipt: Any) -> list[str]:
    """Check a receipt against the log; return what does not hold (empty: it verifies)."""
    try:
        signed = _serializer(app).loads(receipt["signature"])
        decisions = receipt["decisions"]
        listed = [[d["seq"], d["digest"], d["chain_hash"]] for d in decisions]
    except (BadSignature, KeyError, TypeError, ValueError):
        return [
            "the receipt's signature is missing or not valid: it was not issued by this service"
        ]
    if signed != {"id": receipt.get("consent_id"), "issued": receipt.get("issued"), "rows": listed}:
        return ["the receipt's content differs from what was signed: it was altered"]

    problems: list[str] = []
    for d in decisions:
        seq = d["seq"]
        try:
            claimed = _row_fields(d)
        except (KeyError, TypeError, ValueError):
            problems.append(f"decision seq {seq}: the receipt lacks fields needed to check it")
            continue
        if consent_log.content_digest(claimed) != d["digest"]:
            problems.append(f"decision seq {seq}: its fields were altered after signing")
            continue
        row = _log_row(db, seq)
        if row is None:
            problems.append(f"decision seq {seq} is no longer in the log")
            continue
        changed = [k for k in claimed if claimed[k] != row[k]]
        if changed:
            problems.append(
                f"decision seq {seq}: the log now says something else ({', '.join(changed)})"
            )
        if row["chain_hash"] != d["chain_hash"]:
            problems.append(
                f"decision seq {seq}: the log's chain hash differs from the receipt's;"
                f" the log was changed at or before seq {seq} after the receipt was issued"
            )
        problems.extend(_check_head(app, db, seq, d.get("head")))
    return problems


def _log_row(db: Storage, seq: int) -> dict[str, Any] | None:
    return next(db.query("select * from decisions where seq = ?", [seq]), None)


def _check_head(app: Flask, db: Storage, seq: int, head: Mapping[str, Any] | None) -> list[str]:
    if not head:
        return []
    try:
        signed = checkpoints.open_signed(app, head["signed"])
    except (checkpoints.BadCheckpoint, KeyError, TypeError):
        return [f"decision seq {seq}: the signed head in the receipt does not verify"]
    at = db.execute("select chain_hash from decisions where seq = ?", [signed.seq]).fetchone()
    if at is None or at[0] != signed.chain_hash:
        return [
            f"decision seq {seq}: the log no longer passes through the signed head"
            f" at seq {signed.seq} that the receipt carries"
        ]
    return []


def wants_json() -> bool:
    if request.args.get("format") == "json":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


@bp.get("/receipt/<consent_id>")
def show(consent_id: str) -> Response:
    as_json = wants_json()
    receipt = None
    if is_own(consent_id):
        receipt = build(current_app, get_db(), consent_id, datetime.now(UTC))
    if receipt is None:
        if as_json:
            response = jsonify(error="no receipt for this id in this browser")
            response.status_code = 404
            return private(response, VARY)
        abort(404)
    if as_json:
        response = make_response(json.dumps(receipt, ensure_ascii=False, indent=2))
        response.mimetype = "application/json"
        if request.args.get("format") == "json":
            response.headers["Content-Disposition"] = f'attachment; filename="{DOWNLOAD_NAME}"'
        return private(response, VARY)
    html = i18n.render("receipt.html", receipt=receipt)
    return private(make_response(html), VARY)
