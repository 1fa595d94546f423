"""Advanced matching: the customer information the ``fbq()`` shim passes on, made safe for Meta.

A site hands the pixel what it knows about the visitor with
``fbq("init", id, {...})`` or ``fbq("set", "userData", {...})``. Meta's own
pixel normalises and hashes these values in the browser; our shim sends them
as the site gave them (keeping the shim small) and this module does the work
on the server, the moment the event arrives, so only hashes are ever queued,
stored or sent.

Each key follows Meta's rule for the Conversions API customer information
parameter of the same name. A hash of a value normalised differently from
Meta's is still a valid hash that matches nobody, and Meta gives no feedback,
so a value that cannot be normalised is refused (``InvalidMatch``, a 400 for
the site) rather than hashed as it is. A value that is already a SHA-256 hex
digest is passed through, so a site that hashes in the browser still works.
"""

from __future__ import annotations

import datetime
import hashlib
import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

SHA256_HEX = re.compile(r"[0-9a-f]{64}")
WHITESPACE = re.compile(r"\s")
# Longer than any real name, address part or id; a bound on what one key may cost.
MAX_VALUE_CHARS = 256
DEFAULT_COUNTRY_CODE = "47"  # a national number without a country code is Norwegian

# ISO 3166-1 alpha-2, the codes Meta matches ``country`` on.
COUNTRIES = frozenset(
    """
    ad ae af ag ai al am ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bl bm bn bo bq
    br bs bt bv bw by bz ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm
    do dz ec ee eg eh er es et fi fj fk fm fo fr ga gb gd ge gf gg gh gi gl gm gn gp gq gr gs
    gt gu gw gy hk hm hn hr ht hu id ie il im in io iq ir is it je jm jo jp ke kg kh ki km kn
    kp kr kw ky kz la lb lc li lk lr ls lt lu lv ly ma mc md me mf mg mh mk ml mm mn mo mp mq
    mr ms mt mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu nz om pa pe pf pg ph pk pl pm
    pn pr ps pt pw py qa re ro rs ru rw sa sb sc sd se sg sh si sj sk sl sm sn so sr ss st sv
    sx sy sz tc td tf tg th tj tk tl tm tn to tr tt tv tw tz ua ug um us uy uz va vc ve vg
    vi vn vu wf ws ye yt za zm zw
    """.split()
)
# Country names sites are likely to have in a form, Meta's own example first.
COUNTRY_NAMES = {
    "unitedstates": "us",
    "unitedstatesofamerica": "us",
    "usa": "us",
    "norway": "no",
    "norge": "no",
    "noreg": "no",
    "sweden": "se",
    "sverige": "se",
    "denmark": "dk",
    "danmark": "dk",
    "finland": "fi",
    "suomi": "fi",
    "iceland": "is",
    "island": "is",
    "germany": "de",
    "tyskland": "de",
    "unitedkingdom": "gb",
    "uk": "gb",
    "storbritannia": "gb",
}
# Meta wants the 2-letter ANSI code for a US state, not its name.
US_STATES = {
    "alabama": "al", "alaska": "ak", "arizona": "az", "arkansas": "ar", "california": "ca",
    "colorado": "co", "connecticut": "ct", "delaware": "de", "districtofcolumbia": "dc",
    "florida": "fl", "georgia": "ga", "hawaii": "hi", "idaho": "id", "illinois": "il",
    "indiana": "in", "iowa": "ia", "kansas": "ks", "kentucky": "ky", "louisiana": "la",
    "maine": "me", "maryland": "md", "massachusetts": "ma", "michigan": "mi",
    "minnesota": "mn", "mississippi": "ms", "missouri": "mo", "montana": "mt",
    "nebraska": "ne", "nevada": "nv", "newhampshire": "nh", "newjersey": "nj",
    "newmexico": "nm", "newyork": "ny", "northcarolina": "nc", "northdakota": "nd",
    "ohio": "oh", "oklahoma": "ok", "oregon": "or", "pennsylvania": "pa",
    "rhodeisland": "ri", "southcarolina": "sc", "southdakota": "sd", "tennessee": "tn",
    "texas": "tx", "utah": "ut", "vermont": "vt", "virginia": "va", "washington": "wa",
    "westvirginia": "wv", "wisconsin": "wi", "wyoming": "wy",
}  # fmt: skip
GENDERS = {"f": "f", "female": "f", "m": "m", "male": "m"}
US_ZIP = re.compile(r"(\d{5})(?:-?\d{4})?")
POSTCODE = re.compile(r"[a-z0-9]{2,10}")
# Day-first with dots (Norway), month-first with slashes (Meta's example, the US),
# year-first with dashes or slashes (ISO 8601), or Meta's own YYYYMMDD.
DATE_FORMATS = ("%Y%m%d", "%Y-%m-%d", "%Y/%m/%d", "%d.%m.%Y", "%m/%d/%Y")


