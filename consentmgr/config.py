"""Configuration: defaults, validation and the file ``consentmgr init`` writes.

Every key is a Flask config name. The same keys come from ``instance/config.toml``
or, in tests, from the ``test_config`` mapping given to ``create_app``. A wrong
value stops start-up with a message that names the file and the key, because a
consent service that runs on a half-understood configuration is worse than one
that does not start.
"""

from __future__ import annotations

import re
import secrets
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from .storage.base import POSTGRES_SCHEMES


class ConfigError(Exception):
    """A configuration value is missing or has the wrong shape."""

    def __init__(self, source: str, key: str, expected: str) -> None:
        super().__init__(f"{source}: {key} {expected}")
        self.source = source
        self.key = key


@dataclass(frozen=True)
class Check:
    """A converter and the message it gives, made together so they cannot drift apart.

    ``convert`` returns the value to use or raises ``ValueError``/``TypeError``.
    """

    convert: Callable[[Any], Any]
    expected: str


@dataclass(frozen=True)
class Key:
    default: Any
    check: Check
    comment: str


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    raise ValueError


BOOL = Check(_bool, "must be true or false")


def _number(kind: type, lo: float, hi: float, unit: str) -> Check:
    def convert(v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, kind | int) or not lo <= v <= hi:
            raise ValueError
        return kind(v)

    noun = ("a whole number" if kind is int else "a number") + (f" of {unit}" if unit else "")
    limits = f"of at least {lo:g}" if hi == float("inf") else f"between {lo:g} and {hi:g}"
    return Check(convert, f"must be {noun} {limits}")


def _int(lo: int, hi: float = float("inf"), unit: str = "") -> Check:
    return _number(int, lo, hi, unit)


def _float(lo: float, hi: float, unit: str = "seconds") -> Check:
    return _number(float, lo, hi, unit)


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError
    return v


def _opt_str(v: Any) -> str | None:
    if v is None or v == "":
        return None
    return _str(v)


def _database(v: Any) -> str:
    """A path, or a URL only if PostgreSQL's: a mistyped scheme must not become a local file."""
    v = _str(v)
    if "://" in v and not v.startswith(POSTGRES_SCHEMES):
        raise ValueError
    return v


def _opt_postgres_url(v: Any) -> str | None:
    v = _opt_str(v)
    if v is not None and not v.startswith(POSTGRES_SCHEMES):
        raise ValueError
    return v


def _text(what: str) -> Check:
    """Any string; ``what`` says what it stands for."""
    return Check(_str, f"must be {what}")


def _opt_text(what: str) -> Check:
    """Any string, or empty for none."""
    return Check(_opt_str, f"must be {what}, or empty")


def _choice(*options: str) -> Check:
    def convert(v: Any) -> str:
        if v not in options:
            raise ValueError
        return v

    return Check(convert, "must be " + " or ".join(f'"{o}"' for o in options))


def _pattern(regex: str, what: str, *, optional: bool = True) -> Check:
    compiled = re.compile(regex)

    def convert(v: Any) -> str | None:
        if optional and (v is None or v == ""):
            return None
        if not isinstance(v, str) or not compiled.fullmatch(v):
            raise ValueError
        return v

    return Check(convert, f"must be {what}" + (", or empty" if optional else ""))


def _str_list(v: Any) -> list[str]:
    if not isinstance(v, list) or not all(isinstance(s, str) and s for s in v):
        raise ValueError
    return list(v)


def _subset(*options: str) -> Check:
    def convert(v: Any) -> list[str]:
        if not isinstance(v, list) or any(s not in options for s in v) or len(set(v)) < len(v):
            raise ValueError
        return list(v)

    return Check(convert, "must be a list of " + " and/or ".join(f'"{o}"' for o in options))


def _origin(v: str) -> str:
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise ValueError
    if parts.query or parts.fragment:
        raise ValueError
    return f"{parts.scheme}://{parts.netloc}".lower()


ORIGINS = Check(
    lambda v: [_origin(s) for s in _str_list(v)],
    'must be a list of origins like ["https://ansettr.no"] (scheme and host, no path)',
)


def _secret(v: Any) -> str:
    if not isinstance(v, str) or len(v) < 32:
        raise ValueError
    return v


def _secrets(v: Any) -> list[str]:
    if not isinstance(v, list):
        raise ValueError
    return [_secret(s) for s in v]


SECRET = Check(
    _secret,
    "must be a string of at least 32 characters (run `consentmgr init` to make one)",
)
PUBLIC_URL = Check(
    lambda v: None if _opt_str(v) is None else _origin(v),
    'must be the URL visitors reach this service at, like "https://consent.ansettr.no"'
    " (scheme and host, no path), or empty",
)
SECRETS = Check(_secrets, "must be a list of strings of at least 32 characters")


