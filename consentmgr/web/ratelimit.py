"""Limits per client network on everything an anonymous client can make us store.

Decisions, erasures, gateway hits and events, and admin sign-in attempts are
each limited per client network (the /24 of an IPv4 address, the /48 of an
IPv6 one: the same coarsening the consent log keeps). A request over its
limit gets 429 with ``Retry-After`` and writes nothing.

Each limit is a token bucket (kept as GCRA: one time per key, the moment the
bucket will be full again): ``burst`` requests at once, refilled at
``count`` per period (``RATE_LIMIT_*`` settings, :class:`~consentmgr.config.Rate`).

The buckets must hold across every worker process without costing the hit
path a database write, so they live in a small shared file beside the
database (``<database>.limits``), mapped into memory by every process and
updated under a file lock: a few microseconds, no fsync, nothing in the database.
It is a fixed table of 65,536 slots addressed by a keyed hash of the key (the
hash key is random per file, so nobody can aim their networks at someone
else's slot); when all slots a key may use are busy, the one nearest to full
is reused, which at worst gives one network a fresh bucket. Losing the file
(a restart on another machine, a deleted file) only refills every bucket.

Storage sits behind :class:`Store`, one method. With several servers on
PostgreSQL the buckets must be shared by all of them, so there they live in
an unlogged table of that database
(:class:`consentmgr.storage.postgres.LimitStore`): one upsert per request,
without WAL or flush. A cheaper step would let each process take tokens from
the shared row in chunks and spend them locally.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import math
import mmap
import os
import secrets
import struct
import threading
import time
import weakref
from typing import Protocol

from flask import Flask, current_app, request

from ..config import Rate, parse_rate
from ..consent.visitor import ip_prefix
from ..db import database_path, database_url
from .errors import ApiError

# Which setting limits which flow. The two gateway targets get a bucket each.
FLOWS = {
    "decisions": "RATE_LIMIT_DECISIONS",
    "erasures": "RATE_LIMIT_ERASURES",
    "matomo": "RATE_LIMIT_GATEWAY",
    "meta": "RATE_LIMIT_GATEWAY",
    "sign_in": "RATE_LIMIT_SIGN_IN",
}
EXTENSION = "consentmgr.ratelimit"
RATES = "consentmgr.ratelimit.rates"


class Store(Protocol):
    """Where the buckets live; shared by every process (and server) that serves the app."""

    def take(self, key: bytes, cost: int, interval: float, capacity: float, now: float) -> float:
        """Spend ``cost`` from ``key``'s bucket if it holds that much.

        A request costs ``interval`` seconds of the bucket's ``capacity``
        (``burst * interval``). Returns 0.0 when spent, or else the seconds
        until it could be, having changed nothing.
        """
        ...


class SharedFileStore:
    """Buckets in a memory-mapped file, shared by every process on this machine."""

    MAGIC = b"consentmgr-lim-1"
    HEADER = struct.Struct("<16s16s")  # magic, hash key
    SLOT = struct.Struct("<Qd")  # key fingerprint, time the bucket is full again
    SLOTS = 1 << 16
    PROBES = 8

    def __init__(self, path: str) -> None:
        self.size = self.HEADER.size + self.SLOTS * self.SLOT.size
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        try:
            header = os.pread(self.fd, self.HEADER.size, 0)
            if len(header) < self.HEADER.size or header[:16] != self.MAGIC:
                os.ftruncate(self.fd, 0)
                os.ftruncate(self.fd, self.size)
                header = self.HEADER.pack(self.MAGIC, secrets.token_bytes(16))
                os.pwrite(self.fd, header, 0)
            elif os.fstat(self.fd).st_size != self.size:
                os.ftruncate(self.fd, self.size)
            self.hash_key = self.HEADER.unpack(header)[1]
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.map = mmap.mmap(self.fd, self.size, mmap.MAP_SHARED)
        weakref.finalize(self, os.close, self.fd)  # the mapping closes itself
        self.lock = threading.Lock()  # flock does not separate threads sharing the descriptor
        self._fingerprint = functools.lru_cache(maxsize=8192)(self._hash)

    def _hash(self, key: bytes) -> int:
        digest = hashlib.blake2b(key, digest_size=8, key=self.hash_key).digest()
        return int.from_bytes(digest, "little") or 1  # 0 marks an empty slot

    def take(self, key: bytes, cost: int, interval: float, capacity: float, now: float) -> float:
        fp = self._fingerprint(key)
        mask, header, slot = self.SLOTS - 1, self.HEADER.size, self.SLOT
        with self.lock:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
            try:
                where, full_at = -1, 0.0
                spare, spare_full_at = -1, math.inf
                for i in range(self.PROBES):
                    offset = header + ((fp + i) & mask) * slot.size
                    k, t = slot.unpack_from(self.map, offset)
                    if k == fp:
                        where, full_at = offset, t
                        break
                    if t < spare_full_at:
                        spare, spare_full_at = offset, t
                if where < 0:
                    where, full_at = spare, 0.0  # a new key starts with a full bucket
                if full_at > now + capacity:
                    full_at = now  # the clock went back: forget what cannot be
                after = max(full_at, now) + cost * interval
                wait = after - now - capacity
                if wait > 1e-9:
                    return wait
                slot.pack_into(self.map, where, fp, after)
                return 0.0
            finally:
                fcntl.flock(self.fd, fcntl.LOCK_UN)


def store(app: Flask) -> Store:
    """This process's store for the app (opened again after a fork)."""
    held = app.extensions.get(EXTENSION)
    if held is None or held[0] != os.getpid():
        url = database_url(app.config)
        if url:
            from ..storage.postgres import LimitStore  # shared by every server

            shared: Store = LimitStore(
                url, app.config["DATABASE_POOL_SIZE"], app.config["DATABASE_TIMEOUT_SECONDS"]
            )
        else:
            shared = SharedFileStore(f"{database_path(app)}.limits")
        held = (os.getpid(), shared)
        app.extensions[EXTENSION] = held
    return held[1]