class InvalidMatch(ValueError):
    """A customer information value that cannot be normalised the way Meta expects."""


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def letters(text: str) -> str:
    """``text`` lower-cased with only its letters kept, in composed (NFC) UTF-8 form.

    Meta asks for names and places in lower case without punctuation, spaces
    or special characters, but with letters outside a-z kept (``Valéry`` is
    ``valéry``, ``정`` stays ``정``), so "letter" is Unicode's category ``L``.
    Composing first makes ``e`` + combining accent and ``é`` hash alike.
    """
    composed = unicodedata.normalize("NFC", text.strip().lower())
    return "".join(c for c in composed if unicodedata.category(c).startswith("L"))


def email(value: str) -> str:
    """Trimmed and lower-cased; refused unless it looks like ``local@domain.tld``."""
    text = value.strip().lower()
    if not is_email(text):
        raise InvalidMatch("user_data.em must be an email address")
    return text


def is_email(text: str) -> bool:
    """``local@domain.tld``: one ``@``, no whitespace, a dot inside the domain.

    Checked in one pass over the text: the regular expression this replaced
    backtracked, so a crafted address (``a@....@``) cost time growing with
    the square of its length.
    """
    local, _, domain = text.partition("@")
    return (
        bool(local)
        and "@" in text
        and "@" not in domain
        and "." in domain[1:-1]
        and not WHITESPACE.search(text)
    )


def phone(value: str) -> str:
    """Digits only, with the country code and without leading zeros.

    ``+47`` and ``0047`` become ``47``. Meta cannot match a number without its
    country code, and this site's visitors are in Norway, so an 8-digit number
    without one gets ``47``.
    """
    raw = value.strip()
    digits = re.sub(r"\D", "", raw)
    if raw.startswith("+"):
        pass
    elif digits.startswith("00"):
        digits = digits[2:]
    elif len(digits) == 8:
        digits = DEFAULT_COUNTRY_CODE + digits
    digits = digits.lstrip("0")
    if not 8 <= len(digits) <= 15:
        raise InvalidMatch("user_data.ph must be a phone number with 8 to 15 digits")
    return digits


def name(key: str) -> Callable[[str], str]:
    """First or last name: lower case, no punctuation or spaces, other letters kept."""

    def normalise(value: str) -> str:
        text = letters(value)
        if not text:
            raise InvalidMatch(f"user_data.{key} must hold letters")
        return text

    return normalise


def gender(value: str) -> str:
    """``f`` or ``m``, Meta's two values; ``female`` and ``male`` are read as those."""
    text = value.strip().lower()
    if text not in GENDERS:
        raise InvalidMatch("user_data.ge must be f or m")
    return GENDERS[text]


def birth_date(value: str) -> str:
    """``YYYYMMDD``, from that form or a common written one; a real date from 1900 on."""
    text = value.strip()
    for form in DATE_FORMATS:
        try:
            date = datetime.datetime.strptime(text, form).date()
        except ValueError:
            continue
        if 1900 <= date.year <= datetime.date.today().year:
            return date.strftime("%Y%m%d")
    raise InvalidMatch("user_data.db must be a date of birth such as 19970216 or 1997-02-16")


