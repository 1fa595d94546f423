"""Encryption at rest for outbox payloads.

A queued hit must carry the visitor's IP address and user agent to Matomo or
Meta, but the database must never hold them in the clear: a copy of the file,
a backup or a Datasette view would otherwise leak them. Payloads are sealed
with AES-256-GCM (from ``cryptography``) under a key derived from
``SECRET_KEY``; keys in ``OLD_SECRET_KEYS`` still open items queued before a
rotation. Every seal uses a fresh random 96-bit nonce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask

from ..signing import signing_keys

INFO = b"consentmgr.outbox.v1"
PREFIX = "g1."


def _aead(secret: str) -> AESGCM:
    return AESGCM(hmac.new(secret.encode(), INFO, hashlib.sha256).digest())


def _keys(app: Flask) -> list[AESGCM]:
    """The current key first, then the old ones, built once per app."""
    keys = app.extensions.get("consentmgr.sealed")
    if keys is None:
        secrets = signing_keys(app.config)[::-1]  # the current key first
        keys = app.extensions["consentmgr.sealed"] = [_aead(s) for s in secrets]
    return keys


def seal(app: Flask, payload: Any) -> str:
    nonce = os.urandom(12)
    data = json.dumps(payload, separators=(",", ":")).encode()
    sealed = nonce + _keys(app)[0].encrypt(nonce, data, INFO)
    return PREFIX + base64.urlsafe_b64encode(sealed).decode()


class Unreadable(Exception):
    """The payload was sealed with a key this app no longer has, or was altered."""


def unseal(app: Flask, token: str) -> Any:
    try:
        raw = base64.urlsafe_b64decode(token.removeprefix(PREFIX))
    except ValueError:
        raise Unreadable("not a sealed payload") from None
    nonce, sealed = raw[:12], raw[12:]
    for key in _keys(app):
        try:
            return json.loads(key.decrypt(nonce, sealed, INFO))
        except InvalidTag:
            continue
    raise Unreadable("sealed with a key that is not in SECRET_KEY or OLD_SECRET_KEYS, or altered")
