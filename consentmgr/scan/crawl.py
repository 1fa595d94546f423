"""A scan's three passes, each a fresh browser context (an empty profile):

* **undecided**: the start page and the other pages, nothing touched; this
  pass also finds the pages (``pages.Crawler``) and checks the banner's
  buttons (``banner_check``);
* **refused**: the start page, a click on *Avvis alle*, then every page;
* **accepted**: the same with *Godta alle*.

``recording.Pass`` records what each pass stores and sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .banner_check import Labels, button, check_banner
from .browser import ScanError, browser_for, check_playwright, first_line
from .pages import Crawler, check_url, sitemap_urls
from .recording import Pass, iso
from .sites import site_of


@dataclass(frozen=True)
class Options:
    pages: int = 10  # pages besides the start page
    settle: float = 10.0  # seconds: the longest wait for a page's network to settle
    banner_wait: float = 5.0  # seconds: the longest wait for the banner to appear


def run(
    url: str, labels: Labels, options: Options | None = None, browser: Any | None = None
) -> dict[str, Any]:
    """Scan a site in the three passes; the observations, ready for ``findings`` and a report."""
    check_playwright()
    from playwright.sync_api import Error

    options = options or Options()
    start = check_url(url)
    try:
        return _run(start, labels, options, browser)
    except Error as e:
        raise ScanError(
            f"the browser failed while scanning {start}: {first_line(str(e))}"
        ) from None


def _run(start: str, labels: Labels, options: Options, browser: Any | None) -> dict[str, Any]:
    site = site_of(start)
    started = datetime.now(UTC)
    with browser_for(browser) as chromium:
        observed: dict[str, Any] = {"url": start, "site": site, "browser": chromium.version}
        passes: dict[str, dict[str, Any]] = {}

        undecided = Pass.open(chromium, "undecided", site, options.settle)
        try:
            if not undecided.visit(start):
                raise ScanError(f"cannot load {start}: {undecided.visited[0].get('error')}")
            banner = check_banner(undecided.page, labels, options.banner_wait)
            crawler = Crawler(start, options.pages)
            crawler.offer(undecided.links(), undecided.page.url)
            if options.pages:
                crawler.offer(sitemap_urls(crawler.origin, options.settle), start)
            while (page := crawler.next()) is not None:
                if undecided.visit(page):
                    crawler.offer(undecided.links(), undecided.page.url)
        finally:
            passes["undecided"] = undecided.finish()
        observed["banner"] = banner
        observed["pages"] = crawler.pages

        for name, names in (("refused", labels.reject), ("accepted", labels.accept)):
            scan_pass = Pass.open(chromium, name, site, options.settle)
            try:
                _decide(scan_pass, start, names, banner["found"], options)
                for page in crawler.pages:
                    scan_pass.visit(page)
            finally:
                passes[name] = scan_pass.finish()
        observed["passes"] = passes
    observed["started"] = iso(started)
    observed["finished"] = iso(datetime.now(UTC))
    return observed


def _decide(
    scan_pass: Pass, start: str, names: tuple[str, ...], banner_seen: bool, options: Options
) -> None:
    """Load the start page and click the banner's button with one of ``names``."""
    from playwright.sync_api import Error

    scan_pass.visit(start)
    target = button(scan_pass.page, names)
    wait = options.banner_wait if banner_seen else 0.1
    try:
        target.wait_for(state="visible", timeout=wait * 1000)
        label = target.inner_text().strip()
        target.click()
    except Error:
        scan_pass.notes.append(
            f"no {' / '.join(names)} button to click; the pages were visited undecided"
        )
        return
    scan_pass.decision = label
    try:
        target.wait_for(state="hidden", timeout=options.settle * 1000)
    except Error:
        scan_pass.notes.append(f"the banner stayed open after {label!r} was clicked")
    scan_pass.collect()
