"""``GET /personvern``: the privacy statement as an accessible page, with a working opt-out.

The statement comes in two parts. Ansettr's own text (controller, purposes,
other services, rights) is plain text, one file per language
(``personvernerklaering.<lang>.txt`` in the package), so the people who
write it never touch HTML. Where it holds the line ``<<processing>>``, the
processing sections are rendered from the running policy and configuration
(``statement.facts``): cookies and consent with the preferences widget, the
consent log, and where data goes. They cannot contradict the system, because
they are made from it.

A site may bring its own statement instead (``PRIVACY_STATEMENT_FILE``,
relative to the instance folder): one file written in bokmål, or one per
language when the name holds ``{lang}`` (``erklaering.{lang}.txt``). It is
shown as written, and ``statement.check_vendors`` warns at start-up (and
``consentmgr check-statement`` reports) when it misses a vendor of the policy
or names a tracking vendor the policy lacks.

Plain text becomes structure here:

* blocks are separated by blank lines;
* a one-line block that is short and does not end like a sentence (``.``,
  ``,``, ``;``, ``:``, ``!``) is a heading: the first is the page's ``<h1>``,
  the others ``<h2>`` sections;
* a block whose lines all start with ``-``, ``*``, ``•`` or ``1.`` is a list;
* URLs and email addresses become links.

Matomo's stock opt-out paragraph ("You may choose to prevent this website
from aggregating...", which on the old site sat above Matomo's opt-out
iframe) is replaced by the banner's preferences widget
(``<div data-consent-preferences>``) with a short explanation, so the page
offers a real control instead of a promise of one. A statement with neither
that paragraph nor the generated sections gets the widget at the end.

The texts are read and parsed once, when the app starts, so a missing or
unreadable ``PRIVACY_STATEMENT_FILE`` stops start-up with a message naming it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, make_response
from flask.blueprints import BlueprintSetupState
from markupsafe import Markup, escape

from ..config import ConfigError
from ..consent.policy import DEFAULT_LANG, LANGS
from ..web import i18n
from .statement import check_vendors, facts

bp = Blueprint("privacy_page", __name__)

SHIPPED = "personvernerklaering.{lang}.txt"
GENERATED_MARK = "<<processing>>"
# The sections rendered from the policy and configuration: fragment id,
# heading's catalogue key, template.
GENERATED = (
    ("informasjonskapsler", "st.cookies.heading", "statement/cookies.html"),
    ("samtykkeloggen", "st.log.heading", "statement/log.html"),
    ("mottakere", "st.recipients.heading", "statement/recipients.html"),
)
MAX_HEADING_LENGTH = 80
SENTENCE_ENDS = (".", ",", ";", ":", "!")
LINK = re.compile(
    r"(?P<url>https?://[^\s<>\"]+)|(?P<email>[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
)
URL_TRAILING = ".,;:!?)»\"'"
BULLET = re.compile(r"^\s*(?:[-*•]|(?P<number>\d+[.)]))\s+")
# Matomo's opt-out text in English (as on the old site) and in its Norwegian translations.
OPT_OUT = re.compile(
    r"^(You may choose to prevent this website from aggregating"
    r"|Du kan (?:velge å )?(?:hindre|forhindre|nekte) (?:at )?(?:dette|denne) nettstedet)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Block:
    """One piece of a section: a paragraph, a list, or the consent choices."""

    kind: str  # "p", "ul", "ol" or "choices"
    html: Markup = Markup("")
    items: tuple[Markup, ...] = ()


@dataclass
class Section:
    heading: str
    id: str
    blocks: list[Block] = field(default_factory=list)
    template: str | None = None  # a generated section's template, else None
    generated: bool = False  # the place of the generated sections, before expanding


@dataclass
class Statement:
    title: str
    intro: list[Block]
    sections: list[Section]
    lang: str = DEFAULT_LANG  # the language it is written in

    @property
    def headings(self) -> list[str]:
        """Every heading in page order: the title, then each section's."""
        return [self.title, *(s.heading for s in self.sections)]


def linkify(text: str) -> Markup:
    """Escape ``text`` and turn its URLs and email addresses into links."""
    out, last = [], 0
    for m in LINK.finditer(text):
        if m["url"]:
            url = m["url"].rstrip(URL_TRAILING)
            end = m.start() + len(url)
            href = url
        else:
            url, end, href = m["email"], m.end(), "mailto:" + m["email"]
        out.append(escape(text[last : m.start()]))
        out.append(Markup('<a href="{}">{}</a>').format(href, url))
        last = end
    out.append(escape(text[last:]))
    return Markup("").join(out)


def is_heading(block: str) -> bool:
    return (
        "\n" not in block
        and len(block) <= MAX_HEADING_LENGTH
        and not block.endswith(SENTENCE_ENDS)
        and not LINK.search(block)
    )


def slug(text: str, taken: set[str]) -> str:
    """A readable, unique fragment id: ``Endring og sletting`` -> ``endring-og-sletting``."""
    folded = text.lower().replace("æ", "ae").replace("ø", "o").replace("å", "a")
    ascii_text = unicodedata.normalize("NFKD", folded).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-") or "del"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    taken.add(candidate)
    return candidate


