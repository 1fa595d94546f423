"""``GET /admin/export.csv?from=&to=``: the decisions of a period as CSV, streamed.

The rows go from the database (``Storage.stream``: read as they are sent,
on either backend) through a small buffer to the client, a few hundred at a
time, so memory stays flat however many millions the period holds. The
export has its own read connection and one statement: its snapshot stays
consistent for the whole download while decisions keep being written.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from datetime import date, timedelta

from flask import Response, abort, current_app, g, request, stream_with_context

from .. import db
from ..consent.policy import LANGS
from . import audit
from .blueprint import bp

COLUMNS = (
    "seq",
    "ts",
    "consent_id",
    "version",
    "revision",
    "method",
    "lang",
    "choices",
    "page",
    "ua_family",
    "ip_prefix",
    "erased_at",
    "chain_hash",
)
ROWS_PER_CHUNK = 500


def _dates() -> tuple[date, date]:
    try:
        start = date.fromisoformat(request.args.get("from") or "")
        end = date.fromisoformat(request.args.get("to") or "")
    except ValueError:
        abort(400, "Give the period as from=YYYY-MM-DD&to=YYYY-MM-DD.")
    if start > end:
        abort(400, "The period starts after it ends.")
    if end >= date.max:
        abort(400, f"The period must end before {date.max.isoformat()}: give an earlier date.")
    return start, end


def _query(start: date, end: date) -> tuple[str, list]:
    sql = f"select {', '.join(COLUMNS)} from decisions where ts >= ? and ts < ?"  # noqa: S608
    params: list = [start.isoformat(), (end + timedelta(days=1)).isoformat()]
    version, lang = request.args.get("version"), request.args.get("lang")
    if version:
        sql += " and version = ?"
        params.append(version)
    if lang in LANGS:
        sql += " and lang = ?"
        params.append(lang)
    return sql + " order by ts, seq", params


def rows_as_csv(sql: str, params: list) -> Iterator[str]:
    """CSV text for the query, chunk by chunk, from a connection of its own."""
    conn = db.open_for(current_app)
    try:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        rows = conn.stream(sql, params)
        while batch := list(itertools.islice(rows, ROWS_PER_CHUNK)):
            writer.writerows(batch)
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()
    finally:
        conn.close()


@bp.get("/export.csv")
def export() -> Response:
    start, end = _dates()
    sql, params = _query(start, end)
    detail = f"decisions from {start} to {end}"
    for key in ("version", "lang"):
        if request.args.get(key):
            detail += f", {key} {request.args[key]}"
    audit.append(db.get_db(), "export", g.admin, request.remote_addr, detail)
    return Response(
        stream_with_context(rows_as_csv(sql, params)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="decisions-{start}-{end}.csv"'},
    )
