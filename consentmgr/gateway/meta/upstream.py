"""Sending queued events to Meta's Conversions API in batches.

One POST to ``<META_GRAPH_URL>/<META_API_VERSION>/<META_PIXEL_ID>/events``
carries up to 1,000 events, with the access token in the body (not the URL,
so it stays out of access logs). Meta only accepts events up to 7 days old;
older ones are made dead instead of being sent late. Meta's error body
(``{"error": {...}}``) is kept on items it refuses; errors Meta marks
``is_transient`` (and rate limits) are retried. A batch refused for its
content (HTTP 400 not about the token) is split to find the events at fault.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import requests
from flask import Flask

from .. import upstream
from ..upstream import Outcome, Upstream

if TYPE_CHECKING:
    from ..outbox import Item

WINDOW_SECONDS = 7 * 86400 - 3600  # Meta's 7 days, less an hour of margin for the send
TRANSIENT_CODES = {1, 2, 4, 17, 32, 341, 613}
# Errors about the token or its permissions, not the events: splitting the batch cannot help.
ACCESS_CODES = {10, 102, 190, *range(200, 300)}


def configured(app: Flask) -> bool:
    return bool(app.config["META_PIXEL_ID"] and app.config["META_ACCESS_TOKEN"])


def max_age_seconds(app: Flask) -> float:
    return WINDOW_SECONDS


def endpoint(app: Flask) -> str:
    c = app.config
    return f"{c['META_GRAPH_URL'].rstrip('/')}/{c['META_API_VERSION']}/{c['META_PIXEL_ID']}/events"


def send(app: Flask, http: requests.Session, items: Sequence[Item]) -> Outcome:
    def body(events: list) -> dict:
        data = {"data": events, "access_token": app.config["META_ACCESS_TOKEN"]}
        if app.config["META_TEST_EVENT_CODE"]:
            data["test_event_code"] = app.config["META_TEST_EVENT_CODE"]
        return data

    encode = upstream.encodable_json
    return upstream.send_sealed(app, http, items, endpoint(app), encode, body, judge)


def judge(items: Sequence[Item], response: requests.Response) -> Outcome:
    return meta_error(items, response) or read_reply(items, response)


def meta_error(items: Sequence[Item], response: requests.Response) -> Outcome | None:
    """Meta's ``{"error": {...}}`` replies: transient ones retried, others dead with the body."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if not isinstance(error, dict):
        return upstream.http_failure(items, response)
    message = f"HTTP {response.status_code}: " + json.dumps({"error": error}, ensure_ascii=False)
    if error.get("is_transient") or error.get("code") in TRANSIENT_CODES:
        return Outcome.all_retry(items, message[:2000])
    about_content = response.status_code == 400 and error.get("code") not in ACCESS_CODES
    return Outcome.all_dead(items, message[:2000], split=about_content)


def read_reply(items: Sequence[Item], response: requests.Response) -> Outcome:
    try:
        received = response.json().get("events_received")
    except (ValueError, AttributeError):
        received = None
    if received == len(items):
        return Outcome(delivered=list(items))
    return Outcome.all_retry(
        items, f"Meta did not confirm the batch: {response.text[:300].strip() or '(empty)'}"
    )


UPSTREAM = Upstream(batch=1000, configured=configured, max_age_seconds=max_age_seconds, send=send)
