"""The visitor pages' language and texts: bokmål, nynorsk and English.

Every text a visitor reads on the service's own pages (``/personvern``,
``/mine-data``, ``/receipt/...``, the error pages) comes from one keyed
catalogue, ``visitor_texts.json``: ``{"nb": {key: text}, "nn": {...}, "en":
{...}}``, the same shape as the policy file's texts. A text is a string, or
``{"one": ..., "other": ...}`` when it depends on a number ``n``. Texts are
trusted HTML (they may hold ``<a>`` or ``<strong>``); the values put into
their ``{placeholders}`` are escaped. ``check`` (run by a test and at start-up)
insists that every key exists in every language with the same placeholders,
so a page can never fall back to another language halfway through.

Why keys and not gettext catalogues: with three fixed languages and no
translators' tooling to serve, a keyed file needs no extraction or compile
step and no extra dependency in the wheel, and a missing translation is an
error caught by a test rather than a silent fallback to the source text,
which is exactly how nynorsk pages ended up with bokmål labels.

The language follows the banner's rule: an explicit ``?lang=``, then the
language of the visitor's latest decision, then ``Accept-Language``, then
bokmål. Links between the visitor pages carry ``?lang=``, so a choice made
with the language links sticks while the visitor moves between them.

Times are shown in Norwegian time (Europe/Oslo), with the zone named.
"""

from __future__ import annotations

import json
import re
import string
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import current_app, g, render_template, request, url_for
from markupsafe import Markup

from ..consent.policy import DEFAULT_LANG, LANGS

CATALOGUE = "visitor_texts.json"
OSLO = ZoneInfo("Europe/Oslo")
# Generic Norwegian means bokmål, as in the banner.
ALIASES = {"no": "nb", "nob": "nb", "nno": "nn", "eng": "en"}
PLURAL_FORMS = ("one", "other")


class CatalogueError(ValueError):
    """The catalogue lacks a key in some language, or its placeholders differ."""


@cache
def catalogue() -> dict[str, dict[str, Any]]:
    text = resources.files(__package__).joinpath(CATALOGUE).read_text("utf-8")
    texts = json.loads(text)
    check(texts)
    return texts


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _variants(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict) and set(value) == set(PLURAL_FORMS):
        return [value[f] for f in PLURAL_FORMS]
    raise CatalogueError(f"a text must be a string or {{'one', 'other'}}, not {value!r}")


def check(texts: dict[str, dict[str, Any]]) -> None:
    """Every key in every language, with the same kind of value and the same placeholders."""
    if set(texts) != set(LANGS):
        raise CatalogueError(f"the catalogue must have exactly the languages {', '.join(LANGS)}")
    keys = set().union(*(texts[lang] for lang in LANGS))
    problems = []
    for key in sorted(keys):
        missing = [lang for lang in LANGS if key not in texts[lang]]
        if missing:
            problems.append(f"{key} is missing in {', '.join(missing)}")
            continue
        shapes = {lang: _variants(texts[lang][key]) for lang in LANGS}
        if len({len(v) for v in shapes.values()}) > 1:
            problems.append(f"{key} is a plural in some languages only")
            continue
        fields = {lang: set().union(*map(_fields, v)) for lang, v in shapes.items()}
        if len({frozenset(f) for f in fields.values()}) > 1:
            problems.append(f"{key} has different placeholders: {fields}")
    if problems:
        raise CatalogueError("; ".join(problems))


def from_tag(tag: str | None) -> str | None:
    """One of LANGS for a language tag (``nn-NO`` -> ``nn``, ``no`` -> ``nb``), else None."""
    if not tag:
        return None
    primary = tag.strip().lower().replace("_", "-").split("-")[0]
    primary = ALIASES.get(primary, primary)
    return primary if primary in LANGS else None


def decided_lang() -> str | None:
    """The language of this browser's latest decision in the log, if it has one."""
    from ..consent.gate import visitor_id
    from ..db import get_db

    consent_id = visitor_id()
    if not consent_id:
        return None
    row = (
        get_db()
        .execute(
            "select lang from decisions where consent_id = ? order by seq desc limit 1",
            [consent_id],
        )
        .fetchone()
    )
    return from_tag(row[0]) if row else None


