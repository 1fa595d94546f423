"""The admin console in real Chromium (issue 7, acceptance 3).

An admin signs in, sees the charts, filters by language, looks up a consent
id, erases it through the confirmation step and downloads a CSV export; axe
finds no accessibility violations on the dashboard or the record page. Uses
the shared browser and live server fixtures of ``tests/browser.py``.
"""

from __future__ import annotations

import csv
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from admin_support import PASSWORD, create_admin
from helpers import open_db
from playwright.sync_api import Page, expect

from consentmgr.consent import log as consent_log
from consentmgr.consent.log import Decision
from consentmgr.consent.methods import NAMES
from consentmgr.gateway import outbox

pytestmark = pytest.mark.browser

VISITOR = "browser-visitor-0001"
LANGS = ("nb", "nb", "nn", "en")


def fill(server) -> dict[str, int]:
    """A small log over ten days, the visitor's three decisions, an admin and a dead item."""
    db = open_db(server.app.config)
    policy = server.app.extensions["consentmgr.policy"]
    today = datetime.now(UTC).replace(hour=1, minute=0, second=0, microsecond=0)
    per_lang = dict.fromkeys(("nb", "nn", "en"), 0)
    try:
        create_admin(db)
        for n in range(60):
            method, lang = NAMES[n % len(NAMES)], LANGS[n % 4]
            consent_id = VISITOR if n in (3, 23, 43) else f"other-{n}"
            granted = method == "accept_all" or (method == "custom" and n % 2 == 0)
            decision = Decision(
                consent_id,
                policy.version,
                policy.revision,
                {"analytics": granted, "marketing": method == "accept_all"},
                method,
                lang,
                f"https://ansettr.no/stillinger/{n % 7}",
                "Firefox",
                "198.51.100.0/24",
            )
            consent_log.append(db, decision, today - timedelta(days=n % 10, minutes=n))
            per_lang[lang] += 1
        now = time.time()
        outbox.enqueue(db, "meta", "other-0", ["sealed"], now)
        items = outbox.claim(db, "meta", 1, "w", now)
        outbox.failed(db, items, "w", "HTTP 400 from Graph API", now, "2026-01-01", permanent=True)
    finally:
        db.close()
    return per_lang


def axe_violations(page: Page) -> tuple[int, str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return results.violations_count, results.generate_report()


def sign_in(page: Page) -> None:
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login"))
    page.get_by_label("Username").fill("kari")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1, name="Consent dashboard")).to_be_visible()


@pytest.fixture
def console(live_server_factory, visit_factory):
    server = live_server_factory(SQLITE_SYNCHRONOUS="NORMAL")
    per_lang = fill(server)
    visit = visit_factory(server, accept_downloads=True)
    sign_in(visit.page)
    return server, visit, per_lang


def test_dashboard_and_gateway_charts_filters_and_axe(console):
    server, visit, per_lang = console
    page = visit.page
    decisions = page.get_by_role("img", name="Decisions per day by method")
    optin = page.get_by_role("img", name="Opt-in rate per category per day")
    expect(decisions).to_be_visible()
    expect(optin).to_be_visible()
    assert decisions.bounding_box()["height"] > 100 and optin.bounding_box()["height"] > 100
    assert page.locator("#chart-decisions rect.segment").count() >= 10
    expect(page.locator("[data-figure=decisions]")).to_have_text("60")
    count, report = axe_violations(page)
    assert count == 0, report

    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()

    page.get_by_label("Language", exact=True).select_option("en")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"lang=en"))
    expect(page.locator("[data-figure=decisions]")).to_have_text(str(per_lang["en"]))
    expect(page.get_by_role("table", name="By language").locator("tbody tr")).to_have_count(1)

    page.get_by_role("link", name="Gateway").first.click()
    expect(page.get_by_role("img", name="Gateway hits per day by outcome")).to_be_visible()
    count, report = axe_violations(page)
    assert count == 0, report
    assert visit.console_errors == []


def test_look_up_erase_with_confirmation_and_export(console):
    server, visit, _ = console
    page = visit.page
    page.get_by_label("Consent id").fill(VISITOR)
    page.get_by_role("button", name="Look up").click()
    expect(page.get_by_role("heading", level=1, name="Consent record")).to_be_visible()
    expect(page.locator("#history tbody tr")).to_have_count(3)
    count, report = axe_violations(page)
    assert count == 0, report

    page.get_by_role("link", name="Erase this consent id…").click()
    expect(page.get_by_role("heading", name="Erase consent id?")).to_be_visible()
    assert all(r["consent_id"] == VISITOR for r in server.rows() if r["seq"] in (4, 24, 44))
    page.get_by_role("button", name="Erase 3 decisions").click()
    expect(page.get_by_role("status")).to_contain_text("Erased seq 4, 24, 44 (3 decisions)")
    erased = [r for r in server.rows() if r["seq"] in (4, 24, 44)]
    assert all(r["consent_id"] is None and r["erased_at"] for r in erased)

    with page.expect_download() as info:
        page.get_by_role("button", name="Export CSV").click()
    download = info.value
    assert download.suggested_filename.startswith("decisions-")
    with open(download.path(), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 60
    assert sum(1 for r in rows if r["erased_at"]) == 3
    assert VISITOR not in {r["consent_id"] for r in rows}
    actions = [r["action"] for r in server.rows("audit")]
    assert actions == ["login", "view_record", "erase", "export"]
    assert visit.console_errors == []


def test_console_fits_320_px_and_cards_never_stand_alone(console):
    server, visit, _ = console
    page = visit.page
    page.goto("/admin/?period=30")
    for width in (1280, 960, 600, 320):
        page.set_viewport_size({"width": width, "height": 800})
        for group in ("methods", "optin"):
            tops = Counter(
                round(card.bounding_box()["y"])
                for card in page.locator(f".figures.{group} > div").all()
            )
            assert min(tops.values()) >= 2, f"a {group} card alone in a row at {width} px: {tops}"

    pages = (
        "/admin/?period=90",
        "/admin/outbox",
        f"/admin/consent/{VISITOR}",
        f"/admin/consent/{VISITOR}/erase",
    )
    for width, height in ((320, 640), (1280, 800)):
        page.set_viewport_size({"width": width, "height": height})
        for path in pages:
            page.goto(path)
            wide = page.evaluate("() => document.documentElement.scrollWidth")
            assert wide <= width, f"{path} is {wide} px wide at {width} px"
            if width == 320:
                count, report = axe_violations(page)
                assert count == 0, f"{path} at 320 px:\n{report}"
    page.get_by_role("button", name="Sign out").click()
    page.set_viewport_size({"width": 320, "height": 640})
    page.goto("/admin/login")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 320
    assert visit.console_errors == []
