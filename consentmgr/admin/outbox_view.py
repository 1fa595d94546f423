"""``/admin/outbox``: gateway health, every dead item with its last error, and retry."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from flask import Response, abort, flash, g, redirect, render_template, request, url_for

from ..db import get_db
from ..gateway import outbox
from . import audit, stats
from .blueprint import bp
from .dashboard import gateway_health
from .dashboard_charts import gateway_chart

DAYS = 30
ITEM_ID = re.compile(r"[0-9]{1,18}")  # fits a 64-bit id; str.isdigit() also takes "²"
DEAD_LISTED = 200


@bp.get("/outbox")
def outbox_page() -> Response:
    db, now = get_db(), time.time()
    today = datetime.fromtimestamp(now, UTC).date()
    start = today - timedelta(days=DAYS - 1)
    gateway, days = stats.gateway_by_day(db, start, today), stats.Filters(start, today).days()
    html = render_template(
        "admin/outbox.html",
        health=gateway_health(db, now),
        gateway=gateway,
        gateway_chart=gateway_chart(gateway, days),
        start=start,
        end=today,
        days=days,
        dead=outbox.dead_items(db, DEAD_LISTED),
    )
    return Response(html, mimetype="text/html")


@bp.post("/outbox/retry")
def retry() -> Response:
    """Put one dead item (``id``) or every dead item (no ``id``) back in the queue."""
    raw = request.form.get("id")
    if raw is not None and not ITEM_ID.fullmatch(raw):
        abort(400, "The item to retry must be given by its number.")
    ids = [int(raw)] if raw is not None else None
    n = outbox.retry_dead(get_db(), time.time(), ids)
    what = f"item {ids[0]}" if ids else "all dead items"
    audit.append(get_db(), "retry", g.admin, request.remote_addr, f"{what}: {n} re-queued")
    flash(f"Re-queued {n} dead item{'s' if n != 1 else ''}; the deliverer sends them next.")
    back = "admin.dashboard" if request.form.get("back") == "dashboard" else "admin.outbox_page"
    return redirect(url_for(back))
