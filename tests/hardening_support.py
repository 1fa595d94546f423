"""Helpers for the hardening tests: an app with both upstreams, visitors, hits and events."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import pytest
from helpers import MATOMO_TOKEN, SITE, make_config, matomo_ok
from werkzeug import Response

from consentmgr import create_app

PIXEL = "123456789012345"
META_TOKEN = "EAAB-meta-access-token"
EVENTS_PATH = f"/v23.0/{PIXEL}/events"
UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"


def graph_ok(request):
    n = len(request.get_json(force=True)["data"])
    return Response(json.dumps({"events_received": n}), content_type="application/json")


def both_app(tmp_path, server, **overrides):
    """An app forwarding to a Matomo and a Meta stand-in, both on ``server``."""
    base = server.url_for("/").rstrip("/")
    settings = {
        "MATOMO_URL": base + "/",
        "MATOMO_SITE_ID": 7,
        "MATOMO_TOKEN_AUTH": MATOMO_TOKEN,
        "META_PIXEL_ID": PIXEL,
        "META_ACCESS_TOKEN": META_TOKEN,
        "META_GRAPH_URL": base,
        "UPSTREAM_CONNECT_TIMEOUT": 0.5,
        "UPSTREAM_READ_TIMEOUT": 2.0,
    }
    return create_app(make_config(tmp_path, **{**settings, **overrides}))


@pytest.fixture
def upstreams(httpserver):
    httpserver.expect_request("/matomo.php", method="POST").respond_with_handler(matomo_ok)
    httpserver.expect_request(EVENTS_PATH, method="POST").respond_with_handler(graph_ok)
    return httpserver


@pytest.fixture
def gw(tmp_path, upstreams):
    return both_app(tmp_path, upstreams)


def hit(client, remote_addr="198.51.100.23", **params):
    params = {"idsite": "1", "rec": "1", "url": "https://ansettr.no/jobb", **params}
    return client.get(
        "/matomo.php",
        query_string=params,
        headers={"User-Agent": UA},
        environ_base={"REMOTE_ADDR": remote_addr},
    )


def bulk(client, body: str | bytes, remote_addr="198.51.100.23"):
    return client.post(
        "/matomo.php",
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers={"User-Agent": UA},
        environ_base={"REMOTE_ADDR": remote_addr},
    )


def event(client, body=None, raw: str | None = None, remote_addr="198.51.100.77", **extra):
    if raw is None:
        body = body or {"type": "track", "event_name": "Lead", **extra}
        raw = json.dumps(body)
    return client.post(
        "/fb/events",
        data=raw,
        content_type="text/plain",
        headers={"User-Agent": UA, "Origin": SITE},
        environ_base={"REMOTE_ADDR": remote_addr},
    )


def matomo_hits(server):
    """Every hit a Matomo stand-in answered 200 for, as dicts."""
    out = []
    for request, response in server.log:
        if request.path != "/matomo.php" or response.status_code != 200:
            continue
        for q in json.loads(request.get_data())["requests"]:
            out.append(dict(parse_qsl(q.lstrip("?"))))
    return out


def meta_events(server):
    """Every event a Graph API stand-in answered 200 for."""
    out = []
    for request, response in server.log:
        if request.path != EVENTS_PATH or response.status_code != 200:
            continue
        out.extend(json.loads(request.get_data())["data"])
    return out


def statuses(db):
    return dict(db.execute("select status, count(*) from outbox group by status").fetchall())


def row_counts(db) -> dict[str, int]:
    """Rows per table, for checking that a refused request wrote nothing."""
    # rate_limits (PostgreSQL) is the limit's own bookkeeping, not something a request stored.
    names = [n for n in db.table_names() if n != "rate_limits"]
    return {n: db.execute(f"select count(*) from {n}").fetchone()[0] for n in names}  # noqa: S608
