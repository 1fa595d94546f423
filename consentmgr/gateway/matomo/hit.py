"""Reading and cleaning Matomo Tracking HTTP API requests.

``matomo.js`` sends hits three ways: a GET with the parameters in the query
string, a POST with a form-encoded body, and a bulk POST whose body is JSON
``{"requests": ["?idsite=1&rec=1&...", ...]}`` (often labelled
``application/x-www-form-urlencoded`` all the same). All three become a list
of parameter lists here.

Cleaning keeps only parameters on an explicit allowlist, then sets what only
the server may set. ``cip``, ``cdt``, ``country``, ``region``, ``city``,
``lat``, ``long`` and ``token_auth`` are trusted by Matomo only from an
authenticated request; since the gateway adds its own token, taking any of
them from the browser would let a visitor forge them, so they are never taken.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode

from ...web.request_body import UNSENDABLE, Unsendable, loads

MAX_BULK = 100
MAX_PARAMS = 300

ALLOWED = frozenset(
    """
    rec action_name url urlref _id rand apiv _idn _idvc _viewts _idts _rcn _rck _refts _ref
    res h m s cookie fla java dir qt realp pdf wma gears ag uid cid new_visit cs cvar _cvar
    link download search search_cat search_count pv_id idgoal revenue gt_ms ca uadata
    pf_net pf_srv pf_tfr pf_dm1 pf_dm2 pf_onl
    e_c e_a e_n e_v e_cvar c_n c_p c_t c_i
    ec_id ec_items ec_st ec_tx ec_sh ec_dt _ects _pkc _pkp _pks _pkn
    send_image ping
    """.split()
)
ALLOWED_PATTERN = re.compile(r"dimension\d{1,3}")
SERVER_ONLY = frozenset(
    {"idsite", "cip", "cdt", "country", "region", "city", "lat", "long", "token_auth", "ua", "lang"}
)


class InvalidHit(ValueError):
    """The request is not a Matomo tracking request we can forward."""


class TooMany(ValueError):
    """A bulk request with more hits than one upstream call may carry."""


def _params(query: str) -> list[tuple[str, str]]:
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False, max_num_fields=None)
    except ValueError as e:
        raise InvalidHit(f"cannot parse parameters: {e}") from None
    if len(pairs) > MAX_PARAMS:
        raise InvalidHit(f"more than {MAX_PARAMS} parameters")
    return _sendable(pairs)


def _sendable(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Refuse NUL and lone surrogates (which have no UTF-8): Matomo could not be sent them."""
    for name, value in pairs:
        if UNSENDABLE.search(name) or UNSENDABLE.search(value):
            raise InvalidHit(f"parameter {name[:50]!r} holds NUL or an unpaired surrogate")
    return pairs


def parse(args: Iterable[tuple[str, str]], body: bytes) -> list[list[tuple[str, str]]]:
    """Split a GET, form POST or bulk POST into one parameter list per hit."""
    query = _sendable(list(args))
    text = body.decode("utf-8", errors="strict") if body else ""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            data = loads(stripped)
        except Unsendable as e:
            raise InvalidHit(f"bulk body cannot be accepted: {e}") from None
        except ValueError:
            raise InvalidHit("bulk body is not valid JSON") from None
        requests = data.get("requests") if isinstance(data, dict) else None
        if not isinstance(requests, list) or not requests:
            raise InvalidHit('bulk body must be {"requests": ["?idsite=..&rec=1&..", ...]}')
        if len(requests) > MAX_BULK:
            raise TooMany(f"bulk requests may carry at most {MAX_BULK} hits")
        hits = []
        for item in requests:
            if not isinstance(item, str):
                raise InvalidHit("every bulk request must be a query string")
            hits.append(_params(item.split("?", 1)[1] if "?" in item else item))
    else:
        hits = [query + _params(text)] if text else [query]
    for hit in hits:
        if dict(hit).get("rec") != "1":
            raise InvalidHit("not a tracking request: rec=1 is missing")
    return hits


def allowed(name: str) -> bool:
    return name in ALLOWED or bool(ALLOWED_PATTERN.fullmatch(name))


def clean(
    params: Iterable[tuple[str, str]],
    *,
    site_id: int,
    client_ip: str,
    user_agent: str,
    language: str,
    accepted_at: float,
) -> list[tuple[str, str]]:
    """The hit as it may go upstream: allowlisted parameters plus the server's own.

    Returned as pairs; :func:`query` encodes them when the deliverer sends,
    off the visitor's path.
    """
    kept = [(k, v) for k, v in params if allowed(k) and k not in SERVER_ONLY]
    forced = [("idsite", str(site_id)), ("rec", "1"), ("cdt", str(int(accepted_at)))]
    if client_ip:
        forced.append(("cip", client_ip))
    if user_agent:
        forced.append(("ua", user_agent[:1000]))
    if language:
        forced.append(("lang", language[:200]))
    return forced + [(k, v) for k, v in kept if k != "rec"]


def query(pairs: Iterable[Iterable[str]]) -> str:
    """A bulk request item: ``?name=value&...``."""
    return "?" + urlencode([tuple(p) for p in pairs])


def wants_image(hits: list[list[tuple[str, str]]]) -> bool:
    return any(dict(hit).get("send_image") == "1" for hit in hits)
