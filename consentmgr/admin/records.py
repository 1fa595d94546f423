"""One consent id: its full history and the policy it was shown, and its erasure.

Looking a record up shows personal data, so it is audit-logged like the
erasure itself. The audit entries name the log rows by sequence number, never
by consent id: after an erasure nothing in the database links the id to the
rows any more, the audit trail included.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from flask import (
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)

from ..consent import log as consent_log
from ..consent import policy
from ..db import get_db
from ..proof import retention
from . import audit
from .blueprint import bp

MAX_ID_LENGTH = 128


def _seqs(rows: list[dict]) -> str:
    seqs = [str(r["seq"]) for r in rows]
    return f"seq {', '.join(seqs)} ({len(seqs)} decision{'s' if len(seqs) != 1 else ''})"


def chain_ok(db, row: dict) -> bool:
    """Whether the row's chain hash follows from the previous row's and its own content."""
    prev = db.execute("select chain_hash from decisions where seq = ?", [row["seq"] - 1]).fetchone()
    previous = prev[0] if prev else consent_log.GENESIS
    return consent_log.chain(previous, consent_log.content_digest(row)) == row["chain_hash"]


def shown_policies(db, rows: list[dict]) -> list[dict]:
    """The policy text each decision was made on, once per version, revision and language."""
    seen, out = set(), []
    for row in rows:
        key = (row["version"], row["revision"], row["lang"])
        if key in seen:
            continue
        seen.add(key)
        content = policy.shown(db, row["version"], row["revision"])
        out.append({"version": key[0], "revision": key[1], "lang": key[2], "content": content})
    return out


@bp.get("/consent")
def lookup() -> Response:
    consent_id = (request.args.get("id") or "").strip()
    if not consent_id:
        flash("Enter a consent id to look it up.")
        return redirect(url_for("admin.dashboard"))
    return redirect(url_for("admin.consent_history", consent_id=consent_id))


@bp.get("/consent/<consent_id>")
def consent_history(consent_id: str) -> Response:
    if len(consent_id) > MAX_ID_LENGTH:
        abort(404)
    db = get_db()
    rows = consent_log.history(db, consent_id)
    for row in rows:
        row["chain_ok"] = chain_ok(db, row)
        row["choice_map"] = json.loads(row["choices"])
    if rows:
        audit.append(db, "view_record", g.admin, request.remote_addr, _seqs(rows))
    html = render_template(
        "admin/record.html",
        consent_id=consent_id,
        rows=rows,
        policies=shown_policies(db, rows),
    )
    return Response(html, status=200 if rows else 404, mimetype="text/html")


@bp.get("/consent/<consent_id>/erase")
def confirm_erase(consent_id: str) -> Response:
    rows = consent_log.history(get_db(), consent_id)
    if not rows:
        abort(404)
    html = render_template("admin/erase.html", consent_id=consent_id, rows=rows)
    return Response(html, mimetype="text/html")


@bp.post("/consent/<consent_id>/erase")
def erase(consent_id: str) -> Response:
    """Blank the personal fields of every decision of the id; the chain keeps verifying."""
    if request.form.get("confirm") != consent_id:
        abort(400, "The erasure was not confirmed.")
    db = get_db()
    rows = consent_log.history(db, consent_id)
    if not rows:
        abort(404)
    _, hits = retention.erase(db, consent_id, datetime.now(UTC))
    audit.append(db, "erase", g.admin, request.remote_addr, "erased " + _seqs(rows))
    flash(
        f"Erased {_seqs(rows)}: the consent id, page, browser and network are blank;"
        " the decisions stay counted and the log still verifies."
        + (
            f" {hits.in_flight} hit(s) were already being sent and may still reach the upstream."
            if hits.in_flight
            else ""
        )
    )
    return redirect(url_for("admin.dashboard"))
