"""``GET /admin/``: consent statistics and gateway health for a period.

Every decision figure comes from the daily aggregates (``stats``); the gateway
figures from ``gateway_daily``, the outbox and the incremental
``forwarding_check``. Nothing here reads the consent log row by row.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from flask import Response, current_app, render_template, request

from ..consent import policy_history
from ..consent.gate import current_policy
from ..consent.methods import CONSOLE_LABELS
from ..consent.policy import LANGS
from ..db import get_db
from ..gateway import forwarding_check, outbox
from ..gateway.targets import TARGETS
from . import period, stats
from .blueprint import bp
from .dashboard_charts import decisions_chart, gateway_chart, optin_chart

DEAD_ON_DASHBOARD = 5


def gateway_health(db, now: float) -> dict:
    """Outbox state and the forwarded-without-consent check (shared with the outbox page)."""
    return {
        "outbox": outbox.stats(db, now),
        "check": forwarding_check.refresh(db, current_app.config["CONSENT_MAX_AGE_DAYS"], now),
        "targets": {t.name: t.category for t in TARGETS},
    }


@bp.get("/")
def dashboard() -> Response:
    db, now = get_db(), time.time()
    versions = policy_history.versions(db)
    today = datetime.fromtimestamp(now, UTC).date()
    choice = period.parse(request.args, today, [v.version for v in versions])
    f = choice.filters
    summary = stats.summary(db, f, current_policy().optional)
    gateway = stats.gateway_by_day(db, f.start, f.end)
    html = render_template(
        "admin/dashboard.html",
        choice=choice,
        summary=summary,
        versions=versions,
        langs=LANGS,
        methods=CONSOLE_LABELS,
        decisions_chart=decisions_chart(summary),
        optin_chart=optin_chart(summary),
        pages=stats.top_pages(db, f.start, f.end),
        gateway=gateway,
        gateway_chart=gateway_chart(gateway, f.days()),
        health=gateway_health(db, now),
        dead=outbox.dead_items(db, DEAD_ON_DASHBOARD),
    )
    return Response(html, mimetype="text/html")
