"""The privacy statement's facts, taken from the running policy and configuration.

What the service does with a visitor's data is decided by the policy (which
categories, vendors and cookies), the configuration (how long decisions and
their personal fields are kept, whether Matomo and Meta forwarding are on and
where they go) and the code (what the gateway sends upstream). A statement
written by hand drifts from all three; the one shipped here renders its
processing sections (``/personvern``: cookies and consent, the consent log,
where data goes) from :func:`facts`, so changing a retention or turning Meta
off changes the statement too. Ansettr's own text (controller, purposes,
rights) stays plain text in ``statement/<lang>.txt``.

A site that brings its own statement (``PRIVACY_STATEMENT_FILE``) gets
:func:`check_vendors` instead: ``consentmgr check-statement`` and a warning at
start-up name the policy's vendors the text never mentions, and the known
tracking vendors it mentions that the policy lacks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..consent.policy import Policy, cookie_patterns
from ..gateway.targets import MATOMO, META

# Tracking and advertising vendors a statement may name, by id, with the names
# a text would use for them. Policy vendors with these ids (or whose name holds
# one of these names) count as the same vendor.
KNOWN_VENDORS: dict[str, tuple[str, ...]] = {
    "matomo": ("Matomo", "Piwik"),
    "meta": ("Meta", "Facebook", "Instagram"),
    "google-analytics": ("Google Analytics", "GA4", "Universal Analytics"),
    "google-ads": ("Google Ads", "DoubleClick", "Google Marketing Platform"),
    "google-tag-manager": ("Google Tag Manager",),
    "hotjar": ("Hotjar",),
    "linkedin": ("LinkedIn Insight", "LinkedIn"),
    "tiktok": ("TikTok",),
    "snapchat": ("Snapchat", "Snap Pixel"),
    "pinterest": ("Pinterest",),
    "x": ("Twitter", "X Ads"),
    "microsoft-clarity": ("Microsoft Clarity",),
    "microsoft-ads": ("Microsoft Advertising", "Bing Ads"),
    "hubspot": ("HubSpot",),
    "adform": ("Adform",),
    "plausible": ("Plausible",),
    "youtube": ("YouTube",),
    "vimeo": ("Vimeo",),
}
LIFETIME = re.compile(r"(?P<n>\d+)\s*(?P<unit>minute|hour|day|month|year)s?")


@dataclass(frozen=True)
class Cookie:
    name: str
    n: int | None  # lifetime in ``unit``s, None when the policy does not say
    unit: str | None


def lifetime(text: str | None) -> tuple[int | None, str | None]:
    """``"13 months"`` -> ``(13, "months")``; anything else -> ``(None, None)``."""
    m = LIFETIME.fullmatch((text or "").strip())
    return (int(m["n"]), m["unit"] + "s") if m else (None, None)


def _host(url: str | None) -> str | None:
    return urlsplit(url).hostname if url else None


def facts(policy: Policy, config: Mapping[str, Any], lang: str) -> dict[str, Any]:
    """Everything the generated sections say, in ``lang`` where the policy has words."""
    categories = []
    names = {}
    for c in policy.categories:
        texts = c["texts"][lang]
        names[c["id"]] = texts["name"]
        categories.append(
            {
                "id": c["id"],
                "required": bool(c.get("required")),
                "name": texts["name"],
                "purpose": texts["purpose"],
                "legal_basis": texts["legal_basis"],
                "vendors": [v.get("name", v["id"]) for v in c["vendors"]],
                "cookies": [Cookie(p.name, *lifetime(p.max_age)) for p in cookie_patterns(c)],
            }
        )
    vendor_of = {
        v["id"]: (v.get("name", v["id"]), c["id"]) for c in policy.categories for v in c["vendors"]
    }
    bundled = config.get("BUNDLE_SCRIPTS", ())
    matomo = {
        "in_policy": MATOMO.category in names,
        "category": names.get(MATOMO.category),
        "configured": bool(config.get("MATOMO_URL")),
        "host": _host(config.get("MATOMO_URL")),
        "first_party": "matomo" in bundled,
    }
    meta = {
        "in_policy": META.category in names,
        "category": names.get(META.category),
        "configured": bool(config.get("META_PIXEL_ID")),
        "host": _host(config.get("META_GRAPH_URL")),
        "vendor": vendor_of.get("meta", ("Meta Platforms Ireland Ltd.", None))[0],
        # The fbq() shim in /consent.js replaces Meta's fbevents.js: the browser
        # posts to us and nothing loads from Facebook.
        "shim": "fbq" in bundled,
    }
    required = {c["id"] for c in policy.categories if c.get("required")}
    others = [
        {"name": name, "category": names[category]}
        for vid, (name, category) in vendor_of.items()
        if vid not in ("matomo", "meta") and category not in required
    ]
    return {
        "categories": categories,
        "cookie_name": config["COOKIE_NAME"],
        "consent_days": config["CONSENT_MAX_AGE_DAYS"],
        "retention_days": config["RETENTION_DAYS"],
        "outbox_keep_days": config["OUTBOX_KEEP_DAYS"],
        "outbox_max_age_hours": config["OUTBOX_MAX_AGE_HOURS"],
        "matomo": matomo,
        "meta": meta,
        "first_party": matomo["first_party"] and meta["shim"],
        "other_vendors": others,
        "service": _host(config.get("PUBLIC_URL")),
    }


def _mentions(text: str, names: Iterable[str]) -> bool:
    return any(re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text, re.IGNORECASE) for name in names)


def vendor_aliases(vendor: Mapping[str, Any]) -> tuple[str, ...]:
    """The names a statement may use for a policy vendor."""
    own = (vendor.get("name", vendor["id"]), vendor["id"], *vendor.get("aliases", ()))
    known = KNOWN_VENDORS.get(vendor["id"], ())
    for aliases in KNOWN_VENDORS.values():
        if _mentions(str(vendor.get("name", "")), aliases):
            known += aliases
    return tuple(dict.fromkeys(own + known))


def check_vendors(text: str, policy: Policy) -> list[str]:
    """What a statement gets wrong about vendors; empty when it names exactly the policy's."""
    problems = []
    covered: set[str] = set()
    for c in policy.categories:
        if c.get("required"):
            continue  # the site's own, strictly necessary cookies: no third party
        for vendor in c["vendors"]:
            aliases = vendor_aliases(vendor)
            covered.update(a.lower() for a in aliases)
            if not _mentions(text, aliases):
                problems.append(
                    f"the statement does not mention {vendor.get('name', vendor['id'])}"
                    f" (category {c['id']}), which the policy lists"
                )
    for vid, aliases in KNOWN_VENDORS.items():
        if any(a.lower() in covered for a in aliases):
            continue
        found = [a for a in aliases if _mentions(text, [a])]
        if found:
            problems.append(
                f"the statement names {found[0]}, which no category of the policy lists"
                f" (add it to the policy as vendor {vid!r}, or take it out of the statement)"
            )
    return problems
