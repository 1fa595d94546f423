"""Every visitor page in bokmål, nynorsk and English, in real Chromium (issue 18, acceptance 1).

One browser context per language walks the whole visitor journey: the banner
on /personvern (both layers), the statement, /mine-data, the receipt, the
erase confirmation, the erasure itself and every error page. Each page is
checked at 1280 and at 320 px wide: axe with the WCAG 2.2 AA rules finds
nothing, and nothing is wider than the window. Each is also used with the
keyboard alone: Tab reaches every control in order with a visible focus, and
the erasure is done without a mouse.
"""

from __future__ import annotations

import re

import pytest
from flask import abort
from playwright.sync_api import Page, expect
from werkzeug.exceptions import TooManyRequests

pytestmark = pytest.mark.browser

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
WIDTHS = ((1280, 800), (320, 640))
ERRORS = (400, 403, 404, 429, 500, 503)
TEXTS = {
    "nb": {
        "statement": "Personvernerklæring",
        "customise": "Tilpass",
        "accept": "Godta alle",
        "my_data": "Mine data",
        "erase_link": "Slett dataene mine …",
        "confirm_title": "Vil du slette dataene dine?",
        "confirm": "Ja, slett dataene mine",
        "erased": "Dataene dine er slettet",
        "receipt": "Samtykkekvittering",
        "not_found": "Fant ikke siden",
        "legal_basis": "Rettslig grunnlag",
    },
    "nn": {
        "statement": "Personvernerklæring",
        "customise": "Tilpass",
        "accept": "Godta alle",
        "my_data": "Dataa mine",
        "erase_link": "Slett dataa mine …",
        "confirm_title": "Vil du slette dataa dine?",
        "confirm": "Ja, slett dataa mine",
        "erased": "Dataa dine er sletta",
        "receipt": "Samtykkekvittering",
        "not_found": "Fann ikkje sida",
        "legal_basis": "Rettsleg grunnlag",
    },
    "en": {
        "statement": "Privacy statement",
        "customise": "Customise",
        "accept": "Accept all",
        "my_data": "My data",
        "erase_link": "Erase my data …",
        "confirm_title": "Erase your data?",
        "confirm": "Yes, erase my data",
        "erased": "Your data has been erased",
        "receipt": "Consent receipt",
        "not_found": "Page not found",
        "legal_basis": "Legal basis",
    },
}

# What has focus, looking into shadow roots, and whether it shows a focus ring.
NAME = """(e) => e.tagName === "INPUT" ? e.name : (e.textContent || "").trim().slice(0, 60)"""
# What has focus, looking into shadow roots, and whether it shows a focus ring.
FOCUS = f"""() => {{
  const name = {NAME};
  let e = document.activeElement;
  while (e && e.shadowRoot && e.shadowRoot.activeElement) e = e.shadowRoot.activeElement;
  if (!e || e === document.body) return null;
  const s = getComputedStyle(e), r = e.getBoundingClientRect();
  return {{
    text: name(e),
    ring: s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2,
    left: r.left, right: r.right,
  }};
}}"""
# Every control in document order, shadow roots (the preferences widget) included.
CONTROLS = f"""() => {{
  const name = {NAME};
  const focusable = "a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]),"
    + " summary, [tabindex='0']";
  const out = [];
  const walk = (root) => {{
    for (const e of root.children) {{
      const shown = e.checkVisibility() || e.classList.contains("skip");
      if (e.matches(focusable) && shown) out.push(name(e));
      if (e.shadowRoot) walk(e.shadowRoot);
      else walk(e);
    }}
  }};
  walk(document.body);
  return out;
}}"""


def axe(page: Page, where: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(
        page,
        options={"runOnly": {"type": "tag", "values": AXE_TAGS}, "resultTypes": ["violations"]},
    )
    assert results.violations_count == 0, f"{where}:\n{results.generate_report()}"


def widths(page: Page, where: str) -> None:
    """axe and no horizontal overflow at 1280 and at 320 px; back to 1280 after."""
    for width, height in WIDTHS:
        page.set_viewport_size({"width": width, "height": height})
        overflow = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.body.scrollWidth]"
        )
        assert max(overflow) <= width, f"{where} is {max(overflow)} px wide at {width} px"
        axe(page, f"{where} at {width} px")
    page.set_viewport_size({"width": 1280, "height": 800})


def keyboard(page: Page, where: str) -> list[str]:
    """Tab through the page from the top: every control, in order, each with a focus ring."""
    expected = page.evaluate(CONTROLS)
    page.evaluate("() => { document.activeElement?.blur(); window.scrollTo(0, 0); }")
    page.keyboard.press("Tab")
    reached = []
    for _ in range(len(expected) + 5):
        now = page.evaluate(FOCUS)
        if now is None or (reached and now["text"] == reached[0] and len(reached) > 1):
            break
        assert now["ring"], f"{where}: no visible focus on {now}"
        width = page.viewport_size["width"]
        assert now["left"] >= 0 and now["right"] <= width + 1, f"{where}: {now} off screen"
        reached.append(now["text"])
        if len(reached) == len(expected):
            break
        page.keyboard.press("Tab")
    assert reached == expected, f"{where}: Tab order {reached} != {expected}"
    return reached


