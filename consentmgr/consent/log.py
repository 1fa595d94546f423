"""The consent log: one row per decision, chained so edits show.

Each row's ``chain_hash`` is ``sha256(previous chain_hash + content digest)``.
The content digest covers everything about the decision, but the personal
fields (consent id, page, browser family, network) enter it only through
``personal_digest``, a salted hash of them stored in the row. Erasure and
retention blank the personal fields and the salt and keep ``personal_digest``:
the chain still verifies, and what was erased cannot be recovered from it.

Rows are appended inside ``BEGIN IMMEDIATE`` so that two worker processes can
never read the same chain head and fork the chain.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from ..storage import Storage, marks
from . import daily_stats
from .policy import canonical

GENESIS = "0" * 64
PERSONAL_FIELDS = ("consent_id", "page", "ua_family", "ip_prefix")


def personal_digest(row: Mapping) -> str:
    return hashlib.sha256(
        canonical({"salt": row["salt"], **{k: row[k] for k in PERSONAL_FIELDS}})
    ).hexdigest()


def content_digest(row: Mapping) -> str:
    return hashlib.sha256(
        canonical(
            {
                "seq": row["seq"],
                "ts": row["ts"],
                "version": row["version"],
                "revision": row["revision"],
                "choices": row["choices"],
                "method": row["method"],
                "lang": row["lang"],
                "personal": row["personal_digest"],
            }
        )
    ).hexdigest()


def epoch(ts: str) -> float:
    """A row's ``ts`` as seconds since 1970, the way queries compare it with outbox times."""
    return datetime.fromisoformat(ts).timestamp()


def granted(choices: Mapping[str, bool]) -> str:
    """The granted categories as ``,a,b,``: ``granted like '%,a,%'`` asks about one."""
    return "," + "".join(f"{category}," for category, ok in sorted(choices.items()) if ok)


def chain(previous: str, digest: str) -> str:
    return hashlib.sha256((previous + digest).encode()).hexdigest()


@dataclass(frozen=True)
class Decision:
    consent_id: str
    version: str
    revision: int
    choices: dict[str, bool]
    method: str
    lang: str
    page: str | None
    ua_family: str
    ip_prefix: str


def append(db: Storage, decision: Decision, now: datetime) -> dict:
    """Write the decision and its daily aggregates in one transaction; return the row."""
    row = {
        "consent_id": decision.consent_id,
        "ts": now.isoformat(timespec="milliseconds"),
        "version": decision.version,
        "revision": decision.revision,
        "choices": canonical(decision.choices).decode(),
        "method": decision.method,
        "lang": decision.lang,
        "page": decision.page,
        "ua_family": decision.ua_family,
        "ip_prefix": decision.ip_prefix,
        "salt": secrets.token_hex(16),
    }
    row["personal_digest"] = personal_digest(row)
    # The named lock makes appends one queue on every backend and every server.
    with db.transaction(lock="consent_log"):
        head = db.execute(
            "select seq, chain_hash from decisions order by seq desc limit 1"
        ).fetchone()
        row["seq"] = head[0] + 1 if head else 1
        row["chain_hash"] = chain(head[1] if head else GENESIS, content_digest(row))
        # Plain columns for queries, outside the digest: the time as a number, the grants.
        stored = {**row, "ts_epoch": epoch(row["ts"]), "granted": granted(decision.choices)}
        db.execute(
            f"insert into decisions ({', '.join(stored)})"  # noqa: S608
            f" values ({', '.join('?' * len(stored))})",
            list(stored.values()),
        )
        daily_stats.count_decision(db, now.date().isoformat(), decision)
    return row


@dataclass(frozen=True)
class Verdict:
    ok: bool
    count: int
    broken_seq: int | None = None
    reason: str = ""
    checkpoint: int | None = None  # seq of the signed checkpoint the log no longer matches