class Rate(NamedTuple):
    """A rate limit: ``burst`` at once, refilled at ``count`` per ``seconds``."""

    count: int
    seconds: float
    burst: int

    @property
    def interval(self) -> float:
        """Seconds one request's allowance takes to come back."""
        return self.seconds / self.count


RATE_UNITS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
_RATE = re.compile(r"\s*(\d{1,9})\s*/\s*(second|minute|hour|day)\s*(?:,\s*burst\s+(\d{1,9})\s*)?")


def parse_rate(v: Any) -> Rate | None:
    """``"100/hour, burst 600"`` (burst defaults to the count), or None for ``"off"``."""
    if v == "off":
        return None
    match = _RATE.fullmatch(v) if isinstance(v, str) else None
    if match is None:
        raise ValueError
    count, unit, burst = int(match[1]), match[2], int(match[3] or match[1])
    if count < 1 or burst < 1:
        raise ValueError
    return Rate(count, RATE_UNITS[unit], burst)


def _rate(v: Any) -> str:
    parse_rate(v)
    return v


def _http_url(v: Any) -> str | None:
    v = _opt_str(v)
    if v is None:
        return None
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError
    return v


def _url(example: str) -> Check:
    return Check(_http_url, f'must be an http(s) URL like "{example}", or empty')


RATE = Check(
    _rate,
    'must be a rate like "100/hour, burst 600" (per second, minute, hour or day), or "off"',
)


