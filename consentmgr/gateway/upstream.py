"""What Matomo and Meta deliveries have in common: the HTTP session and the verdict.

Every call goes to a URL built from configuration alone, with explicit
connect and read timeouts, never follows a redirect and ignores proxy
variables from the environment, so nothing a visitor sends can steer where the
gateway connects.

One visitor's item never fails another's: each item is opened and encoded on
its own before the batch is built, so one that cannot be (sealed under a lost
key, or holding what JSON or UTF-8 cannot carry) is dead alone with its
reason; and a batch the upstream refuses as a whole for its content is split
in halves, and those again, until the items it refuses are alone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import requests
from flask import Flask

from . import sealed

if TYPE_CHECKING:  # the outbox imports the target registry, which imports the senders
    from .outbox import Item


@dataclass
class Outcome:
    """How one upstream call went, item by item."""

    delivered: list[Item] = field(default_factory=list)
    retry: list[Item] = field(default_factory=list)
    dead: list[tuple[Item, str]] = field(default_factory=list)
    error: str = ""
    # The upstream refused the batch as a whole for what is in it (not for our
    # token or its own trouble): one item may be the cause, so try halves.
    split: bool = False

    @classmethod
    def all_retry(cls, items: Sequence[Item], error: str) -> Outcome:
        return cls(retry=list(items), error=error)

    @classmethod
    def all_dead(cls, items: Sequence[Item], error: str, *, split: bool = False) -> Outcome:
        return cls(dead=[(i, error) for i in items], error=error, split=split)

    def merge(self, other: Outcome) -> Outcome:
        """Both halves of a split batch as one outcome; a retry's reason wins the message."""
        errors = [o.error for o in (self, other) if o.error]
        retry_errors = [o.error for o in (self, other) if o.retry and o.error]
        return Outcome(
            delivered=self.delivered + other.delivered,
            retry=self.retry + other.retry,
            dead=self.dead + other.dead,
            error=(retry_errors or errors or [""])[0],
        )


@dataclass(frozen=True)
class Upstream:
    """How the deliverer sends one target's items: each upstream module defines one."""

    batch: int  # items per call
    configured: Callable[[Flask], bool]  # False: items wait (and expire) instead of being sent
    max_age_seconds: Callable[[Flask], float]  # older items die instead of arriving late
    send: Callable[[Flask, requests.Session, Sequence[Item]], Outcome]


def session() -> requests.Session:
    """A session that ignores proxy variables; ``post`` never follows a redirect.

    ``max_redirects`` keeps its default: requests looks one redirect ahead even
    with ``allow_redirects=False`` (without sending it), and a limit of 0 turns
    every 3xx into ``TooManyRedirects``, a network error retried until it expires,
    instead of the dead item with its ``Location`` that ``http_failure`` makes.
    """
    s = requests.Session()
    s.trust_env = False
    return s


def post(app: Flask, http: requests.Session, url: str, **kwargs: Any) -> requests.Response:
    timeout = (app.config["UPSTREAM_CONNECT_TIMEOUT"], app.config["UPSTREAM_READ_TIMEOUT"])
    return http.post(url, timeout=timeout, allow_redirects=False, **kwargs)


RETRYABLE_STATUS = {408, 425, 429}
CONTENT_REFUSED_STATUS = {400, 413, 422}  # about the request's content: split the batch
MAX_SPLIT_CALLS = 64  # finds a handful of bad items in a batch of 1,000


def http_failure(items: Sequence[Item], response: requests.Response) -> Outcome | None:
    """The outcome for a non-2xx answer, or None when the status is a success."""
    status = response.status_code
    body = response.text[:500].strip()
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        where = response.headers.get("Location", "?")
        return Outcome.all_dead(items, f"HTTP {status}: redirect to {where} not followed")
    message = f"HTTP {status}: {body}" if body else f"HTTP {status}"
    if status >= 500 or status in RETRYABLE_STATUS:
        return Outcome.all_retry(items, message)
    return Outcome.all_dead(items, message, split=status in CONTENT_REFUSED_STATUS)