def verify(db: Storage, anchors: Mapping[int, str] | None = None) -> Verdict:
    """Recompute the whole chain; name the first row (or checkpoint) that does not match.

    ``anchors`` maps seq to the chain hash a signed checkpoint recorded there
    (see ``checkpoints``). A row edited with every later hash recomputed
    passes the chain check, but the recomputed chain no longer passes through
    the checkpoints signed before the edit, so the first such checkpoint is
    named.
    """
    anchors = anchors or {}
    previous, expected_seq, count = GENESIS, 1, 0
    for row in db.query("select * from decisions order by seq"):
        seq = row["seq"]
        if seq != expected_seq:
            return Verdict(False, count, expected_seq, f"row {expected_seq} is missing")
        if row["erased_at"] is None and personal_digest(row) != row["personal_digest"]:
            return Verdict(False, count, seq, "personal fields do not match their digest")
        if row["erased_at"] is not None and any(row[k] for k in (*PERSONAL_FIELDS, "salt")):
            return Verdict(False, count, seq, "an erased row still holds personal fields")
        try:
            json.loads(row["choices"])
        except (TypeError, ValueError):
            return Verdict(False, count, seq, "choices are not valid JSON")
        previous = chain(previous, content_digest(row))
        if previous != row["chain_hash"]:
            return Verdict(False, count, seq, "chain hash does not match the row's content")
        if seq in anchors and anchors[seq] != previous:
            return Verdict(
                False,
                count,
                seq,
                f"the chain no longer passes through the signed checkpoint at seq {seq}:"
                " a row at or before it was changed and the later hashes recomputed",
                checkpoint=seq,
            )
        expected_seq += 1
        count += 1
    beyond = [s for s in anchors if s >= expected_seq]
    if beyond:
        first = min(beyond)
        return Verdict(
            False,
            count,
            expected_seq,
            f"the signed checkpoint at seq {first} is beyond the end of the log: rows were deleted",
            checkpoint=first,
        )
    return Verdict(True, count)


def history(db: Storage, consent_id: str) -> list[dict]:
    """Every decision of one consent id, oldest first."""
    return list(db.query("select * from decisions where consent_id = ? order by seq", [consent_id]))


def granting(db: Storage, consent_ids: Collection[str], category: str) -> set[str]:
    """Those of ``consent_ids`` whose latest decision grants ``category`` (one query)."""
    ids = list(consent_ids)
    if not ids:
        return set()
    rows = db.execute(
        "select consent_id from decisions where granted like ? and seq in"  # noqa: S608
        f" (select max(seq) from decisions where consent_id in ({marks(ids)}) group by consent_id)",
        [f"%,{category},%", *ids],
    )
    return {consent_id for (consent_id,) in rows}


# Erasure and retention blank the same fields; ``personal_digest`` says which.
BLANK = (
    "update decisions set consent_id = null, page = null, ua_family = null,"
    " ip_prefix = null, salt = null, erased_at = ?"
)


def erase(db: Storage, consent_id: str, now: datetime) -> int:
    """Blank the personal fields of every row of one consent id; return how many rows.

    The salt goes too, so the kept ``personal_digest`` can no longer be linked
    to the erased values; the chain and the daily aggregates are untouched.
    The database's old versions of the rows are still in its files after the
    commit: :func:`consentmgr.proof.retention.erase` has them destroyed.
    """
    with db.transaction():
        return db.execute(
            BLANK + " where consent_id = ?", [now.isoformat(timespec="seconds"), consent_id]
        ).rowcount


PURGE_BATCH = 5000


def purge(db: Storage, before: datetime, now: datetime, *, dry_run: bool) -> int:
    """Blank the personal fields of rows older than ``before`` (retention); return how many.

    Rows are blanked in batches, each its own short write transaction, so a
    purge of a large backlog never holds the write lock long enough to make
    a visitor's decision wait. As with :func:`erase`, the old versions of the
    rows are destroyed by the caller (:func:`consentmgr.proof.retention.purge`).
    """
    cutoff = before.isoformat(timespec="milliseconds")
    if dry_run:
        return db.execute(
            "select count(*) from decisions where ts < ? and erased_at is null", [cutoff]
        ).fetchone()[0]
    total = 0
    while True:
        with db.transaction():
            n = db.execute(
                BLANK + " where seq in (select seq from decisions"  # noqa: S608 (constant SQL)
                " where ts < ? and erased_at is null limit ?)",
                [now.isoformat(timespec="seconds"), cutoff, PURGE_BATCH],
            ).rowcount
        total += n
        if n < PURGE_BATCH:
            return total