KEYS: dict[str, Key] = {
    "SECRET_KEY": Key(
        None,
        SECRET,
        "Signs consent cookies and sessions. Keep it secret; rotate via OLD_SECRET_KEYS.",
    ),
    "OLD_SECRET_KEYS": Key(
        [], SECRETS, "Earlier secret keys, still accepted when verifying, so keys can rotate."
    ),
    "DATABASE": Key(
        "consentmgr.sqlite",
        Check(
            _database,
            "must be a path (relative paths are inside the instance folder) or a postgresql:// URL",
        ),
        "SQLite file with the consent log, policies and outbox; or a postgresql:// URL"
        " (postgresql://user@host/db) for several app servers on one database.",
    ),
    "DATABASE_URL": Key(
        None,
        Check(_opt_postgres_url, "must be a postgresql:// (or postgres://) URL, or empty"),
        "PostgreSQL database (postgresql://user@host/db); when set it takes the place of DATABASE.",
    ),
    "DATABASE_POOL_SIZE": Key(
        10,
        _int(1, 1000, "connections"),
        "PostgreSQL: connections each app process keeps at most.",
    ),
    "DATABASE_TIMEOUT_SECONDS": Key(
        5.0,
        _float(0.5, 60),
        "PostgreSQL: how long a request waits for a connection before it is answered 503.",
    ),
    "SITE_ORIGINS": Key(
        [], ORIGINS, "Origins allowed to post decisions, besides this service's own origin."
    ),
    "PUBLIC_URL": Key(
        None,
        PUBLIC_URL,
        "The URL visitors reach this service at, e.g. https://consent.ansettr.no: its own"
        " origin, never taken from the request's Host; https also turns on HSTS. Empty:"
        " only when opened on this machine (http://127.0.0.1, http://localhost).",
    ),
    "COOKIE_NAME": Key("consent", _text("a string"), "Name of the consent cookie."),
    "COOKIE_DOMAIN": Key(
        None,
        _opt_text('a domain like "ansettr.no"'),
        "Cookie domain, so the choice is first-party on the site and this service.",
    ),
    "COOKIE_SECURE": Key(True, BOOL, "Send cookies only over HTTPS (true in production)."),
    "CONSENT_MAX_AGE_DAYS": Key(
        180,
        _int(1, 3650, "days"),
        "How long a decision (refusals too) is remembered before the banner asks again.",
    ),
    "BUNDLE_SCRIPTS": Key(
        ["matomo", "fbq"],
        _subset("matomo", "fbq"),
        "What /consent.js carries after the banner: the loader of our Matomo tracker (it"
        " fetches /matomo.js once analytics is granted) and the fbq() shim, so one tag does"
        " everything. Each starts only with its category's consent. Leave"
        ' "matomo" out on sites that load the official matomo.js.',
    ),
    "HONOR_GPC": Key(True, BOOL, "Treat Sec-GPC: 1 / DNT: 1 from undecided visitors as a refusal."),
    "POLICY_FILE": Key(
        None,
        _opt_text("a path to a JSON policy file"),
        "Your own policy (JSON, same shape as consentmgr/consent/policy.json);"
        " empty uses the shipped one.",
    ),
    "PRIVACY_URL": Key(
        "/personvern", _text("a URL or a path"), "Where the banner's privacy link points."
    ),
    "PRIVACY_STATEMENT_FILE": Key(
        None,
        _opt_text("a path to a UTF-8 text file"),
        "Your own privacy statement (plain text) for /personvern; empty uses the shipped one.",
    ),
    "RETENTION_DAYS": Key(
        400,
        _int(1, 36500, "days"),
        "Personal details of decisions (id, page, browser, network) are blanked after this.",
    ),
    "CHECKPOINT_EVERY": Key(
        1000,
        _int(1, unit="decisions"),
        "Sign a checkpoint of the log's head every this many decisions (and at least daily).",
    ),
    "SHOW_REOPEN_BUTTON": Key(
        False, BOOL, 'Show a small persistent "Personvern" button that reopens the consent choices.'
    ),
    "DEMO": Key(
        False,
        BOOL,
        "Serve the demo site at /demo. Its decisions go into the real log: development only"
        " (`./dev run` turns it on with `consentmgr run --demo`).",
    ),
    "TRUSTED_PROXIES": Key(
        0,
        _int(0, 5, "reverse proxies in front of the app"),
        "How many proxies set X-Forwarded-For/-Proto/-Host; 0 trusts none.",
    ),
    "ACCESS_LOG": Key(
        True,
        BOOL,
        "`consentmgr serve` logs each request: time, the client's /24 (/48) network, method,"
        " route, status, size, duration. Never the address, query string or user agent.",
    ),
    "MATOMO_URL": Key(
        None,
        _url("https://ansettr.matomo.cloud/"),
        "Matomo upstream base URL; hits go to <MATOMO_URL>/matomo.php. Empty disables Matomo.",
    ),
    "MATOMO_SITE_ID": Key(1, _int(1), "Matomo site id every hit is forced to."),
    "MATOMO_TOKEN_AUTH": Key(
        None,
        _opt_text("a string"),
        "Matomo token_auth, added server-side so Matomo accepts cip and cdt.",
    ),
    "META_PIXEL_ID": Key(
        None,
        _pattern(r"\d{5,20}", "the pixel id as a string of digits"),
        "Meta pixel (dataset) id; events go to its Conversions API. Empty disables Meta.",
    ),
    "META_ACCESS_TOKEN": Key(
        None, _opt_text("a string"), "Conversions API access token for the pixel."
    ),
    "META_API_VERSION": Key(
        "v23.0",
        _pattern(r"v\d{1,3}\.\d{1,2}", 'a Graph API version like "v23.0"', optional=False),
        "Graph API version to call.",
    ),
    "META_GRAPH_URL": Key(
        "https://graph.facebook.com",
        _url("https://graph.facebook.com"),
        "Graph API host; events go to <META_GRAPH_URL>/<version>/<pixel id>/events.",
    ),
    "META_TEST_EVENT_CODE": Key(
        None,
        _opt_text("a string"),
        "Test event code from Events Manager, to see events in Test Events; empty in production.",
    ),
    "OUTBOX_MAX_AGE_HOURS": Key(
        48,
        _int(1, 24 * 30, "hours"),
        "Undelivered Matomo items older than this become dead instead of being sent late.",
    ),
    "OUTBOX_KEEP_DAYS": Key(
        7, _int(1, 3650, "days"), "Delivered and dead outbox items are pruned after this many days."
    ),
    "DELIVER_IN_BACKGROUND": Key(
        True,
        BOOL,
        "Run the deliverer as a thread in each app process (false: run `consentmgr deliver`).",
    ),
    "DELIVER_INTERVAL_SECONDS": Key(
        2.0,
        _float(0.05, 3600),
        "How often the deliverer looks for due items when it is not woken by a new one.",
    ),
    "OUTBOX_LEASE_SECONDS": Key(
        120,
        _int(5, 3600, "seconds"),
        "How long a deliverer holds a batch it claimed; a crashed deliverer's items go to"
        " another after this. Longer than UPSTREAM_CONNECT_TIMEOUT plus UPSTREAM_READ_TIMEOUT.",
    ),
    "UPSTREAM_CONNECT_TIMEOUT": Key(3.05, _float(0.1, 60), "Connect timeout upstream."),
    "UPSTREAM_READ_TIMEOUT": Key(10.0, _float(0.1, 300), "Read timeout upstream."),
    "ADMIN_IDLE_MINUTES": Key(
        30,
        _int(1, 24 * 60, "minutes"),
        "An admin console session ends after this many minutes without a request.",
    ),
    "ADMIN_MIN_PASSWORD_LENGTH": Key(
        12, _int(8, 256, "characters"), "Shortest password `consentmgr create-admin` accepts."
    ),
    "ADMIN_LOGIN_MAX_FAILURES": Key(
        5,
        _int(1, 1000, "failed sign-ins"),
        "Failed sign-ins allowed per username from one client network, and per client"
        " network, within the window.",
    ),
    "ADMIN_LOGIN_WINDOW_MINUTES": Key(
        15,
        _int(1, 24 * 60, "minutes"),
        "The window for ADMIN_LOGIN_MAX_FAILURES; further attempts get 429 until it passes.",
    ),
    # Limits per client network (/24 or /48) on what anonymous clients can make us store.
    "RATE_LIMIT_DECISIONS": Key(
        "100/hour, burst 600",
        RATE,
        "Decisions (POST and DELETE /api/consent) per client network: the burst at once,"
        ' refilled at the rate. "off" for no limit.',
    ),
    "RATE_LIMIT_ERASURES": Key(
        "20/hour, burst 50",
        RATE,
        "Visitor erasures (POST /mine-data/slett) per client network.",
    ),
    "RATE_LIMIT_GATEWAY": Key(
        "2400/minute, burst 6000",
        RATE,
        "Gateway hits (/matomo.php, each hit of a bulk request) and Meta events, per client"
        " network and per target.",
    ),
    "RATE_LIMIT_SIGN_IN": Key(
        "30/hour, burst 30",
        RATE,
        "Admin sign-in attempts (POST /admin/login) per client network, right or wrong.",
    ),
    "AUDIT_KEEP_DAYS": Key(
        730,
        _int(1, 36500, "days"),
        "Admin console audit entries are deleted after this many days.",
    ),
    "SQLITE_SYNCHRONOUS": Key(
        "FULL",
        _choice("FULL", "NORMAL"),
        "FULL survives power loss; NORMAL survives a crash of the app, faster.",
    ),
    "HIT_FLUSH_MS": Key(
        50,
        _int(0, 1000, "milliseconds"),
        "Gateway hits are on disk within this window of their 204 (a power cut can lose at"
        " most this window of hits, never a decision); 0 flushes each hit before answering.",
    ),
}


