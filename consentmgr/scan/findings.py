"""What a scan found against the policy.

Each cookie, storage key and IndexedDB database is matched to a category
through the policy's cookie patterns (``*`` a wildcard; the consent cookie,
``COOKIE_NAME``, is always necessary). A finding is one of:

* ``banner_missing``: the start page shows no banner with *Godta alle*,
  *Avvis alle* and *Tilpass* (in any of the policy's languages);
* ``banner_unequal``: the three buttons differ in size, colour, weight or border;
* ``undeclared``: a cookie or storage key no pattern declares, in any pass;
* ``before_consent``: a cookie or key of an optional category in the
  undecided or refused pass;
* ``third_party``: a request to another site in the undecided or refused pass,
  one finding per site;
* ``stale``: a declared pattern nothing matched in the accepted pass (patterns
  with a ``when`` condition are not expected on every visit and are skipped).

Findings about one subject are one finding, naming every pass it was seen in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..consent.policy import Policy, cookie_patterns

TITLES = {
    "banner_missing": "Banner missing",
    "banner_unequal": "Banner buttons not equal",
    "undeclared": "Not declared in the policy",
    "before_consent": "Stored before consent",
    "third_party": "Third-party request before consent",
    "stale": "Declared but never seen",
}
BEFORE_CONSENT = ("undecided", "refused")
STORAGE_NAMES = {
    "cookie": "Cookie",
    "localStorage": "localStorage key",
    "sessionStorage": "sessionStorage key",
    "indexedDB": "IndexedDB database",
}


@dataclass(frozen=True)
class Declared:
    pattern: str
    category: str
    required: bool
    when: str | None
    regex: re.Pattern[str]


def pattern_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(re.escape(pattern).replace(r"\*", ".*"))


def declared(policy: Policy, consent_cookie: str) -> list[Declared]:
    """Every pattern of the policy with its category, the consent cookie first."""
    out = []
    for category in policy.categories:
        for p in cookie_patterns(category):
            out.append(
                Declared(
                    p.name,
                    category["id"],
                    bool(category.get("required")),
                    p.when,
                    pattern_regex(p.name),
                )
            )
    if not any(d.regex.fullmatch(consent_cookie) for d in out):
        out.insert(
            0,
            Declared(
                consent_cookie,
                policy.required[0],
                True,
                None,
                re.compile(re.escape(consent_cookie)),
            ),
        )
    return out


def match(patterns: list[Declared], name: str) -> Declared | None:
    return next((d for d in patterns if d.regex.fullmatch(name)), None)


def _passes_text(passes: list[str]) -> str:
    if len(passes) == 1:
        return f"the {passes[0]} pass"
    return "the " + ", ".join(passes[:-1]) + f" and {passes[-1]} passes"


def _setters(records: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for record in records:
        for setter in record.get("set_by", []):
            text = f"{setter['via']} {setter['url']}"
            if text not in out:
                out.append(text)
    return out


def _items(observed: dict[str, Any], pass_name: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, name, record) of every cookie and storage entry of a pass."""
    scan_pass = observed["passes"][pass_name]
    out = [("cookie", c["name"], c) for c in scan_pass["cookies"]]
    out += [(s["kind"], s["key"], s) for s in scan_pass["storage"]]
    return out


