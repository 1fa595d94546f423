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
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from ..storage import Storage

LANGS = ("nb", "nn", "en")
DEFAULT_LANG = "nb"
CATEGORY_TEXT_KEYS = ("name", "purpose", "retention", "legal_basis")
# What the banner's second layer shows of each category, in this order. It is
# recorded in the policy content as "shown", so a receipt lists exactly what
# the visitor saw; revisions served before it was recorded showed LEGACY_SHOWN.
SHOWN = ("name", "purpose", "vendors", "retention", "legal_basis")
LEGACY_SHOWN = ("name", "purpose", "vendors", "retention")
# Settings a policy's texts may quote as {KEY}, so they cannot contradict the
# running configuration; they are filled in before the policy is hashed.
SETTINGS = ("COOKIE_NAME", "CONSENT_MAX_AGE_DAYS", "RETENTION_DAYS")
PLACEHOLDER = re.compile(r"\{(" + "|".join(SETTINGS) + r")\}")


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
    max_age: str | None = None  # its lifetime in words, e.g. "13 months", for the statement


def cookie_patterns(category: Mapping[str, Any]) -> list[CookiePattern]:
    """The names a category declares: strings or ``{"name", "max_age", "when"}`` objects."""
    return [
        CookiePattern(c)
        if isinstance(c, str)
        else CookiePattern(c["name"], c.get("when"), c.get("max_age"))
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


def fill_settings(value: Any, settings: Mapping[str, Any]) -> Any:
    """``value`` with every ``{KEY}`` of SETTINGS replaced by the setting."""
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: str(settings[m[1]]), value)
    if isinstance(value, list):
        return [fill_settings(v, settings) for v in value]
    if isinstance(value, dict):
        return {k: fill_settings(v, settings) for k, v in value.items()}
    return value


def load(path: str | Path | None = None, settings: Mapping[str, Any] | None = None) -> Policy:
    """Read and check a policy file (the shipped one when ``path`` is None).

    ``settings`` (the app's config) fills in ``{COOKIE_NAME}`` and the other
    SETTINGS the texts quote; without it the defaults are used.
    """
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
    if settings is None:
        from ..config import KEYS

        settings = {k: KEYS[k].default for k in SETTINGS}
    content = fill_settings(content, settings)
    content["shown"] = list(SHOWN)
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
                'must be a list of names, or of {"name": ..., "max_age": ..., "when": ...} objects',
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
        and set(entry) <= {"name", "when", "max_age"}
        and isinstance(entry.get("when", ""), str)
        and isinstance(entry.get("max_age", ""), str)
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
