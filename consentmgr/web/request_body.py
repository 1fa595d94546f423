"""Reading small JSON bodies sent by browsers with ``fetch`` or ``sendBeacon``.

Banners post as ``text/plain`` so that a cross-origin request stays "simple"
and needs no CORS preflight; the body is JSON either way.

Whatever is accepted here must be storable and sendable on: Python's parser
takes ``NaN``, ``Infinity``, numbers no upstream can represent and strings
holding lone surrogates or NUL, none of which can be encoded again as JSON
(or UTF-8) for an upstream, so :func:`loads` refuses them, and nesting deeper
than :data:`MAX_DEPTH`, with a 400. Body limits hold for chunked bodies too:
without ``Content-Length`` the body is read up to one byte past the limit, so
an oversized body is a 413 rather than silently cut short.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import request

from .errors import ApiError

JSON_TYPES = ("application/json", "text/plain")
MAX_DEPTH = 400
INT_RANGE = 2**63  # integers beyond a signed 64-bit range are refused
# NUL, and UTF-16 surrogate halves that JSON "\ud800" escapes can smuggle into a str.
UNSENDABLE = re.compile("[\x00\ud800-\udfff]")


class Unsendable(ValueError):
    """A JSON text that parses in Python but could not be encoded again for an upstream."""


def _refuse_constant(name: str) -> Any:
    raise Unsendable(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise Unsendable("a number is out of range")
    return value


def _bounded_int(text: str) -> int:
    value = int(text)
    if not -INT_RANGE <= value < INT_RANGE:
        raise Unsendable("a number is out of range")
    return value


def check_value(value: Any, max_depth: int = MAX_DEPTH) -> None:
    """Refuse strings (keys too) holding NUL or lone surrogates, and nesting past ``max_depth``.

    Iterative, so the check itself cannot run out of stack.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if UNSENDABLE.search(item):
                raise Unsendable("text holds NUL or an unpaired surrogate (\\ud800-\\udfff)")
        elif isinstance(item, dict | list):
            if depth > max_depth:
                raise Unsendable(f"JSON is nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                stack.extend((k, depth) for k in item)
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON that can be stored and sent on; raise ValueError (or Unsendable) otherwise."""
    try:
        value = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except RecursionError:
        raise Unsendable(f"JSON is nested deeper than {max_depth} levels") from None
    check_value(value, max_depth)
    return value


def read_body(limit: int) -> bytes:
    """The request body, at most ``limit`` bytes (413 otherwise, chunked bodies included)."""
    environ = request.environ
    if environ.get("CONTENT_LENGTH", "0") in ("", "0") and "HTTP_TRANSFER_ENCODING" not in environ:
        return b""  # HTTP/1.1: no length and not chunked is no body (most tracker GETs)
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"request body is larger than {limit} bytes")
    # One byte more than allowed, so that a body without Content-Length that is
    # over the limit shows as such instead of being read up to the limit only.
    request.max_content_length = limit + 1
    raw = request.get_data(cache=True)
    if len(raw) > limit:
        raise ApiError(413, f"request body is larger than {limit} bytes")
    return raw


def json_object(limit: int, *, optional: bool = False) -> dict[str, Any]:
    """The request body as a JSON object, refusing other types, sizes and shapes.

    With ``optional``, an empty body reads as ``{}``.
    """
    raw = read_body(limit)
    if optional and not raw:
        return {}
    if request.mimetype not in JSON_TYPES:
        raise ApiError(415, "send the body as application/json or text/plain")
    try:
        value = loads(raw)
    except Unsendable as e:
        raise ApiError(400, f"body cannot be accepted: {e}") from None
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "body is not valid JSON") from None
    if not isinstance(value, dict):
        raise ApiError(400, "body must be a JSON object")
    return value
