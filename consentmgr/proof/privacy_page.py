"""``GET /personvern``: the privacy statement as an accessible page, with a working opt-out.

The statement is kept as plain text (``personvernerklaering.txt`` in the
package, or the instance's own file in ``PRIVACY_STATEMENT_FILE``) so the
people who write it never touch HTML. It is turned into structure here:

* blocks are separated by blank lines;
* a one-line block that is short and does not end like a sentence (``.``,
  ``,``, ``;``, ``:``, ``!``) is a heading: the first is the page's ``<h1>``,
  the others ``<h2>`` sections;
* a block whose lines all start with ``-``, ``*``, ``•`` or ``1.`` is a list;
* URLs and email addresses become links.

Matomo's stock opt-out paragraph ("You may choose to prevent this website
from aggregating...", which on the old site sat above Matomo's opt-out
iframe) is replaced by the banner's preferences widget
(``<div data-consent-preferences>``) with a short explanation in bokmål, so
the page offers a real control instead of a promise of one. A statement
without that paragraph gets the widget at the end.

The text is read and parsed once, when the app starts, so a missing or
unreadable ``PRIVACY_STATEMENT_FILE`` stops start-up with a message naming it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from flask import Blueprint, Flask, current_app, render_template
from flask.blueprints import BlueprintSetupState
from markupsafe import Markup, escape

from ..config import ConfigError

bp = Blueprint("privacy_page", __name__)

SHIPPED = "personvernerklaering.txt"
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


@dataclass
class Statement:
    title: str
    intro: list[Block]
    sections: list[Section]

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
    taken = {"innhold", "valg"}
    intro: list[Block] = []
    sections: list[Section] = []
    for raw in blocks:
        if is_heading(raw):
            sections.append(Section(raw, slug(raw, taken)))
        else:
            (sections[-1].blocks if sections else intro).append(to_block(raw))
    every = intro + [b for s in sections for b in s.blocks]
    if not any(b.kind == "choices" for b in every):
        (sections[-1].blocks if sections else intro).append(Block("choices"))
    return Statement(title, intro, sections)


def statement_text(app: Flask) -> str:
    """The instance's statement (``PRIVACY_STATEMENT_FILE``), else the shipped one."""
    configured = app.config["PRIVACY_STATEMENT_FILE"]
    if not configured:
        return resources.files(__package__).joinpath(SHIPPED).read_text("utf-8")
    path = Path(app.instance_path) / configured
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise ConfigError(
            str(path), "PRIVACY_STATEMENT_FILE", f"cannot be read: {reason}"
        ) from None


@bp.record_once
def _load(state: BlueprintSetupState) -> None:
    state.app.extensions["consentmgr.privacy_statement"] = parse(statement_text(state.app))


@bp.get("/personvern")
def show() -> str:
    statement: Statement = current_app.extensions["consentmgr.privacy_statement"]
    return render_template("personvern.html", statement=statement)
