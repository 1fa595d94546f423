"""The consent policy: categories, vendors and the texts shown to visitors.

Two identifiers describe a policy, because two kinds of change mean different
things to a visitor:

* **version**: a short hash of the *purposes* (each category, whether it is
  required, and its vendors). Adding a vendor or a category changes what a
  visitor is asked to agree to, so it makes a new version and the banner asks
  again.
* **revision**: a counter within a version, bumped when only the wording
  changes. Visitors are not asked again, but the log records which revision
  they saw, and every revision is kept in the ``policies`` table with its full
  content so the exact words can be shown later.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from ..storage import Storage

LANGS = ("nb", "nn", "en")
DEFAULT_LANG = "nb"
CATEGORY_TEXT_KEYS = ("name", "purpose", "retention", "legal_basis")


class PolicyError(ValueError):
    """The policy file does not have the expected shape."""


@dataclass(frozen=True)
class Policy:
    content: dict[str, Any]
    version: str
    digest: str
    revision: int = 0

    @property
    def categories(self) -> list[dict[str, Any]]:
        return self.content["categories"]

    @property
    def optional(self) -> list[str]:
        """Ids of the categories a visitor can choose, in display order."""
        return [c["id"] for c in self.categories if not c.get("required")]

    @property
    def required(self) -> list[str]:
        return [c["id"] for c in self.categories if c.get("required")]


@dataclass(frozen=True)
class CookiePattern:
    """A cookie (or storage key) name a category declares, ``*`` a wildcard.

    ``when`` says under which condition the site sets it (e.g. only for visitors
    arriving from an ad); the cookie audit does not expect to see those on
    every visit.
    """

    name: str
    when: str | None = None


def cookie_patterns(category: dict[str, Any]) -> list[CookiePattern]:
    """The names a category declares, from ``"cookies"``: strings or ``{"name", "when"}``."""
    return [
        CookiePattern(c) if isinstance(c, str) else CookiePattern(c["name"], c.get("when"))
        for c in category.get("cookies", [])
    ]


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def purposes(content: dict[str, Any]) -> list[dict[str, Any]]:
    """What a visitor consents to: categories, whether required, and vendors."""
    return [
        {
            "id": c["id"],
            "required": bool(c.get("required")),
            "vendors": sorted(v["id"] for v in c["vendors"]),
        }
        for c in content["categories"]
    ]


def load(path: str | Path | None = None) -> Policy:
    """Read and check a policy file (the shipped one when ``path`` is None)."""
    source = str(path) if path else "consentmgr/consent/policy.json"
    try:
        if path:
            text = Path(path).read_text(encoding="utf-8")
        else:
            text = resources.files(__package__).joinpath("policy.json").read_text("utf-8")
        content = json.loads(text)
    except (OSError, json.JSONDecodeError) as e:
        raise PolicyError(f"{source}: cannot read the policy: {e}") from None
    check(content, source)
    return Policy(
        content=content,
        version=hashlib.sha256(canonical(purposes(content))).hexdigest()[:12],
        digest=hashlib.sha256(canonical(content)).hexdigest(),
    )


def check(content: Any, source: str) -> None:
    def fail(where: str, expected: str) -> None:
        raise PolicyError(f"{source}: {where} {expected}")

    if not isinstance(content, dict) or not isinstance(content.get("categories"), list):
        fail("categories", "must be a list of categories")
    texts = content.get("texts")
    if not isinstance(texts, dict) or set(texts) != set(LANGS):
        fail("texts", f"must have texts for exactly {', '.join(LANGS)}")
    seen = set()
    for i, cat in enumerate(content["categories"]):
        where = f"categories[{i}]"
        if not isinstance(cat, dict) or not isinstance(cat.get("id"), str):
            fail(where, "must be an object with an id")
        if cat["id"] in seen or not cat["id"].isidentifier():
            fail(f"{where}.id", "must be a unique identifier")
        seen.add(cat["id"])
        vendors = cat.get("vendors")
        if not isinstance(vendors, list) or not all(
            isinstance(v, dict) and isinstance(v.get("id"), str) for v in vendors
        ):
            fail(f"{where}.vendors", "must be a list of objects with an id")
        cookies = cat.get("cookies", [])
        if not isinstance(cookies, list) or not all(_cookie_entry(c) for c in cookies):
            fail(
                f"{where}.cookies",
                'must be a list of names, or of {"name": ..., "when": ...} objects',
            )
        ctexts = cat.get("texts")
        for lang in LANGS:
            if not isinstance(ctexts, dict) or not isinstance(ctexts.get(lang), dict):
                fail(f"{where}.texts.{lang}", "is missing")
            for key in CATEGORY_TEXT_KEYS:
                if not isinstance(ctexts[lang].get(key), str):
                    fail(f"{where}.texts.{lang}.{key}", "must be a string")
    if "necessary" not in seen or not content["categories"][0].get("required"):
        fail("categories", "must start with the required category 'necessary'")


def _cookie_entry(entry: Any) -> bool:
    if isinstance(entry, str):
        return bool(entry)
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("name"), str)
        and bool(entry["name"])
        and set(entry) <= {"name", "when"}
        and isinstance(entry.get("when", ""), str)
    )


def register(db: Storage, policy: Policy) -> Policy:
    """Record the policy in the ``policies`` table and return it with its revision.

    The same content always maps to the same row, so restarts and several
    workers agree on the revision number.
    """
    # Several servers start with the same policy: one of them numbers its revision.
    with db.transaction(lock="policies"):
        row = db.execute(
            "select revision from policies where digest = ?", [policy.digest]
        ).fetchone()
        if row:
            revision = row[0]
        else:
            last = db.execute(
                "select max(revision) from policies where version = ?", [policy.version]
            ).fetchone()[0]
            revision = (last or 0) + 1
            db.execute(
                "insert into policies (digest, version, revision, content, first_served)"
                " values (?, ?, ?, ?, ?)",
                [
                    policy.digest,
                    policy.version,
                    revision,
                    canonical(policy.content).decode(),
                    datetime.now(UTC).isoformat(timespec="seconds"),
                ],
            )
    return Policy(policy.content, policy.version, policy.digest, revision)


def shown(db: Storage, version: str, revision: int) -> dict[str, Any] | None:
    """The full policy content of one version and revision, as it was served."""
    row = db.execute(
        "select content from policies where version = ? and revision = ?", [version, revision]
    ).fetchone()
    return json.loads(row[0]) if row else None