def tab_to(page: Page, text: str) -> None:
    for _ in range(80):
        page.keyboard.press("Tab")
        now = page.evaluate(FOCUS)
        if now and now["text"] == text:
            return
    raise AssertionError(f"Tab never reached {text!r}")


@pytest.fixture
def server(live_server_factory):
    # An upstream that is never contacted: hits stay pending, so /mine-data lists them.
    live = live_server_factory(MATOMO_URL="http://127.0.0.1:9/")

    # Pages that fail on purpose, for the error pages nothing else reaches from a browser.
    @live.app.get("/test-error/<int:status>")
    def fail(status: int):
        if status == 429:
            raise TooManyRequests(retry_after=30)
        abort(status)

    return live


@pytest.mark.parametrize("lang", ["nb", "nn", "en"])
def test_every_visitor_page_in_each_language(server, visit_factory, lang):
    t = TEXTS[lang]
    # A browser that asks for another language: ?lang= and the decision must win over it.
    visit = visit_factory(server, locale="de-DE")
    page = visit.page

    # The statement, with the banner of a first visit, both layers.
    page.goto(f"/personvern?lang={lang}")
    expect(page.get_by_role("heading", level=1)).to_have_text(t["statement"])
    dialog = page.get_by_role("dialog")
    expect(dialog).to_have_attribute("lang", lang)
    dialog.evaluate("e => Promise.all(e.getAnimations().map(a => a.finished))")
    widths(page, "/personvern with the banner")
    dialog.get_by_role("button", name=t["customise"]).click()
    expect(dialog).to_contain_text(t["legal_basis"])
    shown = dialog.inner_text()
    widths(page, "/personvern with the banner's second layer")
    links = {a.inner_text(): a.get_attribute("href") for a in dialog.get_by_role("link").all()}
    assert all(href.endswith(f"?lang={lang}") for href in links.values()), links
    with page.expect_response(lambda r: r.url.endswith("/api/consent")):
        dialog.get_by_role("button", name=t["accept"]).click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    widths(page, "/personvern")
    keyboard(page, "/personvern")

    # A page view for the gateway, so /mine-data has an item to list.
    with page.expect_response(lambda r: "/matomo.php" in r.url):
        page.goto(f"/demo?lang={lang}")
    [row] = server.rows()
    assert row["lang"] == lang

    # /mine-data: reached from the banner's own link, in the banner's language.
    page.goto(links[next(k for k in links if k != t["statement"])])
    expect(page.get_by_role("heading", level=1)).to_have_text(t["my_data"])
    expect(page.locator(".gateway-item")).to_have_count(1)
    widths(page, "/mine-data")
    keyboard(page, "/mine-data")
    # Without ?lang=, the visitor's decided language wins over the browser's.
    page.goto("/mine-data")
    expect(page.locator("html")).to_have_attribute("lang", lang)

    # The receipt lists exactly what the banner's second layer showed.
    page.goto(f"/receipt/{row['consent_id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(t["receipt"])
    for category in page.locator("[data-category] dd[lang]").all():
        assert category.inner_text() in shown
    widths(page, "/receipt")
    keyboard(page, "/receipt")

    # Erasure with the keyboard alone: /mine-data, its confirmation, the erasure.
    page.goto(f"/mine-data?lang={lang}")
    tab_to(page, t["erase_link"])
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(t["confirm_title"])
    widths(page, "/mine-data/slett")
    keyboard(page, "/mine-data/slett")
    tab_to(page, t["confirm"])
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(t["erased"])
    assert server.rows()[0]["consent_id"] is None
    assert not [c for c in visit.context.cookies() if re.match(r"consent|_pk_|_fb", c["name"])]
    widths(page, "the erasure's result")
    keyboard(page, "the erasure's result")

    # Error pages: an unknown receipt, and every status a visitor may meet.
    response = page.goto(f"/receipt/{row['consent_id']}?lang={lang}")
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text(t["not_found"])
    for status in ERRORS:
        response = page.goto(f"/test-error/{status}?lang={lang}")
        assert response.status == status
        expect(page.locator("html")).to_have_attribute("lang", lang)
        widths(page, f"error {status}")
    keyboard(page, "error 503")
    # The error statuses are logged as failed loads; nothing else went wrong in the page.
    assert [e for e in visit.console_errors if not e.startswith("Failed to load resource")] == []