def city(value: str) -> str:
    """Lower case, letters only: no spaces, digits or punctuation (``menlopark``)."""
    text = letters(value)
    if not text:
        raise InvalidMatch("user_data.ct must hold letters")
    return text


def state(value: str) -> str:
    """The 2-letter code for a US state (its name is mapped); elsewhere letters only."""
    text = letters(value)
    if not text:
        raise InvalidMatch("user_data.st must hold letters")
    return US_STATES.get(text, text)


def postcode(value: str, country: str | None = None) -> str:
    """Lower case without spaces or dashes; a US zip code is cut to its first 5 digits.

    A ZIP+4 (``94025-1234``) is recognised by its dash; a bare 9-digit code
    only when the event's country is ``us``, as elsewhere it may be whole.
    """
    text = WHITESPACE.sub("", value).lower()
    zip_code = US_ZIP.fullmatch(text)
    if zip_code and ("-" in text or country == "us"):
        return zip_code.group(1)
    text = text.replace("-", "")
    if not POSTCODE.fullmatch(text):
        raise InvalidMatch("user_data.zp must be a postcode of 2 to 10 letters and digits")
    return text


def country(value: str) -> str:
    """The lower-case ISO 3166-1 alpha-2 code; a few common country names are mapped."""
    text = letters(value)
    code = COUNTRY_NAMES.get(text, text)
    if code not in COUNTRIES:
        raise InvalidMatch("user_data.country must be a 2-letter ISO 3166-1 country code")
    return code


def external_id(value: str) -> str:
    """Trimmed, nothing else: the site's own id must hash the same on every channel."""
    text = value.strip()
    if not text:
        raise InvalidMatch("user_data.external_id must not be blank")
    return text


# The one list of keys the shim may send, each with its rule, in Meta's order.
RULES: dict[str, Callable[[str], str]] = {
    "em": email,
    "ph": phone,
    "fn": name("fn"),
    "ln": name("ln"),
    "ge": gender,
    "db": birth_date,
    "ct": city,
    "st": state,
    "zp": postcode,
    "country": country,
    "external_id": external_id,
}
KEYS = tuple(RULES)


def as_text(key: str, value: Any) -> str | None:
    """The value as text; numbers are allowed (``{external_id: 12345}`` is Meta's example).

    ``None`` and ``""`` mean "not given", as with the pixel.
    """
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidMatch(f"user_data.{key} must be a string or a whole number")
    if len(value) > MAX_VALUE_CHARS:
        raise InvalidMatch(f"user_data.{key} must be at most {MAX_VALUE_CHARS} characters")
    return value


def hashed(key: str, value: str, country_code: str | None = None) -> str:
    """The SHA-256 of the normalised value, or the value itself when it already is one."""
    digest = value.strip().lower()
    if SHA256_HEX.fullmatch(digest):
        return digest
    if key == "zp":
        return sha256(postcode(value, country_code))
    return sha256(RULES[key](value))


def hash_all(user: Mapping[str, Any]) -> dict[str, str]:
    """Every given key's hash, or ``InvalidMatch`` naming the first key that is wrong.

    The country, when given, is read first: a US zip code is cut to 5 digits.
    """
    unknown = set(user) - set(KEYS)
    if unknown:
        raise InvalidMatch(f"user_data may only hold {', '.join(KEYS)}; not {sorted(unknown)[0]}")
    texts = {key: as_text(key, user.get(key)) for key in KEYS}
    given = {key: text for key, text in texts.items() if text is not None}
    country_code = None
    if "country" in given and not SHA256_HEX.fullmatch(given["country"].strip().lower()):
        country_code = country(given["country"])
    return {key: hashed(key, text, country_code) for key, text in given.items()}
