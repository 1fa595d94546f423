"""The scan report: one JSON document, and the same as a readable HTML page.

The JSON (``--json``) is the scan's observations (``crawl.run``) with the
category of every cookie and storage key, the policy's declarations and where
each was seen, and the findings. The HTML report (``--html FILE``) renders it
with ``templates/scan/report.html``; the admin console shows the same body
(``templates/scan/_report.html``) inside its own pages. The body's styles have
one home, ``static/scan.css``: the console links it, and the HTML report
carries it inline so that it stays one file to keep or send on.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from ..consent.policy import Policy
from .findings import Declared, match

FORMAT = "consentmgr-scan/1"
PASS_TITLES = {
    "undecided": "Undecided pass",
    "refused": "Refused pass",
    "accepted": "Accepted pass",
}
PASS_HOW = {
    "undecided": "A fresh browser profile; the pages were loaded and nothing was clicked.",
    "refused": "A fresh browser profile; the refusal button was clicked on the start page,"
    " then the pages were loaded.",
    "accepted": "A fresh browser profile; the accept button was clicked on the start page,"
    " then the pages were loaded.",
}


def build(
    observed: dict[str, Any],
    policy: Policy,
    patterns: list[Declared],
    findings: list[dict[str, Any]],
) -> dict[str, Any]:
    """The report: observations, categories, declarations with where they were seen, findings."""
    report: dict[str, Any] = {
        "format": FORMAT,
        "url": observed["url"],
        "site": observed["site"],
        "started": observed["started"],
        "finished": observed["finished"],
        "browser": observed["browser"],
        "policy": {"version": policy.version, "revision": policy.revision},
        "pages": observed["pages"],
        "banner": observed["banner"],
        "passes": {},
        "declared": [],
        "findings": findings,
    }
    for name, scan_pass in observed["passes"].items():
        copy = dict(scan_pass)
        copy["cookies"] = [_categorised(c, c["name"], patterns) for c in scan_pass["cookies"]]
        copy["storage"] = [_categorised(s, s["key"], patterns) for s in scan_pass["storage"]]
        report["passes"][name] = copy
    for d in patterns:
        seen_in = [
            name
            for name, scan_pass in report["passes"].items()
            if any(
                d.regex.fullmatch(item.get("name") or item.get("key") or "")
                for item in scan_pass["cookies"] + scan_pass["storage"]
            )
        ]
        report["declared"].append(
            {"pattern": d.pattern, "category": d.category, "when": d.when, "seen_in": seen_in}
        )
    return report


def _categorised(record: dict[str, Any], name: str, patterns: list[Declared]) -> dict[str, Any]:
    found = match(patterns, name)
    return record | {"category": found.category if found else None}


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False)


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("consentmgr", "_templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def to_html(report: dict[str, Any]) -> str:
    """A self-contained page (styles inline, no script) for reading or sending on."""
    template = _environment().get_template("scan/report.html")
    return template.render(r=report, scan_css=stylesheet(), **template_globals())


@functools.cache
def stylesheet() -> Markup:
    """``static/scan.css``, as the console serves it."""
    text = resources.files("consentmgr").joinpath("_static/scan.css").read_text("utf-8")
    return Markup(text)  # noqa: S704 (our own file, inside <style>)


def template_globals() -> dict[str, Any]:
    return {"pass_titles": PASS_TITLES, "pass_how": PASS_HOW}
