"""``POST /fb/events``: Meta pixel events, sent server-side and only with consent.

The ``fbq()`` shim posts here instead of loading anything from Facebook:

    fbq() shim -> /fb/events -> consent_gate -> outbox -> deliver -> meta_upstream

Without ``marketing`` consent the event is counted and forgotten. With it, the
server builds the Conversions API event (``meta_event``), hashing the
advanced matching values on arrival (``matching``), sets the first-party
``_fbp``/``_fbc`` cookies, seals the event and commits it to the outbox
before answering 204.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, request

from ...consent.gate import consent_for
from ...db import flush_soon, get_db
from ...web import ratelimit, scripts
from ...web.errors import ApiError
from ...web.origin import add_cors_headers, preflight, require_allowed_origin
from ...web.request_body import json_object
from .. import counters as gateway_stats
from .. import deliver, outbox, sealed
from ..targets import META
from . import event as meta_event
from . import shim as shim_script

bp = Blueprint("meta_gateway", __name__)

TARGET = META.name
MAX_BODY = 4096
COOKIE_MAX_AGE = 90 * 86400


def _cookie(response: Response, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        max_age=COOKIE_MAX_AGE,
        domain=current_app.config["COOKIE_DOMAIN"],
        secure=current_app.config["COOKIE_SECURE"],
        samesite="Lax",
        path="/",
    )


@bp.post("/fb/events")
def track() -> Response:
    require_allowed_origin()
    ratelimit.check(TARGET)  # one event; a larger body pays the rest once it is read
    db = get_db()
    try:
        parts = meta_event.parse(json_object(MAX_BODY))
    except meta_event.InvalidEvent as e:
        gateway_stats.tally(TARGET, "rejected_invalid")
        raise ApiError(400, str(e)) from None
    except ApiError:
        gateway_stats.tally(TARGET, "rejected_invalid")
        raise
    ratelimit.check_rest(TARGET, 1, len(request.get_data(cache=True)))

    response = Response(status=204, headers={"Cache-Control": "no-store"})
    consent = consent_for(META.category)
    if consent is None:
        gateway_stats.tally(TARGET, "dropped_no_consent")
        return response
    if not current_app.config["META_PIXEL_ID"]:
        return response

    now = time.time()
    fbp = request.cookies.get("_fbp")
    if not fbp or not meta_event.FBP.fullmatch(fbp):
        fbp = meta_event.new_fbp(now)
        _cookie(response, "_fbp", fbp)
    fbclid = meta_event.fbclid_of(parts["page"])
    fbc = request.cookies.get("_fbc")
    if fbclid and not (fbc and fbc.endswith("." + fbclid)):
        fbc = meta_event.fbc_for(fbclid, now)
        _cookie(response, "_fbc", fbc)
    elif fbc and not meta_event.FBC.fullmatch(fbc):
        fbc = None
    event = meta_event.capi_event(
        parts,
        consent_id=consent.id,
        client_ip=request.remote_addr or "",
        user_agent=request.user_agent.string,
        fbp=fbp,
        fbc=fbc,
        accepted_at=now,
    )
    outbox.enqueue(db, TARGET, consent.id, [sealed.seal(current_app, event)], now)
    flush_soon(current_app, db)
    deliver.wake(current_app)
    return response


@bp.route("/fb/events", methods=["OPTIONS"], provide_automatic_options=False)
def events_preflight() -> Response:
    return preflight()


@bp.after_request
def _cors(response: Response) -> Response:
    return add_cors_headers(response, methods="POST")


@bp.get("/fbq.js")
def shim() -> Response:
    """The ``fbq()`` shim; it waits for marketing consent and loads nothing from Facebook."""
    return scripts.serve(
        "fbq.min.js", lambda text: shim_script.with_pixel(text, current_app.config)
    )