def negotiate() -> str:
    """This request's language: ?lang=, the visitor's decided language, Accept-Language, bokmål."""
    if "visitor_lang" in g:
        return g.visitor_lang
    lang = from_tag(request.args.get("lang"))
    if lang is None:
        try:
            lang = decided_lang()
        except Exception:  # noqa: BLE001 (an error page must render even with the database down)
            current_app.logger.exception("cannot read the visitor's language from the log")
    if lang is None:
        for tag, _quality in request.accept_languages:
            lang = from_tag(tag)
            if lang:
                break
    g.visitor_lang = lang or DEFAULT_LANG
    return g.visitor_lang


class Texts:
    """The catalogue in one language: ``t("key", n=3, name=...)`` returns safe HTML."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.texts = catalogue()[lang]

    def __call__(self, key: str, n: int | None = None, **values: Any) -> Markup:
        value = self.texts[key]
        if isinstance(value, dict):
            if n is None:
                raise KeyError(f"{key} needs n")
            value = value["one" if n == 1 else "other"]
        if n is not None:
            values["n"] = n
        if not values:
            return Markup(value)  # noqa: S704 (our own catalogue)
        return Markup(value).format(**values)  # noqa: S704 (values are escaped by format)

    def plain(self, key: str, n: int | None = None, **values: Any) -> str:
        """The text without markup, for titles, attributes and messages."""
        return re.sub(r"<[^>]+>", "", str(self(key, n, **values)))

    def lang_name(self, code: str) -> str:
        """A language named in words in this language: ``nn`` -> ``nynorsk``."""
        return self.texts.get(f"lang.{code}", code) if code in LANGS else code

    def when(self, value: str | float | datetime | None) -> Markup:
        """A moment in Norwegian time with the zone named, in a ``<time>`` element."""
        if value is None or value == "":
            return Markup("")
        if isinstance(value, int | float):
            moment = datetime.fromtimestamp(value, UTC)
        elif isinstance(value, str):
            moment = datetime.fromisoformat(value)
        else:
            moment = value
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        local = moment.astimezone(OSLO)
        months = self.texts["time.months"].split()
        summer = bool(local.dst())
        text = self(
            "time.format",
            day=local.day,
            month=months[local.month - 1],
            year=local.year,
            time=local.strftime(self.texts["time.clock"]),
            zone=self.texts["time.summer" if summer else "time.standard"],
            offset=f"{int(local.utcoffset().total_seconds() // 3600):+d}",
        )
        iso = value if isinstance(value, str) else moment.isoformat(timespec="seconds")
        return Markup('<time datetime="{}">{}</time>').format(iso, text)


def texts(lang: str | None = None) -> Texts:
    return Texts(lang or negotiate())


def lang_url(endpoint: str, lang: str | None = None, **values: Any) -> str:
    """``url_for`` with this page's language carried along as ``?lang=``."""
    return url_for(endpoint, lang=lang or negotiate(), **values)


def switch_url(lang: str) -> str:
    """This page in another language: the same path and query with ``lang`` replaced."""
    args = request.args.copy()
    args["lang"] = lang
    return request.path + "?" + urlencode(list(args.items(multi=True)))


def render(template: str, **context: Any) -> str:
    """Render a visitor page with its language, texts and links in that language."""
    from ..consent.gate import current_policy

    lang = negotiate()
    t = Texts(lang)
    context.setdefault("controller", current_policy().content.get("controller"))
    return render_template(
        template,
        lang=lang,
        t=t,
        langs=LANGS,
        lang_url=lambda endpoint, **v: lang_url(endpoint, lang, **v),
        switch_url=switch_url,
        **context,
    )


def init_app(app: Any) -> None:
    """Check the catalogue when the app starts, so a missing translation stops start-up."""
    catalogue()


def vary(response: Any) -> Any:
    """A visitor page depends on ?lang= (in its URL), the cookie and Accept-Language."""
    response.vary.update(("Cookie", "Accept-Language"))
    return response
