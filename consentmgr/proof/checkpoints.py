"""Signed checkpoints: the consent log's head, anchored outside the database.

A hash chain alone shows accidental damage, but someone who can write the
database can change a row and recompute every later ``chain_hash``; the
result is a chain that verifies. A checkpoint records the chain's head
(``seq``, ``chain_hash``, time) signed with the secret key, which lives in the
config file and not in the database. Such an edit then no longer passes
through the signed heads, and ``verify-log`` names the first checkpoint it
breaks.

Copies of the heads leave the database: every consent receipt carries the
latest head at the time of its decision, and ``consentmgr checkpoint
--export`` prints the latest one for keeping elsewhere (for example with the
data-protection officer). Deleting checkpoints from the table therefore does
not remove the evidence either.

Checkpoints are made every ``CHECKPOINT_EVERY`` decisions (right after the
decision whose ``seq`` is a multiple of it, so every worker process agrees on
where they fall), at least daily by the background thread, and on demand with
``consentmgr checkpoint``. Signing uses ``SECRET_KEY``; verification also
accepts ``OLD_SECRET_KEYS`` so a key rotation keeps old checkpoints valid.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from itsdangerous import BadSignature, URLSafeSerializer

from .. import signing
from ..consent import log as consent_log
from ..consent.log import Verdict
from ..storage import Storage

SALT = "consentmgr.checkpoint.v1"
MAX_AGE = timedelta(days=1)


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    chain_hash: str
    ts: str
    signed: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class BadCheckpoint(ValueError):
    """A signed head whose signature or content does not hold."""


def serializer(app: Flask) -> URLSafeSerializer:
    return signing.serializer(app, SALT)


def sign(app: Flask, seq: int, chain_hash: str, ts: str) -> str:
    return serializer(app).dumps({"seq": seq, "chain_hash": chain_hash, "ts": ts})


def open_signed(app: Flask, signed: str) -> Checkpoint:
    """Verify a signed head and return what it says; raise BadCheckpoint if it does not hold."""
    try:
        payload = serializer(app).loads(signed)
    except (BadSignature, ValueError, TypeError, UnicodeError):
        raise BadCheckpoint(
            "its signature is not valid for SECRET_KEY or OLD_SECRET_KEYS"
        ) from None
    if not (
        isinstance(payload, dict)
        and isinstance(payload.get("seq"), int)
        and isinstance(payload.get("chain_hash"), str)
        and isinstance(payload.get("ts"), str)
    ):
        raise BadCheckpoint("its signed content is not a checkpoint")
    return Checkpoint(payload["seq"], payload["chain_hash"], payload["ts"], signed)


def from_row(row: Mapping[str, Any]) -> Checkpoint:
    return Checkpoint(row["seq"], row["chain_hash"], row["ts"], row["signed"])


def _first(db: Storage, sql: str, params: list) -> Checkpoint | None:
    row = next(db.query(sql, params), None)
    return None if row is None else from_row(row)


def latest(db: Storage, at_or_before: int | None = None) -> Checkpoint | None:
    """The newest checkpoint, or the newest whose seq is at most ``at_or_before``."""
    if at_or_before is None:
        return _first(db, "select * from checkpoints order by seq desc limit 1", [])
    return _first(
        db,
        "select * from checkpoints where seq <= ? order by seq desc limit 1",
        [at_or_before],
    )


def all_checkpoints(db: Storage) -> list[Checkpoint]:
    return [from_row(r) for r in db.query("select * from checkpoints order by seq")]


def anchor(app: Flask, db: Storage, seq: int, chain_hash: str, now: datetime) -> Checkpoint:
    """Sign and store the head ``(seq, chain_hash)``; an existing checkpoint at seq is kept."""
    with db.transaction():
        return _store(app, db, seq, chain_hash, now)


def _store(app: Flask, db: Storage, seq: int, chain_hash: str, now: datetime) -> Checkpoint:
    """``anchor`` inside the caller's transaction."""
    ts = now.isoformat(timespec="seconds")
    checkpoint = Checkpoint(seq, chain_hash, ts, sign(app, seq, chain_hash, ts))
    db.execute(
        "insert into checkpoints (seq, chain_hash, ts, signed) values (?, ?, ?, ?)"
        " on conflict (seq) do nothing",
        [seq, chain_hash, ts, checkpoint.signed],
    )
    return _first(db, "select * from checkpoints where seq = ?", [seq])


def head(db: Storage) -> tuple[int, str] | None:
    row = db.execute("select seq, chain_hash from decisions order by seq desc limit 1").fetchone()
    return (row[0], row[1]) if row else None


