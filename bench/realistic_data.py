"""Realistic consent data written straight into a consentmgr database, fast.

Used by ``bench/dashboard.py`` (millions of decisions) and by
``docs/make_screenshot.py`` (the README's dashboard picture). Rows go in with
``executemany`` in large transactions with ``synchronous = OFF`` and the log's
indexes dropped until the end; the daily aggregates are counted in memory and
written once, exactly as ``consent_log.append`` would have left them.

The story: Ansettr's site, 90 days; an earlier policy version without the
marketing category, then the current one once the Meta pixel was added
(visitors are asked again). Most visitors answer in bokmål; weekdays are
busier than weekends; a few hundred job ads, of which a handful draw most
traffic.

By default the hash chain is filled with placeholders (the dashboard and the
export never read it; ``verify-log`` would reject them); ``chain=True``
computes the real chain, several times slower.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import sqlite_utils

from consentmgr.consent import log as consent_log
from consentmgr.consent import policy
from consentmgr.gateway.targets import BY_NAME, TARGETS

LANG_WEIGHTS = {"nb": 0.72, "en": 0.19, "nn": 0.09}
METHOD_WEIGHTS = {
    "accept_all": 0.5,
    "reject_all": 0.25,
    "custom": 0.15,
    "gpc": 0.08,
    "withdraw": 0.02,
}
FAMILIES = {"Chrome": 0.55, "Safari": 0.25, "Firefox": 0.08, "Edge": 0.08, "other": 0.04}
BATCH = 50_000
PLACEHOLDER = "0" * 64


@dataclass(frozen=True)
class Plan:
    rows: int
    days: int
    today: date
    seed: int = 7
    chain: bool = False


def pages(rng: random.Random) -> list[str]:
    fixed = ["https://ansettr.no/", "https://ansettr.no/stillinger", "https://ansettr.no/om-oss"]
    roles = ["utvikler", "sykepleier", "regnskapsforer", "selger", "lagermedarbeider", "kokk"]
    towns = ["oslo", "bergen", "trondheim", "stavanger", "tromso", "bodo", "alta"]
    ads = [
        f"https://ansettr.no/stillinger/{rng.choice(roles)}-{rng.choice(towns)}-{n}"
        for n in range(1000, 1300)
    ]
    return fixed + ads


def old_policy(current: dict) -> dict:
    """The version before the Meta pixel: no marketing category."""
    content = copy.deepcopy(current)
    content["categories"] = [c for c in content["categories"] if c["id"] != "marketing"]
    return content


def register_versions(db: sqlite_utils.Database, today: date, days: int) -> list[tuple]:
    """Both versions in ``policies``; returns (version, revision, optional, from_day)."""
    current = policy.load()
    older = policy.load()
    older = policy.Policy(
        old_policy(current.content),
        hashlib.sha256(policy.canonical(policy.purposes(old_policy(current.content)))).hexdigest()[
            :12
        ],
        hashlib.sha256(policy.canonical(old_policy(current.content))).hexdigest(),
    )
    switch = today - timedelta(days=days * 2 // 5)
    out = []
    for p, first in ((older, today - timedelta(days=days)), (current, switch)):
        registered = policy.register(db, p)
        db.execute(
            "update policies set first_served = ? where digest = ?",
            [f"{first.isoformat()}T08:00:00+00:00", p.digest],
        )
        out.append((registered.version, registered.revision, registered.optional, first))
    return out


def day_weights(plan: Plan, rng: random.Random) -> list[float]:
    """Weekdays busier than weekends, slow growth, some noise."""
    weights = []
    for i in range(plan.days):
        day = plan.today - timedelta(days=plan.days - 1 - i)
        weekend = day.weekday() >= 5
        weights.append(
            (0.55 if weekend else 1.0) * (1 + i / plan.days * 0.4) * rng.uniform(0.85, 1.15)
        )
    total = sum(weights)
    return [w / total for w in weights]


def choices_for(method: str, optional: list[str], rng: random.Random) -> dict[str, bool]:
    if method == "accept_all":
        return dict.fromkeys(optional, True)
    if method == "custom":
        odds = {"analytics": 0.72, "marketing": 0.28}
        return {c: rng.random() < odds.get(c, 0.5) for c in optional}
    return dict.fromkeys(optional, False)


def _pick(rng: random.Random, weights: dict[str, float], n: int) -> list[str]:
    return rng.choices(list(weights), weights=list(weights.values()), k=n)


def decisions(plan: Plan, versions: list[tuple], rng: random.Random) -> Iterator[dict]:
    """Decisions in time order, ``plan.rows`` in all, spread over the days."""
    page_list = pages(rng)
    page_weights = [1 / (n + 1) ** 0.9 for n in range(len(page_list))]
    per_day = [round(w * plan.rows) for w in day_weights(plan, rng)]
    per_day[-1] += plan.rows - sum(per_day)
    recent_ids: list[str] = []
    for i, n in enumerate(per_day):
        day = plan.today - timedelta(days=plan.days - 1 - i)
        version, revision, optional, _ = [v for v in versions if v[3] <= day][-1]
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        seconds = sorted(rng.uniform(0, 86399) for _ in range(n))
        langs, methods = _pick(rng, LANG_WEIGHTS, n), _pick(rng, METHOD_WEIGHTS, n)
        families = _pick(rng, FAMILIES, n)
        chosen_pages = rng.choices(page_list, weights=page_weights, k=n)
        for k in range(n):
            method = methods[k]
            if method == "withdraw" and recent_ids:
                consent_id = rng.choice(recent_ids)
            else:
                consent_id = secrets.token_urlsafe(16)
                if len(recent_ids) < 5000:
                    recent_ids.append(consent_id)
                else:
                    recent_ids[rng.randrange(5000)] = consent_id
            yield {
                "consent_id": consent_id,
                "ts": (start + timedelta(seconds=seconds[k])).isoformat(timespec="milliseconds"),
                "version": version,
                "revision": revision,
                "choices": choices_for(method, optional, rng),
                "method": method,
                "lang": langs[k],
                "page": chosen_pages[k],
                "ua_family": families[k],
                "ip_prefix": _network(rng),
            }


def _network(rng: random.Random) -> str:
    return f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.0/24"


class Aggregates:
    """The three daily tables, counted in memory."""

    def __init__(self) -> None:
        self.decisions: Counter = Counter()
        self.consent: Counter = Counter()
        self.pages: Counter = Counter()

    def add(self, row: dict) -> None:
        key = (row["ts"][:10], row["version"], row["lang"], row["method"])
        self.decisions[key] += 1
        for category, granted in row["choices"].items():
            self.consent[(*key, category, int(granted))] += 1
        if row["page"]:
            self.pages[(row["ts"][:10], row["page"])] += 1

    def write(self, db: sqlite_utils.Database) -> None:
        conn = db.conn
        conn.executemany(
            "insert into daily_decisions (day, version, lang, method, count) values (?, ?, ?, ?, ?)"
            " on conflict do update set count = count + excluded.count",
            [(*k, n) for k, n in self.decisions.items()],
        )
        conn.executemany(
            "insert into daily_consent (day, version, lang, method, category, granted, count)"
            " values (?, ?, ?, ?, ?, ?, ?)"
            " on conflict do update set count = count + excluded.count",
            [(*k, n) for k, n in self.consent.items()],
        )
        conn.executemany(
            "insert into daily_pages (day, page, count) values (?, ?, ?)"
            " on conflict do update set count = count + excluded.count",
            [(*k, n) for k, n in self.pages.items()],
        )


COLUMNS = (
    "seq", "consent_id", "ts", "version", "revision", "choices", "method", "lang", "page",
    "ua_family", "ip_prefix", "salt", "personal_digest", "chain_hash",
)  # fmt: skip


def _finish_row(row: dict, seq: int, previous: str, chain: bool) -> tuple:
    row["seq"] = seq
    row["choices"] = policy.canonical(row["choices"]).decode()
    if chain:
        row["salt"] = secrets.token_hex(16)
        row["personal_digest"] = consent_log.personal_digest(row)
        row["chain_hash"] = consent_log.chain(previous, consent_log.content_digest(row))
    else:
        row["salt"], row["personal_digest"], row["chain_hash"] = "", PLACEHOLDER, PLACEHOLDER
    return tuple(row[c] for c in COLUMNS)


def fill_decisions(db: sqlite_utils.Database, plan: Plan, progress: bool = False) -> list[tuple]:
    """Write ``plan.rows`` decisions and their aggregates; returns the versions used."""
    rng = random.Random(plan.seed)
    db.execute("PRAGMA synchronous = OFF")
    versions = register_versions(db, plan.today, plan.days)
    head = db.execute("select seq, chain_hash from decisions order by seq desc limit 1").fetchone()
    seq, previous = head if head else (0, consent_log.GENESIS)
    indexes = db.execute(
        "select name, sql from sqlite_master where type = 'index' and tbl_name = 'decisions'"
        " and sql is not null"
    ).fetchall()
    for name, _ in indexes:
        db.execute(f'drop index "{name}"')
    aggregates, batch, started = Aggregates(), [], time.monotonic()
    sql = f"insert into decisions ({', '.join(COLUMNS)}) values ({', '.join('?' * len(COLUMNS))})"  # noqa: S608
    for row in decisions(plan, versions, rng):
        aggregates.add(row)
        seq += 1
        values = _finish_row(row, seq, previous, plan.chain)
        previous = row["chain_hash"]
        batch.append(values)
        if len(batch) >= BATCH:
            _insert(db, sql, batch)
            batch = []
            if progress and seq % 1_000_000 == 0:
                print(f"  {seq:,} decisions, {time.monotonic() - started:.0f} s", flush=True)
    _insert(db, sql, batch)
    db.execute("BEGIN")
    aggregates.write(db)
    db.execute("COMMIT")
    for _, statement in indexes:
        db.execute(statement)
    return versions


def _insert(db: sqlite_utils.Database, sql: str, batch: list[tuple]) -> None:
    db.execute("BEGIN")
    db.conn.executemany(sql, batch)
    db.execute("COMMIT")


def fill_gateway(db: sqlite_utils.Database, plan: Plan, now: float, delivered: int = 5000) -> None:
    """Gateway counters per day, recent delivered outbox items, a few pending and dead ones.

    Delivered items belong to visitors whose decision granted the target's
    category a few minutes before, as the gateway guarantees, so the
    forwarded-without-consent check reads 0.
    """
    rng = random.Random(plan.seed + 1)
    counts = []
    for i in range(plan.days):
        day = (plan.today - timedelta(days=plan.days - 1 - i)).isoformat()
        visits = plan.rows / plan.days * 6
        for target, share in (("matomo", 0.62), ("meta", 0.31)):
            forwarded = int(visits * share * rng.uniform(0.9, 1.1))
            dropped = int(visits * (1 - share) * rng.uniform(0.9, 1.1))
            counts += [
                (day, target, "forwarded", forwarded),
                (day, target, "dropped_no_consent", dropped),
            ]
            counts.append((day, target, "rejected_invalid", rng.randrange(0, 12)))
    db.execute("BEGIN")
    db.conn.executemany(
        "insert into gateway_daily (day, target, category, outcome, count)"
        " values (?, ?, ?, ?, ?)"
        " on conflict do update set count = count + excluded.count",
        [(d, t, BY_NAME[t].category, o, n) for d, t, o, n in counts],
    )
    db.execute("COMMIT")
    _fill_outbox(db, rng, now, delivered)


def _fill_outbox(db: sqlite_utils.Database, rng: random.Random, now: float, delivered: int) -> None:
    since = datetime.fromtimestamp(now - 6 * 86400, UTC).isoformat(timespec="milliseconds")
    rows = []
    for target, category in ((t.name, t.category) for t in TARGETS):
        granted = db.execute(
            "select consent_id, ts from decisions where ts >= ? and consent_id is not null"
            " and json_extract(choices, '$.' || ?) = 1 and method != 'withdraw'"
            " order by random() limit ?",
            [since, category, delivered // 2],
        ).fetchall()
        for consent_id, ts in granted:
            created = datetime.fromisoformat(ts).timestamp() + rng.uniform(1, 600)
            if created > now - 120:
                continue
            rows.append(
                (target, consent_id, "sealed", created, "delivered", 1, created, None, created + 2)
            )
    errors = [
        ("matomo", "HTTP 400 from Matomo: invalid idsite"),
        ("meta", "HTTP 400 from Graph API: Invalid parameter (event_time too old)"),
        ("meta", "expired: older than 48.0 hours, not sent late (last error: HTTP 503)"),
    ]
    for target, error in errors:
        created = now - rng.uniform(3600, 40000)
        rows.append((target, None, "sealed", created, "dead", 5, created, error, created + 3000))
    for _ in range(3):
        created = now - rng.uniform(5, 90)
        rows.append(("matomo", None, "sealed", created, "pending", 0, created, None, None))
    db.execute("BEGIN")
    db.conn.executemany(
        "insert into outbox (target, consent_id, payload, created, status, attempts,"
        " next_attempt, last_error, finished) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    db.execute("COMMIT")


def decisions_json_sample(db: sqlite_utils.Database) -> str:
    """One row, for eyeballing what was written."""
    return json.dumps(dict(db.execute("select * from decisions limit 1").fetchone() or {}))