def evaluate(observed: dict[str, Any], patterns: list[Declared]) -> list[dict[str, Any]]:
    """The findings of a scan's observations (``crawl.run``) against the declared patterns."""
    findings: list[dict[str, Any]] = []
    banner = observed["banner"]
    if banner["missing"]:
        what = (
            "no banner with Godta alle, Avvis alle and Tilpass buttons appeared"
            if not banner["found"]
            else "the banner lacks the button(s) " + ", ".join(banner["missing"])
        )
        findings.append(
            _finding(
                "banner_missing",
                "banner",
                f"On the start page {what}.",
                ["undecided"],
            )
        )
    elif banner["unequal"]:
        findings.append(
            _finding(
                "banner_unequal",
                "banner",
                "The banner's three buttons differ in " + ", ".join(banner["unequal"]) + ".",
                ["undecided"],
                [
                    f"{b['name']}: {b['width']}x{b['height']} px, {b['background']},"
                    f" {b['color']}, weight {b['font_weight']}"
                    for b in banner["buttons"].values()
                ],
            )
        )

    undeclared: dict[tuple[str, str], dict[str, Any]] = {}
    early: dict[tuple[str, str], dict[str, Any]] = {}
    for pass_name in observed["passes"]:
        for kind, name, record in _items(observed, pass_name):
            found = match(patterns, name)
            if found is None:
                group = undeclared.setdefault((kind, name), {"passes": [], "records": []})
            elif not found.required and pass_name in BEFORE_CONSENT:
                group = early.setdefault((kind, name), {"passes": [], "records": []})
                group["category"] = found.category
            else:
                continue
            if pass_name not in group["passes"]:
                group["passes"].append(pass_name)
            group["records"].append(record)

    for (kind, name), group in undeclared.items():
        where = sorted({r.get("domain") or r.get("origin") for r in group["records"]})
        setters = _setters(group["records"])
        findings.append(
            _finding(
                "undeclared",
                f"{kind}:{name}",
                f"{STORAGE_NAMES[kind]} {name} is not declared in the policy"
                f" (seen in {_passes_text(group['passes'])}"
                + (f"; set by {setters[0]}" if setters else "")
                + ").",
                group["passes"],
                [f"on {w}" for w in where] + [f"set by {s}" for s in setters],
            )
        )
    for (kind, name), group in early.items():
        setters = _setters(group["records"])
        findings.append(
            _finding(
                "before_consent",
                f"{kind}:{name}",
                f"{STORAGE_NAMES[kind]} {name} of the optional category {group['category']}"
                f" is stored without consent (in {_passes_text(group['passes'])}"
                + (f"; set by {setters[0]}" if setters else "")
                + ").",
                group["passes"],
                [f"set by {s}" for s in setters],
            )
        )

    third: dict[str, dict[str, Any]] = {}
    for pass_name in BEFORE_CONSENT:
        for request in observed["passes"][pass_name]["requests"]:
            group = third.setdefault(request["site"], {"passes": [], "requests": []})
            if pass_name not in group["passes"]:
                group["passes"].append(pass_name)
            if request["url"] not in [r["url"] for r in group["requests"]]:
                group["requests"].append(request)
    for site, group in third.items():
        reqs = group["requests"]
        first = reqs[0]
        started = first["initiator"] or {}
        by = f"; started by {started['type']} {started['url']}" if started.get("url") else ""
        beacons = sum(1 for r in reqs if r["beacon"])
        findings.append(
            _finding(
                "third_party",
                f"site:{site}",
                f"Requests to the third party {site} before consent"
                f" (in {_passes_text(group['passes'])}): {len(reqs)} URL"
                f"{'s' if len(reqs) != 1 else ''}"
                + (f", {beacons} like beacons" if beacons else "")
                + f", e.g. {first['url']}{by}.",
                group["passes"],
                [_request_text(r) for r in reqs],
            )
        )

    accepted = observed["passes"].get("accepted")
    if accepted and accepted.get("decision"):
        seen = [name for _, name, _ in _items(observed, "accepted")]
        for d in patterns:
            if d.when is None and not any(d.regex.fullmatch(name) for name in seen):
                findings.append(
                    _finding(
                        "stale",
                        f"pattern:{d.pattern}",
                        f"The policy declares {d.pattern} ({d.category}), but no cookie or"
                        " storage key of that name appeared in the accepted pass.",
                        ["accepted"],
                    )
                )
    return findings


def _request_text(request: dict[str, Any]) -> str:
    started = request.get("initiator") or {}
    by = f", started by {started['type']} {started['url']}" if started.get("url") else ""
    beacon = ", looks like a beacon" if request["beacon"] else ""
    return f"{request['method']} {request['url']} ({request['type']}{by}{beacon})"


def _finding(
    kind: str, subject: str, message: str, passes: list[str], details: list[str] | None = None
) -> dict[str, Any]:
    return {
        "kind": kind,
        "key": f"{kind}:{subject}",
        "title": TITLES[kind],
        "message": message,
        "passes": passes,
        "details": details or [],
    }
