"""One pass of a scan: a fresh browser context and everything recorded in it.

What is recorded:

* every cookie: the browser's cookie jar after each page settles, plus each
  cookie set in between (and perhaps removed again), from ``Set-Cookie``
  headers (read through the Chrome DevTools Protocol, which also says which
  lines the browser refused) and from scripts (``recorder.SCRIPT``);
* ``localStorage``/``sessionStorage`` keys and IndexedDB databases of every
  frame;
* every request to another site, with the script (or document) that started
  it and whether it looks like a beacon; repeats of one request are counted.

Service workers are blocked, so every request is made, and seen, by a page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urldefrag, urlsplit

from . import cookies as cookie_lines
from .browser import first_line
from .pages import origin_of
from .recorder import BINDING, SCRIPT
from .sites import registrable_domain, site_of

VIEWPORT = {"width": 1280, "height": 800}
LOCALE = "nb-NO"
TRACKING_PATH = re.compile(
    r"(?:^|/)(?:collect|g/collect|track|tr|pixel|beacon|event|events|ping|hit|log"
    r"|matomo\.php|piwik\.php|analytics)(?:[/.?]|$)",
    re.I,
)
MAX_URL = 1000
# Keys, origin and databases of one frame's storage.
STORAGE_JS = """async () => {
  const keys = (area) => { try { return Object.keys(window[area]); } catch { return []; } };
  let idb = [];
  try { idb = (await indexedDB.databases()).map((d) => d.name); } catch {}
  return {origin: location.origin, localStorage: keys("localStorage"),
          sessionStorage: keys("sessionStorage"), indexedDB: idb};
}"""


def iso(moment: datetime | float | None) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, int | float):
        if moment < 0:
            return None
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def looks_like_beacon(kind: str, url: str, status: int | None, length: int | None) -> bool:
    """A request whose purpose is to report, not to fetch something shown.

    ``ping`` (``navigator.sendBeacon``, ``<a ping>``); an answer of 204; an
    image of at most 128 bytes (a tracking pixel); or a path like ``/collect``,
    ``/tr``, ``/matomo.php``.
    """
    if kind == "ping" or status == 204:
        return True
    if kind == "image" and length is not None and length <= 128:
        return True
    return kind in ("image", "xhr", "fetch", "other") and bool(
        TRACKING_PATH.search(urlsplit(url).path)
    )


def _initiator(initiator: dict[str, Any]) -> dict[str, Any]:
    """The script (first URL on the stack) or document that started a request."""
    stack = initiator.get("stack")
    while stack:
        for frame in stack.get("callFrames", []):
            if frame.get("url"):
                return {"type": "script", "url": frame["url"]}
        stack = stack.get("parent")
    if initiator.get("url"):
        kind = "document" if initiator.get("type") == "parser" else initiator.get("type")
        return {"type": kind, "url": initiator["url"]}
    return {"type": initiator.get("type") or "other", "url": None}


@dataclass
class Pass:
    """One pass: a fresh browser context, its page, and everything recorded in it."""

    name: str
    site: str
    context: Any
    page: Any
    settle: float  # seconds: the longest wait for a page's network to settle
    visited: list[dict[str, Any]] = field(default_factory=list)
    decision: str | None = None
    notes: list[str] = field(default_factory=list)
    cookies: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    storage: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    _requests: dict[tuple[str, str, str | None], dict[str, Any]] = field(default_factory=dict)
    _writes: list[dict[str, Any]] = field(default_factory=list)
    _pending: list[Any] = field(default_factory=list)
    _responses: dict[Any, Any] = field(default_factory=dict)
    _initiators: dict[str, dict[str, Any]] = field(default_factory=dict)
    _urls: dict[str, str] = field(default_factory=dict)
    _header_cookies: list[tuple[str, str]] = field(default_factory=list)  # (request id, line)

    @classmethod
    def open(cls, browser: Any, name: str, site: str, settle: float) -> Pass:
        context = browser.new_context(
            locale=LOCALE, viewport=VIEWPORT, accept_downloads=False, service_workers="block"
        )
        context.set_default_timeout(max(settle, 1.0) * 1000)
        page = context.new_page()
        scan_pass = cls(name, site, context, page, settle)
        context.expose_binding(BINDING, lambda _source, data: scan_pass._writes.append(data))
        context.add_init_script(SCRIPT)
        context.on("request", lambda r: scan_pass._pending.append(r))
        context.on("response", lambda r: scan_pass._responses.__setitem__(r.request, r))
        cdp = context.new_cdp_session(page)
        cdp.on("Network.requestWillBeSent", scan_pass._on_request_will_be_sent)
        cdp.on("Network.responseReceivedExtraInfo", scan_pass._on_response_extra_info)
        cdp.send("Network.enable")
        return scan_pass

    def _on_request_will_be_sent(self, params: dict[str, Any]) -> None:
        url = params["request"]["url"]
        self._urls[params["requestId"]] = url
        self._initiators.setdefault(url, _initiator(params.get("initiator") or {}))

    def _on_response_extra_info(self, params: dict[str, Any]) -> None:
        headers = {k.lower(): v for k, v in (params.get("headers") or {}).items()}
        lines = [line for line in headers.get("set-cookie", "").split("\n") if line.strip()]
        blocked = {b.get("cookieLine") for b in params.get("blockedCookies") or []}
        request_id = params["requestId"]
        self._header_cookies.extend((request_id, line) for line in lines if line not in blocked)

    # -- visiting --------------------------------------------------------------

    def visit(self, url: str) -> bool:
        """Load a page and wait for its network to settle; False if it did not load."""
        from playwright.sync_api import Error, TimeoutError

        entry: dict[str, Any] = {"url": url, "status": None, "settled": True}
        self.visited.append(entry)
        try:
            response = self.page.goto(url, wait_until="networkidle", timeout=self.settle * 1000)
            entry["status"] = response.status if response else None
        except TimeoutError:
            entry["settled"] = False
            self.notes.append(
                f"{url}: the network did not settle within {self.settle:g} s;"
                " recorded what had happened by then"
            )
        except Error as e:
            entry["settled"] = False
            entry["error"] = first_line(str(e)).removesuffix(f" at {url}")
            self.notes.append(f"{url}: could not be loaded: {entry['error']}")
            self.collect()
            return False
        self.collect()
        return True

    def links(self) -> list[str]:
        try:
            hrefs = self.page.eval_on_selector_all("a[href]", "els => els.map((e) => e.href)")
        except Exception:  # noqa: BLE001 (a page that navigated away has no links to give)
            return []
        return [h for h in hrefs if isinstance(h, str)]

    # -- recording -------------------------------------------------------------

    def collect(self) -> None:
        """Take in the jar, storage, writes and requests seen since the last call."""
        self._take_jar(self.context.cookies())
        self._take_storage()
        writes, self._writes = self._writes, []
        for write in writes:
            if write.get("kind") == "cookie":
                self._take_cookie_write(write)
            else:
                self._add_storage(write["kind"], origin_of(write["frame"]), write["key"])
                if write.get("by"):
                    self._storage_setter(write, write["by"])
        headers, self._header_cookies = self._header_cookies, []
        for request_id, line in headers:
            # The extra-info event may come before the request's own; its URL is known by now.
            url = self._urls.get(request_id)
            parsed = cookie_lines.parse(line, url) if url else None
            if parsed and not parsed.deletes:
                self._add_cookie(parsed, {"via": "response", "url": url[:MAX_URL]})
        pending, self._pending = self._pending, []
        for request in pending:
            self._take_request(request)

    def _party(self, host: str) -> str:
        return "first" if registrable_domain(host) == self.site else "third"

    def _take_jar(self, jar: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
        keys = set()
        for c in jar:
            key = (c["name"], c["domain"].lstrip(".").lower(), c["path"])
            keys.add(key)
            record = self._cookie_record(key)
            record.update(
                expires=iso(c.get("expires")),
                http_only=c.get("httpOnly"),
                secure=c.get("secure"),
                same_site=c.get("sameSite"),
                in_jar=True,
            )
        return keys

    def _cookie_record(self, key: tuple[str, str, str]) -> dict[str, Any]:
        record = self.cookies.get(key)
        if record is None:
            name, domain, path = key
            record = self.cookies[key] = {
                "name": name,
                "domain": domain,
                "path": path,
                "expires": None,
                "party": self._party(domain),
                "set_by": [],
                "http_only": None,
                "secure": None,
                "same_site": None,
                "in_jar": False,
                "kept": False,
            }
        return record

    def _add_cookie(self, line: cookie_lines.CookieLine, setter: dict[str, str]) -> None:
        key = (line.name, line.domain, line.path)
        if key not in self.cookies:
            # The browser may have put it on another path than the line implies.
            key = next((k for k in self.cookies if k[0] == line.name and k[1] == line.domain), key)
        record = self._cookie_record(key)
        if not record["in_jar"] and record["expires"] is None:
            record["expires"] = iso(line.expires)
        if setter not in record["set_by"]:
            record["set_by"].append(setter)

    def _take_cookie_write(self, write: dict[str, Any]) -> None:
        frame = write.get("frame") or ""
        parsed = cookie_lines.parse(write.get("line", ""), frame)
        if not parsed or parsed.deletes or not write.get("kept"):
            return  # a deletion, or a write the browser refused
        by = write.get("by")
        setter = {"via": "script", "url": (by or frame)[:MAX_URL]}
        if not by or urldefrag(by)[0] == urldefrag(frame)[0]:
            setter["via"] = "inline script"
        self._add_cookie(parsed, setter)

    def _take_storage(self) -> None:
        for frame in self.page.frames:
            try:
                found = frame.evaluate(STORAGE_JS)
            except Exception:  # noqa: BLE001, S112 (a detached or opaque frame has no storage to read)
                continue
            origin = found.get("origin") or ""
            if not origin.startswith("http"):
                continue
            for kind in ("localStorage", "sessionStorage", "indexedDB"):
                for key in found.get(kind) or []:
                    if isinstance(key, str):
                        self._add_storage(kind, origin, key)

    def _add_storage(self, kind: str, origin: str, key: str) -> dict[str, Any]:
        skey = (kind, origin, key)
        record = self.storage.get(skey)
        if record is None:
            record = self.storage[skey] = {
                "kind": kind,
                "origin": origin,
                "key": key,
                "party": self._party(urlsplit(origin).hostname or ""),
                "set_by": [],
            }
        return record

    def _storage_setter(self, write: dict[str, Any], by: str) -> None:
        record = self._add_storage(write["kind"], origin_of(write["frame"]), write["key"])
        setter = {"via": "script", "url": by[:MAX_URL]}
        if urldefrag(by)[0] == urldefrag(write["frame"])[0]:
            setter["via"] = "inline script"
        if setter not in record["set_by"]:
            record["set_by"].append(setter)

    def _take_request(self, request: Any) -> None:
        url = request.url
        if urlsplit(url).scheme not in ("http", "https", "ws", "wss"):
            return
        site = site_of(url)
        if site == self.site:
            return
        response = self._responses.get(request)
        status = response.status if response else None
        length = None
        if response is not None:
            try:
                length = int(response.headers.get("content-length", ""))
            except ValueError:
                length = None
        try:
            frame_url = request.frame.url
        except Exception:  # noqa: BLE001 (a service worker's request has no frame)
            frame_url = None
        initiator = self._initiators.get(url) or {
            "type": "frame",
            "url": (frame_url or "")[:MAX_URL] or None,
        }
        key = (request.method, url[:MAX_URL], initiator.get("url"))
        if key in self._requests:
            self._requests[key]["count"] += 1
            return
        self._requests[key] = {
            "url": url[:MAX_URL],
            "site": site,
            "method": request.method,
            "type": request.resource_type,
            "initiator": initiator,
            "frame": (frame_url or "")[:MAX_URL] or None,
            "status": status,
            "beacon": looks_like_beacon(request.resource_type, url, status, length),
            "count": 1,
        }

    def finish(self) -> dict[str, Any]:
        """Close the context and give the pass's record."""
        self.collect()
        final = self._take_jar(self.context.cookies())
        for key, record in self.cookies.items():
            record["kept"] = key in final
            del record["in_jar"]
        self.context.close()
        return {
            "decision": self.decision,
            "pages": self.visited,
            "cookies": sorted(self.cookies.values(), key=lambda c: (c["name"], c["domain"])),
            "storage": sorted(
                self.storage.values(), key=lambda s: (s["kind"], s["origin"], s["key"])
            ),
            "requests": list(self._requests.values()),
            "notes": self.notes,
        }
