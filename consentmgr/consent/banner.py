"""``GET /consent.js``: the banner script with the current policy embedded.

A first-time visitor gets code, styles and the texts of all three languages in
this one response, so showing the banner costs no further request. By default
the Matomo tracker and the fbq() shim come in the same response
(``BUNDLE_SCRIPTS``); they do nothing until their category is granted. The body
depends only on the policy and the configuration, both fixed for the app's
lifetime, so it is built once per app, in plain and gzip form, with a strong
ETag per form. A short ``max-age`` lets a policy change reach every visitor
within minutes; revalidation after that is a cheap 304.

The script is included by other sites (``<script src=".../consent.js">``), so
the response says it may be embedded cross-origin; it is a classic script and
needs no CORS headers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Blueprint, Flask, Response, current_app

from ..gateway.meta import shim
from ..web.scripts import Script, respond, without_provenance
from .policy import LANGS, SHOWN, Policy, cookie_patterns

bp = Blueprint("banner", __name__)

STATIC = Path(__file__).parents[1] / "_static" / "js"
# consent.js is the readable source; bench/minify.py makes consent.min.js from
# it, and that is what visitors download.
SERVED = STATIC / "consent.min.js"
PLACEHOLDER = "__POLICY__"
# What BUNDLE_SCRIPTS may add after the banner. For Matomo that is a loader that
# fetches /matomo.js once analytics is granted; the fbq() shim comes whole.
BUNDLED = {"matomo": "matomo-loader.min.js", "fbq": "fbq.min.js"}
MY_DATA_URL = "/mine-data"
# The policy texts the script shows; the rest of "texts" stays on the server.
TEXT_KEYS = (
    "title",
    "intro",
    "accept_all",
    "reject_all",
    "customise",
    "save",
    "close",
    "settings_title",
    "privacy_link",
    "my_data",
    "reopen",
    "always_on",
    "vendors",
    "retention",
    "legal_basis",
    "saved",
)
# The category texts of the second layer (policy.SHOWN, less the vendors, which
# come from the category itself), in the order the script reads them.
CATEGORY_TEXT_KEYS = tuple(k for k in SHOWN if k != "vendors")


def cookie_regexp(patterns: list[str]) -> str:
    """A JavaScript regexp matching cookie names given as patterns with ``*`` wildcards.

    Built here so the script needs no pattern compiler of its own. ``re.escape``
    only escapes characters that JavaScript regexps also accept escaped.
    """
    if not patterns:
        return "(?!)"
    alternatives = (re.escape(p).replace(r"\*", ".*") for p in patterns)
    return "^(?:" + "|".join(alternatives) + ")$"


def with_lang(url: str) -> str:
    """``url`` with a ``lang={lang}`` query parameter, for the script to fill in."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "lang"]
    text = urlencode(query) + ("&" if query else "") + "lang={lang}"
    return urlunsplit(parts._replace(query=text))


def embedded(policy: Policy, config: Mapping[str, Any]) -> dict[str, Any]:
    """What the script needs from the policy and config, in the compact shape it reads.

    Short keys keep the download small; ``static/js/consent.js`` documents them.
    Texts are HTML-escaped here, so the script can put them into its markup
    without an escaping function of its own.
    """
    content = policy.content
    # The reopen button's label is sent only to sites that show the button.
    text_keys = [k for k in TEXT_KEYS if k != "reopen" or config["SHOW_REOPEN_BUTTON"]]
    return {
        "v": policy.version,
        "n": "(?:^|; )" + re.escape(config["COOKIE_NAME"]) + "=([^.;]*)",
        "o": config["COOKIE_NAME"],
        "g": config["HONOR_GPC"],
        "r": config["SHOW_REOPEN_BUTTON"],
        "p": with_lang(config["PRIVACY_URL"]),
        "m": with_lang(MY_DATA_URL),
        "k": [
            {
                "id": c["id"],
                "r": bool(c.get("required")),
                "v": escape(", ".join(v.get("name", v["id"]) for v in c["vendors"])),
            }
            # Only refused categories' cookies are deleted, so only optional ones need a pattern.
            | (
                {}
                if c.get("required")
                else {"c": cookie_regexp([p.name for p in cookie_patterns(c)])}
            )
            for c in policy.categories
        ],
        "t": {
            lang: {key: escape(content["texts"][lang].get(key, "")) for key in text_keys}
            | {
                "k": [
                    [escape(c["texts"][lang][key]) for key in CATEGORY_TEXT_KEYS]
                    for c in policy.categories
                ]
            }
            for lang in LANGS
        },
    }


def render(policy: Policy, config: Mapping[str, Any], source: str | None = None) -> bytes:
    """The script as served: the minified source with the policy in place of the placeholder.

    The scripts named in ``BUNDLE_SCRIPTS`` follow it in the same response: one
    download compresses better than three, and a site needs one tag. They run
    after the banner has set up ``window.consentmgr`` and wait for its consent.
    """
    source = SERVED.read_text(encoding="utf-8") if source is None else source
    source = without_provenance(source)
    if source.count(PLACEHOLDER) != 1:
        raise RuntimeError(f"{SERVED} must contain {PLACEHOLDER} exactly once")
    data = json.dumps(embedded(policy, config), ensure_ascii=False, separators=(",", ":"))
    parts = [source.replace(PLACEHOLDER, data)]
    for name in config.get("BUNDLE_SCRIPTS", ()):
        text = without_provenance((STATIC / BUNDLED[name]).read_text(encoding="utf-8"))
        parts.append(shim.with_pixel(text, config) if name == "fbq" else text)
    return "\n".join(parts).encode()


def build(app: Flask) -> Script:
    return Script.of(render(app.extensions["consentmgr.policy"], app.config))


def script() -> Script:
    """This app's script, built on first use; the policy cannot change while it runs."""
    built = current_app.extensions.get("consentmgr.banner")
    if built is None:
        built = current_app.extensions["consentmgr.banner"] = build(current_app)
    return built


@bp.get("/consent.js")
def consent_js() -> Response:
    return respond(script())
