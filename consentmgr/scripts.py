"""Serving the first-party scripts (tracker, pixel shim) to every page view cheaply.

Each script is read and prepared once per app: its bytes, a gzip copy and a
strong ETag. Browsers revalidate after a short max-age, so a policy or
configuration change reaches visitors within minutes while a returning
visitor mostly gets a 304.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, Response, current_app, request

MAX_AGE_SECONDS = 300


@dataclass(frozen=True)
class Script:
    body: bytes
    gzipped: bytes
    etag: str

    @classmethod
    def of(cls, text: str) -> Script:
        body = text.encode()
        return cls(body, gzip.compress(body, 9, mtime=0), hashlib.sha256(body).hexdigest()[:32])


def load(app: Flask, name: str, replacements: Mapping[str, str] = ()) -> Script:
    """The prepared script ``static/js/<name>``, with placeholders replaced, cached per app."""
    cache = app.extensions.setdefault("consentmgr.scripts", {})
    if name not in cache:
        text = (Path(app.static_folder) / "js" / name).read_text(encoding="utf-8")
        for placeholder, value in dict(replacements).items():
            text = text.replace(placeholder, value)
        cache[name] = Script.of(text)
    return cache[name]


def respond(script: Script) -> Response:
    """The script, or 304 when the browser has it; gzip when the browser accepts it."""
    headers = {
        "Cache-Control": f"public, max-age={MAX_AGE_SECONDS}, must-revalidate",
        "Vary": "Accept-Encoding",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    response = Response(mimetype="text/javascript", headers=headers)
    response.set_etag(script.etag)
    if script.etag in request.if_none_match:
        response.status_code = 304
        return response
    if "gzip" in request.accept_encodings:
        response.set_data(script.gzipped)
        response.headers["Content-Encoding"] = "gzip"
    else:
        response.set_data(script.body)
    return response


def serve(name: str, replacements: Mapping[str, str] = ()) -> Response:
    return respond(load(current_app, name, replacements))