def network_failure(items: Sequence[Item], error: requests.RequestException) -> Outcome:
    kind = "timeout" if isinstance(error, requests.Timeout) else "network error"
    return Outcome.all_retry(items, f"{kind}: {type(error).__name__}: {error}"[:500])


def encodable_json(value: Any) -> Any:
    """``value`` if it encodes as strict JSON in UTF-8 (no NaN, no lone surrogate), else raise."""
    json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    return value


def send_sealed(
    app: Flask,
    http: requests.Session,
    items: Sequence[Item],
    url: str,
    encode: Callable[[Any], Any],
    body: Callable[[list[Any]], dict],
    judge: Callable[[Sequence[Item], requests.Response], Outcome],
) -> Outcome:
    """Open and encode each item, POST them as one batch and judge the reply.

    ``encode`` turns one opened payload into what goes in the batch, raising
    ``ValueError`` (``UnicodeError`` included) or ``TypeError`` when it cannot.
    Items that cannot be opened or encoded are dead at once, each with its
    reason; the rest succeed or fail as ``judge`` decides, a batch refused
    whole for its content being split until the refused items are alone.
    """
    wire, ready, dead = [], [], []
    for item in items:
        try:
            wire.append(encode(sealed.unseal(app, item.payload)))
            ready.append(item)
        except sealed.Unreadable as e:
            dead.append((item, str(e)))
        except (ValueError, TypeError) as e:
            reason = f"cannot be encoded for the upstream: {type(e).__name__}: {e}"
            dead.append((item, reason[:500]))
    outcome = _post_split(app, http, ready, wire, url, body, judge) if ready else Outcome()
    outcome.dead.extend(dead)
    return outcome


@dataclass
class Budget:
    """What one batch may still spend on splitting: calls, and time within its lease."""

    calls: int
    until: float  # time.monotonic() after which no further call can finish within the lease

    @classmethod
    def for_batch(cls, app: Flask) -> Budget:
        one_call = app.config["UPSTREAM_CONNECT_TIMEOUT"] + app.config["UPSTREAM_READ_TIMEOUT"]
        until = time.monotonic() + app.config["OUTBOX_LEASE_SECONDS"] - one_call
        return cls(MAX_SPLIT_CALLS, until)

    def spend(self) -> bool:
        if self.calls <= 0 or time.monotonic() > self.until:
            return False
        self.calls -= 1
        return True


def _post_split(
    app: Flask,
    http: requests.Session,
    items: list[Item],
    wire: list[Any],
    url: str,
    body: Callable[[list[Any]], dict],
    judge: Callable[[Sequence[Item], requests.Response], Outcome],
    budget: Budget | None = None,
) -> Outcome:
    """POST one batch; if it is refused whole for its content, try each half the same way.

    A few refused items cost two calls per halving to find. ``budget`` caps
    the calls of one split (the upstream may be refusing everything, e.g. a
    wrong pixel id) and keeps them within the batch's lease, so no other
    deliverer takes the items over while they are being sent. What is still
    unresolved when it runs out is retried later, in other company, and never
    made dead for the items beside it.
    """
    budget = budget or Budget.for_batch(app)
    if not budget.spend():
        return Outcome.all_retry(items, "refused as a batch; the refused items are sought later")
    try:
        data = json.dumps(body(wire), allow_nan=False).encode()
        response = post(app, http, url, data=data, headers={"Content-Type": "application/json"})
    except requests.RequestException as e:
        return network_failure(items, e)
    outcome = judge(items, response)
    if not outcome.split or len(items) < 2:
        return outcome
    half = len(items) // 2
    first = _post_split(app, http, items[:half], wire[:half], url, body, judge, budget)
    second = _post_split(app, http, items[half:], wire[half:], url, body, judge, budget)
    return first.merge(second)