def to_block(text: str) -> Block:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    bullets = [BULLET.match(line) for line in lines]
    if len(lines) > 1 and all(bullets):
        ordered = all(b["number"] for b in bullets if b)
        items = tuple(linkify(line[b.end() :]) for line, b in zip(lines, bullets, strict=True) if b)
        return Block("ol" if ordered else "ul", items=items)
    if OPT_OUT.match(lines[0]):
        return Block("choices")
    return Block("p", html=linkify(" ".join(lines)))


def parse(text: str) -> Statement:
    """Structure a plain-text statement; see the module docstring for the rules."""
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if b.strip()]
    title = "Personvernerklæring"
    if blocks and is_heading(blocks[0]):
        title = blocks.pop(0)
    taken = {"innhold", "valg", *(fragment for fragment, _, _ in GENERATED)}
    intro: list[Block] = []
    sections: list[Section] = []
    for raw in blocks:
        if raw == GENERATED_MARK:
            sections.append(Section("", "", generated=True))
        elif is_heading(raw):
            sections.append(Section(raw, slug(raw, taken)))
        else:
            if sections and sections[-1].generated:
                raise ValueError(f"a heading must follow {GENERATED_MARK}: {raw[:40]!r}")
            (sections[-1].blocks if sections else intro).append(to_block(raw))
    every = intro + [b for s in sections for b in s.blocks]
    generated = any(s.generated for s in sections)
    if not generated and not any(b.kind == "choices" for b in every):
        (sections[-1].blocks if sections else intro).append(Block("choices"))
    return Statement(title, intro, sections)


def expand(statement: Statement, t: i18n.Texts) -> list[Section]:
    """The statement's sections, with the generated ones in place of their mark."""
    out = []
    for section in statement.sections:
        if section.generated:
            out += [
                Section(t.plain(key), fragment, template=template)
                for fragment, key, template in GENERATED
            ]
        else:
            out.append(section)
    return out


def statement_texts(app: Flask) -> dict[str, tuple[str, str]]:
    """Each language's statement text and the language it is written in.

    The instance's own (``PRIVACY_STATEMENT_FILE``) if set, else the shipped one.
    """
    configured = app.config["PRIVACY_STATEMENT_FILE"]
    if not configured:
        files = resources.files(__package__)
        return {
            lang: (files.joinpath(SHIPPED.format(lang=lang)).read_text("utf-8"), lang)
            for lang in LANGS
        }
    per_lang = "{lang}" in configured
    texts = {}
    for lang in LANGS:
        path = Path(app.instance_path) / (
            configured.replace("{lang}", lang) if per_lang else configured
        )
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise ConfigError(
                str(path), "PRIVACY_STATEMENT_FILE", f"cannot be read: {reason}"
            ) from None
        texts[lang] = (text, lang if per_lang else DEFAULT_LANG)
    return texts


def own_statement_problems(app: Flask) -> list[str]:
    """For a site's own statement: the vendors it gets wrong, per language (empty if none)."""
    if not app.config["PRIVACY_STATEMENT_FILE"]:
        return []
    policy = app.extensions["consentmgr.policy"]
    problems = []
    seen: set[str] = set()
    for lang, (text, _) in statement_texts(app).items():
        if text in seen:
            continue
        seen.add(text)
        where = f" ({lang})" if "{lang}" in app.config["PRIVACY_STATEMENT_FILE"] else ""
        problems += [f"PRIVACY_STATEMENT_FILE{where}: {p}" for p in check_vendors(text, policy)]
    return problems


@bp.record_once
def _load(state: BlueprintSetupState) -> None:
    app = state.app
    statements = {}
    for lang, (text, written_in) in statement_texts(app).items():
        statement = parse(text)
        statement.lang = written_in
        statements[lang] = statement
    app.extensions["consentmgr.privacy_statement"] = statements
    for problem in own_statement_problems(app):
        app.logger.warning("%s (see consentmgr check-statement)", problem)


def render_page(lang: str | None = None) -> str:
    """The statement page's HTML in this request's language (or ``lang``)."""
    lang = lang or i18n.negotiate()
    statement: Statement = current_app.extensions["consentmgr.privacy_statement"][lang]
    t = i18n.Texts(lang)
    return i18n.render(
        "personvern.html",
        statement=statement,
        sections=expand(statement, t),
        facts=facts(current_app.extensions["consentmgr.policy"], current_app.config, lang),
    )


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0
        self.main = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.skip += tag in ("script", "style")
        self.main = self.main or tag == "main"
        self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        self.skip -= tag in ("script", "style")
        self.main = self.main and tag != "main"

    def handle_data(self, data: str) -> None:
        if self.main and not self.skip:
            self.parts.append(data)


def page_text(html: str) -> str:
    """The words of a page's ``<main>``, for checking what a statement says."""
    parser = _Text()
    parser.feed(html)
    return " ".join("".join(parser.parts).split())


@bp.get("/personvern")
def show() -> Response:
    return i18n.vary(make_response(render_page()))