def make(app: Flask, db: Storage, now: datetime) -> Checkpoint | None:
    """Checkpoint the log's current head (``consentmgr checkpoint``); None for an empty log."""
    current = head(db)
    if current is None:
        return None
    return anchor(app, db, current[0], current[1], now)


def after_append(app: Flask, db: Storage, row: Mapping[str, Any], now: datetime) -> None:
    """Called after each decision is logged: checkpoint every CHECKPOINT_EVERY decisions.

    The test is one modulo, so the write path pays for a signature only once
    per CHECKPOINT_EVERY decisions.
    """
    if row["seq"] % app.config["CHECKPOINT_EVERY"] == 0:
        anchor(app, db, row["seq"], row["chain_hash"], now)


def ensure_recent(
    app: Flask, db: Storage, now: datetime, max_age: timedelta = MAX_AGE
) -> Checkpoint | None:
    """Checkpoint the head if decisions were logged after a checkpoint older than ``max_age``.

    The background thread calls this regularly, so on a quiet site no
    decision stays unanchored much longer than a day. Every server's thread
    does; the check and the signing are one step under a named lock, so one
    checkpoint is made per interval, not one per server.
    """
    with db.transaction(lock="checkpoints"):
        current = head(db)
        if current is None:
            return None
        last = latest(db)
        if last is not None and last.seq >= current[0]:
            return None
        if last is not None and now - datetime.fromisoformat(last.ts) < max_age:
            return None
        return _store(app, db, current[0], current[1], now)


@dataclass(frozen=True)
class Problem:
    seq: int
    reason: str


def check_signatures(app: Flask, db: Storage) -> tuple[dict[int, str], Problem | None]:
    """Each stored checkpoint's signed content, by seq; or the first that does not hold.

    The signed payload is what counts: the ``seq``, ``chain_hash`` and ``ts``
    columns are only there to be read and queried, so they must agree with it.
    """
    anchors: dict[int, str] = {}
    for checkpoint in all_checkpoints(db):
        try:
            signed = open_signed(app, checkpoint.signed)
        except BadCheckpoint as e:
            return anchors, Problem(checkpoint.seq, str(e))
        if (signed.seq, signed.chain_hash, signed.ts) != (
            checkpoint.seq,
            checkpoint.chain_hash,
            checkpoint.ts,
        ):
            return anchors, Problem(checkpoint.seq, "its columns differ from its signed content")
        anchors[signed.seq] = signed.chain_hash
    return anchors, None


def export(checkpoint: Checkpoint) -> dict[str, Any]:
    """The shape ``checkpoint --export`` prints and ``verify-log --head`` reads back."""
    return checkpoint.as_dict()


def read_exported(text: str) -> str:
    """The signed token from what ``checkpoint --export`` printed (or the bare token)."""
    text = text.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text).get("signed")
        except (ValueError, AttributeError):
            value = None
        if not isinstance(value, str):
            raise BadCheckpoint('it is not an exported checkpoint (no "signed" field)')
        return value
    return text


def verify(app: Flask, db: Storage, heads: Iterable[str] = ()) -> Verdict:
    """``verify-log``: the chain, every stored checkpoint, and any heads kept elsewhere.

    ``heads`` are signed heads from outside the database (``checkpoint
    --export`` output, or the head in a receipt); they count like stored
    checkpoints, so deleting checkpoints from the table hides nothing from
    whoever kept a copy.
    """
    anchors, problem = check_signatures(app, db)
    if problem is not None:
        return Verdict(
            False, 0, problem.seq, f"checkpoint at seq {problem.seq}: {problem.reason}", problem.seq
        )
    for signed in heads:
        try:
            outside = open_signed(app, read_exported(signed))
        except BadCheckpoint as e:
            return Verdict(False, 0, None, f"a head given to check does not hold: {e}")
        if anchors.get(outside.seq, outside.chain_hash) != outside.chain_hash:
            return Verdict(
                False,
                0,
                outside.seq,
                f"the kept head at seq {outside.seq} differs from the stored checkpoint",
                outside.seq,
            )
        anchors[outside.seq] = outside.chain_hash
    return consent_log.verify(db, anchors)


def missing(app: Flask, db: Storage) -> list[int]:
    """Multiples of CHECKPOINT_EVERY up to the head that have no checkpoint.

    Not an error by itself (a crash right after a decision, or a changed
    CHECKPOINT_EVERY, leaves one out), but worth a look: deleting checkpoints
    is what someone hiding an edit would do.
    """
    current = head(db)
    if current is None:
        return []
    every = app.config["CHECKPOINT_EVERY"]
    have = {r[0] for r in db.execute("select seq from checkpoints")}
    return [s for s in range(every, current[0] + 1, every) if s not in have]