@functools.lru_cache(maxsize=8192)
def _key(flow: str, address: str | None) -> bytes:
    """The bucket of ``flow`` for the client's network, the unit every limit counts by."""
    return f"{flow} {ip_prefix(address) or 'unknown'}".encode()


class TooManyRequests(ApiError):
    def __init__(self, flow: str, wait: int) -> None:
        super().__init__(
            429,
            f"too many {flow.replace('_', '-')} requests from your network;"
            f" try again in {wait} seconds",
            headers={"Retry-After": str(wait)},
        )


def rate(app: Flask, flow: str) -> Rate | None:
    """The limit of ``flow`` (None: no limit), read from the settings once per app."""
    rates = app.extensions.get(RATES)
    if rates is None:
        rates = app.extensions[RATES] = {f: parse_rate(app.config[k]) for f, k in FLOWS.items()}
    return rates[flow]


def wait_for(flow: str, cost: int = 1) -> int | None:
    """Spend ``cost`` of the client network's ``flow`` limit: None, or whole seconds to wait."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    rate_ = rate(app, flow)
    if rate_ is None:
        return None
    interval = rate_.interval
    seconds = store(app).take(
        _key(flow, request.remote_addr),
        min(cost, rate_.burst),
        interval,
        rate_.burst * interval,
        time.time(),
    )
    return max(1, math.ceil(seconds)) if seconds > 0 else None


GATEWAY_TOKEN_BYTES = 2048  # a tracker's hit is well under this; a larger one pays per part


def check_rest(flow: str, items: int, size: int) -> None:
    """Once a gateway request is read, spend the rest of what it costs: the door took one.

    A request costs a token per hit or event, or per 2 KB if that is more. A
    limit that counted requests alone would let one form POST store 64 KB for
    the price of one hit: the bytes a network can make the outbox hold are
    bounded by the same tokens.
    """
    rest = max(items, -(-size // GATEWAY_TOKEN_BYTES)) - 1
    if rest > 0:
        check(flow, rest)


def check(flow: str, cost: int = 1) -> None:
    """Like :func:`wait_for`, raising a 429 (JSON error, ``Retry-After``) when over the limit."""
    wait = wait_for(flow, cost)
    if wait is not None:
        raise TooManyRequests(flow, wait)
