"""Debian's Chromium through Playwright, and what to say when either is missing.

Playwright is imported only inside these functions, so ``consentmgr`` works
without it; ``pip install 'consentmgr[scan]'`` adds it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class ScanError(Exception):
    """The scan could not run: a bad URL, a site that does not answer, no browser."""


INSTALL_HINT = (
    "The scan needs Playwright: pip install 'consentmgr[scan]' (in consentmgr's virtualenv),"
    " and Debian's Chromium: apt-get install chromium (or set CHROMIUM_PATH)."
)


def check_playwright() -> None:
    """Raise ScanError with install instructions when Playwright is not installed."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        raise ScanError(INSTALL_HINT) from None


def chromium_path() -> str:
    return os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def first_line(text: str) -> str:
    """The gist of a Playwright error: its first line, without the API call it came from."""
    line = text.strip().splitlines()[0] if text.strip() else text
    return re.sub(r"^[A-Z]\w*\.\w+: ", "", line)


@contextmanager
def browser_for(browser: Any | None) -> Iterator[Any]:
    """The given browser, or Debian's Chromium launched for this scan and closed after it."""
    if browser is not None:
        yield browser
        return
    check_playwright()
    from playwright.sync_api import Error, sync_playwright

    path = chromium_path()
    if not os.path.exists(path):
        raise ScanError(f"No Chromium at {path}. {INSTALL_HINT}")
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        except Error as e:
            raise ScanError(f"Chromium at {path} did not start: {first_line(str(e))}") from None
        try:
            yield launched
        finally:
            launched.close()
