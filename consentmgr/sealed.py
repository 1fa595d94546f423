"""Encryption at rest for outbox payloads.

A queued hit must carry the visitor's IP address and user agent to Matomo or
Meta, but the database must never hold them in the clear: a copy of the file,
a backup or a Datasette view would otherwise leak them. Payloads are sealed
with Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) under a key
derived from ``SECRET_KEY``; keys in ``OLD_SECRET_KEYS`` still open items
queued before a rotation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask

INFO = b"consentmgr.outbox.v1"


def _fernet(secret: str) -> Fernet:
    key = hmac.new(secret.encode(), INFO, hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def _keys(app: Flask) -> MultiFernet:
    box = app.extensions.get("consentmgr.sealed")
    if box is None:
        secrets = [app.config["SECRET_KEY"], *reversed(app.config["OLD_SECRET_KEYS"])]
        box = MultiFernet([_fernet(s) for s in secrets])
        app.extensions["consentmgr.sealed"] = box
    return box


def seal(app: Flask, payload: Any) -> str:
    return _keys(app).encrypt(json.dumps(payload, separators=(",", ":")).encode()).decode()


class Unreadable(Exception):
    """The payload was sealed with a key this app no longer has."""


def unseal(app: Flask, token: str) -> Any:
    try:
        return json.loads(_keys(app).decrypt(token.encode()))
    except InvalidToken:
        raise Unreadable("sealed with a key that is not in SECRET_KEY or OLD_SECRET_KEYS") from None
