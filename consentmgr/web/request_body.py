"""Reading small JSON bodies sent by browsers with ``fetch`` or ``sendBeacon``.

Banners post as ``text/plain`` so that a cross-origin request stays "simple"
and needs no CORS preflight; the body is JSON either way.
"""

from __future__ import annotations

import json
from typing import Any

from flask import request

from .errors import ApiError

JSON_TYPES = ("application/json", "text/plain")


def json_object(limit: int, *, optional: bool = False) -> dict[str, Any]:
    """The request body as a JSON object, refusing other types, sizes and shapes.

    With ``optional``, an empty body reads as ``{}``.
    """
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"request body is larger than {limit} bytes")
    request.max_content_length = limit
    raw = request.get_data(cache=True)
    if optional and not raw:
        return {}
    if request.mimetype not in JSON_TYPES:
        raise ApiError(415, "send the body as application/json or text/plain")
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "body is not valid JSON") from None
    if not isinstance(value, dict):
        raise ApiError(400, "body must be a JSON object")
    return value
