"""``/admin/scans``: the cookie audits run with ``consentmgr scan``, newest first, and each one's
findings, what changed since the previous scan of the same site, and the full report."""

from __future__ import annotations

from flask import Response, abort, render_template

from ..db import get_db
from ..scan import report, store
from .blueprint import bp

LISTED = 100


@bp.get("/scans")
def scans_page() -> Response:
    html = render_template("admin/scans.html", scans=store.recent(get_db(), LISTED), listed=LISTED)
    return Response(html, mimetype="text/html")


@bp.get("/scans/<int(max=9223372036854775807):scan_id>")  # SQLite's largest id; more: 404
def scan_page(scan_id: int) -> Response:
    db = get_db()
    scan = store.get(db, scan_id)
    if scan is None:
        abort(404, f"There is no scan {scan_id}.")
    before = store.previous(db, scan)
    html = render_template(
        "admin/scan.html",
        scan=scan,
        r=scan["report"],
        before=before,
        changes=store.changes(before["report"], scan["report"]) if before else None,
        **report.template_globals(),
    )
    return Response(html, mimetype="text/html")
