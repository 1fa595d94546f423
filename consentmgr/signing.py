"""Signed tokens: one factory for every itsdangerous serializer, one list of keys.

Each use (the consent cookie, checkpoints, receipts, erase tokens) has its own
salt, so a token signed for one can never be replayed as another. Every
serializer signs with ``SECRET_KEY`` and verifies with it and each of
``OLD_SECRET_KEYS``, so keys can be rotated without breaking old cookies,
receipts or checkpoints. Serializers are built once per app and salt: the
keys are fixed for the app's lifetime.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from itsdangerous import URLSafeSerializer, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode


def signing_keys(settings: Mapping[str, Any]) -> list[str]:
    """``OLD_SECRET_KEYS``, then ``SECRET_KEY``: itsdangerous signs with the last one."""
    return [*settings["OLD_SECRET_KEYS"], settings["SECRET_KEY"]]


class _Readable(URLSafeTimedSerializer):
    """Timed tokens whose payload is never zlib-compressed, so a browser script can read it."""

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(self.serializer.dumps(obj, **self.serializer_kwargs).encode())


def serializer(
    app: Flask, salt: str, *, timed: bool = False, readable: bool = False
) -> URLSafeSerializer:
    """The app's serializer for ``salt``; ``timed`` adds a timestamp, ``readable`` implies it.

    Payloads are JSON with sorted keys, so the same content always signs the same.
    """
    cache = app.extensions.setdefault("consentmgr.serializers", {})
    ser = cache.get(salt)
    if ser is None:
        keys = signing_keys(app.config)
        if readable:
            ser = _Readable(
                keys, salt=salt, serializer_kwargs={"separators": (",", ":"), "sort_keys": True}
            )
        elif timed:
            ser = URLSafeTimedSerializer(keys, salt=salt, serializer_kwargs={"sort_keys": True})
        else:
            ser = URLSafeSerializer(keys, salt=salt, serializer_kwargs={"sort_keys": True})
        cache[salt] = ser
    return ser
