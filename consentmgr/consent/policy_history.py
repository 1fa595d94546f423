"""Which policy versions were served, and what changed from one version to the next.

A version is a hash of the purposes, so two versions differ in categories,
in whether a category is required, or in vendors. The admin console lists each
version with that difference in words, read from the full content kept in the
``policies`` table; revisions (wording only) are counted, not diffed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..storage import Storage
from .policy import purposes


@dataclass(frozen=True)
class Version:
    version: str
    first_served: str
    revisions: int
    changes: list[str]


def _by_id(content: dict) -> dict[str, dict]:
    return {p["id"]: p for p in purposes(content)}


def changes(before: dict | None, after: dict) -> list[str]:
    """What a visitor is asked differently in ``after`` than in ``before``, in words."""
    if before is None:
        return ["first version served"]
    old, new = _by_id(before), _by_id(after)
    out = [f"category {c} added" for c in new if c not in old]
    out += [f"category {c} removed" for c in old if c not in new]
    for c in (c for c in new if c in old):
        if old[c]["required"] != new[c]["required"]:
            out.append(f"{c} is now {'required' if new[c]['required'] else 'optional'}")
        added = sorted(set(new[c]["vendors"]) - set(old[c]["vendors"]))
        removed = sorted(set(old[c]["vendors"]) - set(new[c]["vendors"]))
        out += [f"vendor {v} added to {c}" for v in added]
        out += [f"vendor {v} removed from {c}" for v in removed]
    return out or ["same purposes as the version before"]


def versions(db: Storage) -> list[Version]:
    """Every version ever served, oldest first, with its changes from the one before."""
    rows = db.execute(
        "select version, min(first_served), count(*),"
        " (select content from policies p2 where p2.version = p.version"
        "  order by revision desc limit 1)"
        " from policies p group by version order by min(first_served), version"
    ).fetchall()
    out, previous = [], None
    for version, first_served, revisions, content in rows:
        current = json.loads(content)
        out.append(Version(version, first_served, revisions, changes(previous, current)))
        previous = current
    return out
