"""Which pages a scan visits: the start page, same-origin links found on the pages, the sitemap."""

from __future__ import annotations

import re
from urllib.parse import urldefrag, urljoin, urlsplit

import requests

from .browser import ScanError

SITEMAP_MAX_BYTES = 5_000_000
SKIPPED_LINKS = re.compile(
    r"\.(?:pdf|zip|gz|docx?|xlsx?|pptx?|odt|ods|csv|txt|xml|json|png|jpe?g|gif|svg|webp|ico"
    r"|mp[34]|mov|avi|woff2?|ttf|css|js)$",
    re.I,
)


def check_url(url: str) -> str:
    """The start URL without its fragment; ScanError unless it is an absolute http(s) URL."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ScanError(f"{url!r} is not an http:// or https:// URL with a host")
    return page_key(url.strip())


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def page_key(url: str) -> str:
    """The URL without fragment, with "/" for an empty path, so each page is visited once."""
    parts = urlsplit(urldefrag(url)[0])
    return parts._replace(path=parts.path or "/").geturl()


def sitemap_urls(origin: str, timeout: float) -> list[str]:
    """The ``<loc>`` URLs of ``/sitemap.xml`` when the site has one."""
    try:
        response = requests.get(origin + "/sitemap.xml", timeout=timeout, stream=True)
        if response.status_code != 200:
            return []
        body = response.raw.read(SITEMAP_MAX_BYTES, decode_content=True)
    except (requests.RequestException, OSError):
        return []
    text = body.decode("utf-8", "replace")
    return [
        re.sub(r"&amp;", "&", m.strip())
        for m in re.findall(r"<loc>\s*([^<]+?)\s*</loc>", text, re.I)
    ]


class Crawler:
    """Which pages to visit: the start page, then same-origin links, then the sitemap."""

    def __init__(self, start: str, limit: int) -> None:
        self.origin = origin_of(start)
        self.pages = [start]
        self.seen = {page_key(start)}
        self.queue: list[str] = []
        self.limit = limit

    def offer(self, urls: list[str], base: str) -> None:
        for href in urls:
            url = page_key(urljoin(base, href))
            if (
                origin_of(url) != self.origin
                or url in self.seen
                or SKIPPED_LINKS.search(urlsplit(url).path)
            ):
                continue
            self.seen.add(url)
            self.queue.append(url)

    def next(self) -> str | None:
        if len(self.pages) > self.limit or not self.queue:
            return None
        url = self.queue.pop(0)
        self.pages.append(url)
        return url
