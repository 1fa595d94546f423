"""What Matomo and Meta deliveries have in common: the HTTP session and the verdict.

Every call goes to a URL built from configuration alone, with explicit
connect and read timeouts, never follows a redirect and ignores proxy
variables from the environment, so nothing a visitor sends can steer where the
gateway connects.
"""

from __future__ import annotations

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

    @classmethod
    def all_retry(cls, items: Sequence[Item], error: str) -> Outcome:
        return cls(retry=list(items), error=error)

    @classmethod
    def all_dead(cls, items: Sequence[Item], error: str) -> Outcome:
        return cls(dead=[(i, error) for i in items], error=error)


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
    return Outcome.all_dead(items, message)


def network_failure(items: Sequence[Item], error: requests.RequestException) -> Outcome:
    kind = "timeout" if isinstance(error, requests.Timeout) else "network error"
    return Outcome.all_retry(items, f"{kind}: {type(error).__name__}: {error}"[:500])


def send_sealed(
    app: Flask,
    http: requests.Session,
    items: Sequence[Item],
    url: str,
    body: Callable[[list[Any]], dict],
    judge: Callable[[Sequence[Item], requests.Response], Outcome],
) -> Outcome:
    """Open the items' sealed payloads, POST them as one batch and judge the reply.

    Items that cannot be opened (sealed under a key no longer configured) are
    dead at once; the rest succeed or fail together as ``judge`` decides.
    """
    payloads, readable, unreadable = [], [], []
    for item in items:
        try:
            payloads.append(sealed.unseal(app, item.payload))
            readable.append(item)
        except sealed.Unreadable as e:
            unreadable.append((item, str(e)))
    if not readable:
        return Outcome(dead=unreadable)
    try:
        response = post(app, http, url, json=body(payloads))
    except requests.RequestException as e:
        outcome = network_failure(readable, e)
    else:
        outcome = judge(readable, response)
    outcome.dead.extend(unreadable)
    return outcome
