"""Serving the first-party scripts (banner, tracker, pixel shim) to every page view cheaply.

Each script is read and prepared once per app: its bytes and a gzip copy, each
with its own strong ETag. Browsers revalidate after a short max-age, so a policy or
configuration change reaches visitors within minutes while a returning
visitor mostly gets a 304.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, Response, current_app, request

MAX_AGE_SECONDS = 300


@dataclass(frozen=True)
class Representation:
    body: bytes
    etag: str


@dataclass(frozen=True)
class Script:
    """A script prepared once: its plain and gzip bodies, each with its own strong ETag."""

    plain: Representation
    gzipped: Representation

    @classmethod
    def of(cls, body: bytes) -> Script:
        digest = hashlib.sha256(body).hexdigest()[:32]
        # mtime=0 keeps the gzip bytes, and so the ETag, the same in every worker.
        return cls(
            plain=Representation(body, f'"{digest}"'),
            gzipped=Representation(gzip.compress(body, 9, mtime=0), f'"{digest}-gz"'),
        )


def without_provenance(text: str) -> str:
    """The minified script without its first line, which records the source it was made from.

    The line is for maintainers and the freshness tests; visitors need not download it.
    """
    return text.split("\n", 1)[1] if text.startswith("/*!") else text


def load(app: Flask, name: str, fill: Callable[[str], str] | None = None) -> Script:
    """The prepared script ``static/js/<name>``, cached per app.

    ``fill`` puts configuration into the text (the shim's pixel id) before it
    is compressed and tagged, once.
    """
    cache = app.extensions.setdefault("consentmgr.scripts", {})
    if name not in cache:
        text = without_provenance(
            (Path(app.static_folder) / "js" / name).read_text(encoding="utf-8")
        )
        cache[name] = Script.of((fill(text) if fill else text).encode())
    return cache[name]


def respond(script: Script) -> Response:
    """The script, or 304 when the browser has it; gzip when the browser accepts it."""
    use_gzip = request.accept_encodings["gzip"] > 0
    chosen = script.gzipped if use_gzip else script.plain
    if request.if_none_match.contains_weak(chosen.etag.strip('"')):
        response = Response(status=304)
    else:
        response = Response(chosen.body, mimetype="text/javascript")
        if use_gzip:
            response.headers["Content-Encoding"] = "gzip"
    response.headers["ETag"] = chosen.etag
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE_SECONDS}, must-revalidate"
    response.headers["Vary"] = "Accept-Encoding"
    # Included by other sites as a classic script: embeddable cross-origin, no CORS needed.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


def serve(name: str, fill: Callable[[str], str] | None = None) -> Response:
    return respond(load(current_app, name, fill))
