"""The first-party Matomo endpoint: ``/matomo.php`` (and ``/piwik.php``).

This is the *hit* flow's front door. The visitor is answered at once; a hit
reaches Matomo only if the signed consent cookie grants ``analytics``:

    tracker -> /matomo.php -> consent_gate -> outbox -> deliver -> matomo_upstream

Without consent the hit is counted and forgotten; nothing about it is kept.
With consent it is cleaned (``matomo_hit``), sealed (``sealed``) and committed
to the outbox before the 204 is sent.
"""

from __future__ import annotations

import base64
import time

from flask import Blueprint, Response, current_app, request

from ...consent.gate import consent_for
from ...db import flush_soon, get_db
from ...web import ratelimit, scripts
from ...web.errors import ApiError
from ...web.request_body import read_body
from .. import counters as gateway_stats
from .. import deliver, outbox, sealed
from ..targets import MATOMO
from . import hit as matomo_hit

bp = Blueprint("matomo_gateway", __name__)

TARGET = MATOMO.name
MAX_BODY = 64 * 1024
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


class NoContent(Response):
    default_mimetype = None  # a 204 has no body, so no Content-Type either


def answer(image: bool) -> Response:
    if image:
        return Response(GIF, mimetype="image/gif", headers={"Cache-Control": "no-store"})
    return NoContent(status=204, headers={"Cache-Control": "no-store"})


def reject(status: int, message: str, hits: int = 1) -> ApiError:
    gateway_stats.tally(TARGET, "rejected_invalid", hits)
    return ApiError(status, message)


@bp.route("/matomo.php", methods=["GET", "POST"])
@bp.route("/piwik.php", methods=["GET", "POST"])
def track() -> Response:
    ratelimit.check(TARGET)  # one hit; the rest is taken once the request is read
    try:
        body = read_body(MAX_BODY)
        hits = matomo_hit.parse(request.args.items(multi=True), body)
    except ApiError as e:  # over MAX_BODY, with or without Content-Length
        raise reject(e.status, e.message) from None
    except matomo_hit.TooMany as e:
        raise reject(413, str(e)) from None
    except matomo_hit.InvalidHit as e:
        raise reject(400, str(e)) from None
    except UnicodeDecodeError:
        raise reject(400, "body is not UTF-8") from None
    ratelimit.check_rest(TARGET, len(hits), len(request.query_string) + len(body))

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    config = app.config
    image = matomo_hit.wants_image(hits)
    consent = consent_for(MATOMO.category)
    if consent is None:
        gateway_stats.tally(TARGET, "dropped_no_consent", len(hits))
        return answer(image)
    if not config["MATOMO_URL"]:
        return answer(image)

    now = time.time()
    visitor = {
        "client_ip": request.remote_addr or "",
        "user_agent": request.user_agent.string,
        "language": request.headers.get("Accept-Language", ""),
    }
    site_id = config["MATOMO_SITE_ID"]
    payloads = [
        sealed.seal(app, matomo_hit.clean(hit, site_id=site_id, accepted_at=now, **visitor))
        for hit in hits
    ]
    db = get_db()
    outbox.enqueue(db, TARGET, consent.id, payloads, now)
    flush_soon(app, db)
    deliver.wake(app)
    return answer(image)


@bp.get("/matomo.js")
def tracker() -> Response:
    """The first-party tracker; it waits for analytics consent before doing anything."""
    return scripts.serve("matomo.min.js")


@bp.get("/matomo-extra.js")
def tracker_extra() -> Response:
    """The tracker's rarer parts (e-commerce, content, heartbeat), loaded on their first call."""
    return scripts.serve("matomo-extra.min.js")
