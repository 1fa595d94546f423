"""Scans kept in the ``scans`` table, and what changed from one scan of a site to the next.

A row holds the whole report as JSON plus what the console's list needs
without reading it: time, start URL, origin, policy version, pages, the
number of findings and their keys. "The previous scan" is the one before it
of the same origin. Reports hold the site's URLs and cookie names, never
anything about its visitors.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from ..storage import Storage, marks


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def save(db: Storage, report: dict[str, Any]) -> int:
    with db.transaction():
        row = {
            "started": report["started"],
            "finished": report["finished"],
            "url": report["url"],
            "origin": origin(report["url"]),
            "site": report["site"],
            "policy_version": report["policy"]["version"],
            "pages": len(report["pages"]),
            "findings": len(report["findings"]),
            "finding_keys": json.dumps([f["key"] for f in report["findings"]]),
            "report": json.dumps(report, ensure_ascii=False, separators=(",", ":")),
        }
        return db.execute(
            f"insert into scans ({', '.join(row)}) values ({marks(row)}) returning id",  # noqa: S608
            list(row.values()),
        ).fetchall()[0][0]


def recent(db: Storage, limit: int = 100) -> list[dict[str, Any]]:
    """The newest scans, each with how many findings are new or gone since its previous one."""
    rows = db.execute(
        """
        select id, started, url, origin, site, policy_version, pages, findings,
               finding_keys, previous_keys, previous_id
        from (
          select *,
                 lag(finding_keys) over (partition by origin order by id) as previous_keys,
                 lag(id) over (partition by origin order by id) as previous_id
          from scans
        ) as s
        order by id desc limit ?
        """,
        [limit],
    ).fetchall()
    columns = (
        "id started url origin site policy_version pages findings"
        " finding_keys previous_keys previous_id"
    ).split()
    out = []
    for row in rows:
        scan = dict(zip(columns, row, strict=True))
        keys = set(json.loads(scan.pop("finding_keys")))
        previous = scan.pop("previous_keys")
        if previous is None:
            scan["new"] = scan["resolved"] = None
        else:
            before = set(json.loads(previous))
            scan["new"], scan["resolved"] = len(keys - before), len(before - keys)
        out.append(scan)
    return out


def get(db: Storage, scan_id: int) -> dict[str, Any] | None:
    row = db.execute("select id, origin, report from scans where id = ?", [scan_id]).fetchone()
    if row is None:
        return None
    return {"id": row[0], "origin": row[1], "report": json.loads(row[2])}


def previous(db: Storage, scan: dict[str, Any]) -> dict[str, Any] | None:
    row = db.execute(
        "select id from scans where origin = ? and id < ? order by id desc limit 1",
        [scan["origin"], scan["id"]],
    ).fetchone()
    return get(db, row[0]) if row else None


def _cookie_names(scan_pass: dict[str, Any]) -> set[str]:
    return {c["name"] for c in scan_pass["cookies"]} | {
        f"{s['kind']} {s['key']}" for s in scan_pass["storage"]
    }


def _third_parties(scan_pass: dict[str, Any]) -> set[str]:
    return {r["site"] for r in scan_pass["requests"]}


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What changed from report ``before`` to report ``after`` of the same site.

    Findings new and resolved (by their keys), and per pass the cookie and
    storage names and the third-party sites that appeared or disappeared.
    """
    old = {f["key"]: f for f in before["findings"]}
    new = {f["key"]: f for f in after["findings"]}
    passes = []
    for name, scan_pass in after["passes"].items():
        earlier = before["passes"].get(name, {"cookies": [], "storage": [], "requests": []})
        names_now, names_then = _cookie_names(scan_pass), _cookie_names(earlier)
        sites_now, sites_then = _third_parties(scan_pass), _third_parties(earlier)
        passes.append(
            {
                "name": name,
                "cookies_new": sorted(names_now - names_then),
                "cookies_gone": sorted(names_then - names_now),
                "sites_new": sorted(sites_now - sites_then),
                "sites_gone": sorted(sites_then - sites_now),
            }
        )
    return {
        "new_findings": [f for k, f in new.items() if k not in old],
        "resolved_findings": [f for k, f in old.items() if k not in new],
        "passes": passes,
        "pages_before": len(before["pages"]),
        "policy_before": before["policy"]["version"],
        "unchanged": not any(
            p["cookies_new"] or p["cookies_gone"] or p["sites_new"] or p["sites_gone"]
            for p in passes
        )
        and old.keys() == new.keys(),
    }