def template() -> str:
    """The text of a fresh ``config.toml``: every key, its default and a comment."""
    lines = ["# consentmgr configuration. Every key is optional except SECRET_KEY.", ""]
    for name, key in KEYS.items():
        lines.append(f"# {key.comment}")
        value = secrets.token_urlsafe(48) if name == "SECRET_KEY" else key.default
        if value is None:
            lines.append(f'# {name} = ""')
        else:
            lines.append(f"{name} = {_toml(value)}")
        lines.append("")
    return "\n".join(lines)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(value)


def read_file(path: Path) -> dict[str, Any]:
    """Parse a TOML config file, turning syntax errors into a ConfigError."""
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(
            str(path), "SECRET_KEY", "is missing: the file does not exist (run `consentmgr init`)"
        ) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(str(path), "(syntax)", f"is not valid TOML: {e}") from None


def validate(values: Mapping[str, Any], source: str, *, testing: bool = False) -> dict[str, Any]:
    """Check ``values`` against the known keys and return them with defaults filled in.

    Unknown keys are refused so a typo (``COOKIE_SECUR``) cannot silently leave the
    default in force.
    """
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name == "TESTING" and testing:  # the test suite's; never from a config file
            out[name] = bool(value)
            continue
        if name not in KEYS:
            raise ConfigError(source, name, "is not a known setting (check its spelling)")
        try:
            out[name] = KEYS[name].check.convert(value)
        except (ValueError, TypeError):
            raise ConfigError(source, name, KEYS[name].check.expected) from None
    for name, key in KEYS.items():
        out.setdefault(name, key.default)
    if out["SECRET_KEY"] is None:
        if not (testing or out.get("TESTING")):
            raise ConfigError(source, "SECRET_KEY", "is missing (run `consentmgr init`)")
        out["SECRET_KEY"] = secrets.token_urlsafe(48)
    one_call = out["UPSTREAM_CONNECT_TIMEOUT"] + out["UPSTREAM_READ_TIMEOUT"]
    if out["OUTBOX_LEASE_SECONDS"] <= one_call:
        raise ConfigError(
            source,
            "OUTBOX_LEASE_SECONDS",
            f"must be longer than one upstream call may take ({one_call:g} s:"
            " UPSTREAM_CONNECT_TIMEOUT plus UPSTREAM_READ_TIMEOUT), or another deliverer"
            " takes the items over while they are still being sent",
        )
    return out
