"""The banner in real Chromium against the app on a loopback port (issue 4 acceptance).

Every page here is the demo site, which embeds /consent.js as a customer
would and is served under the app's strict CSP (inline scripts only with the
per-request nonce), so these tests also prove the banner works under it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from browser import Visit
from playwright.sync_api import Page, expect
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from consentmgr.consent import cookie as consent_cookie
from consentmgr.consent.cookie import Consent

pytestmark = pytest.mark.browser

NONE = {"analytics": False, "marketing": False}
BOTH = {"analytics": True, "marketing": True}
ALL_SCRIPTS = ["analytics:external", "analytics:inline", "marketing:external", "marketing:inline"]

# What has keyboard focus, looking through the banner's shadow roots.
FOCUSED = """() => {
  let e = document.activeElement;
  while (e && e.shadowRoot && e.shadowRoot.activeElement) e = e.shadowRoot.activeElement;
  if (!e || e === document.body) return "body";
  const role = e.getAttribute("role");
  if (role === "dialog") return "dialog";
  if (role === "switch") return "switch:" + e.name;
  return e.tagName.toLowerCase() + ":" + e.textContent.trim();
}"""

# Sum of layout-shift scores so far (buffered entries arrive before two frames pass).
LAYOUT_SHIFT = """() => new Promise((resolve) => {
  let sum = 0;
  new PerformanceObserver((list) => list.getEntries().forEach((e) => (sum += e.value)))
    .observe({ type: "layout-shift", buffered: true });
  requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(() => resolve(sum), 50)));
})"""


def focused(page: Page) -> str:
    return page.evaluate(FOCUSED)


def tab_order(page: Page, presses: int) -> list[str]:
    """Press Tab ``presses`` times; what had focus after each press."""
    order = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        order.append(focused(page))
    return order


def is_post(response) -> bool:
    return response.url.endswith("/api/consent") and response.request.method == "POST"


def is_delete(response) -> bool:
    return response.url.endswith("/api/consent") and response.request.method == "DELETE"


def ran(page: Page) -> list[str] | None:
    return page.evaluate("() => window.ran ?? null")


def wait_ran(page: Page, count: int) -> list[str]:
    page.wait_for_function(f"() => (window.ran || []).length >= {count}")
    return ran(page)


def cookie_names(visit: Visit) -> list[str]:
    return sorted(c["name"] for c in visit.context.cookies())


def open_banner(page: Page, path: str = "/demo"):
    page.goto(path)
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    # Let the slide-in finish, so geometry and contrast are measured at rest.
    dialog.evaluate("e => Promise.all(e.getAnimations().map(a => a.finished))")
    return dialog


def record_changes(page: Page) -> None:
    page.evaluate(
        """() => {
          window.changes = [];
          document.addEventListener("consent:change", (e) => changes.push(e.detail));
          window.apiChanges = [];
          consentmgr.onChange((c) => apiChanges.push(c));
        }"""
    )


def test_first_visit_shows_three_equal_buttons_and_stays_on_the_apps_origin(visit: Visit):
    page = visit.page
    dialog = open_banner(page)
    expect(dialog).to_have_accessible_name("Informasjonskapsler")
    expect(dialog).to_contain_text("Ansettr bruker nødvendige informasjonskapsler")
    buttons = dialog.get_by_role("button")
    expect(buttons).to_have_text(["Godta alle", "Avvis alle", "Tilpass"])
    boxes = [b.bounding_box() for b in buttons.all()]
    assert len({(round(b["width"], 1), round(b["height"], 1)) for b in boxes}) == 1, boxes
    assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"], "in the order Godta, Avvis, Tilpass"
    assert boxes[0]["height"] >= 24 and boxes[0]["width"] >= 24
    looks = [
        b.evaluate(
            """e => { const s = getComputedStyle(e);
                return [s.backgroundColor, s.color, s.fontWeight, s.fontSize, s.borderColor]; }"""
        )
        for b in buttons.all()
    ]
    assert looks[0] == looks[1] == looks[2], "same colour and weight for every choice"
    privacy = dialog.get_by_role("link", name="Personvernerklæring")
    assert privacy.get_attribute("href") == visit.server.url + "/personvern?lang=nb"

    # Nothing blocked has run or been fetched, and the page stays usable (no wall).
    assert ran(page) is None
    assert page.locator("iframe").get_attribute("src") is None
    assert not [u for u in visit.requests if "/static/js/demo/" in u or "/demo/embed" in u]
    page.get_by_role("heading", name="Finn neste jobb med Ansettr").click()
    assert not visit.foreign_requests(), visit.foreign_requests()
    assert visit.api_requests() == [visit.server.url + "/api/consent"]
    assert visit.console_errors == []
    assert visit.server.rows() == [], "showing the banner writes nothing"


def test_reject_all_runs_nothing_and_is_remembered_without_a_request(visit: Visit):
    page = visit.page
    dialog = open_banner(page)
    with page.expect_response(is_post) as response:
        dialog.get_by_role("button", name="Avvis alle").click()
    assert response.value.status == 201
    expect(page.get_by_role("dialog")).to_have_count(0)
    [row] = visit.server.rows()
    assert row["method"] == "reject_all"
    assert json.loads(row["choices"]) == NONE
    assert row["lang"] == "nb"
    assert row["page"] == visit.server.url + "/demo"
    assert ran(page) is None
    assert cookie_names(visit) == ["consent"]

    visit.requests.clear()
    page.reload()
    assert page.evaluate("() => consentmgr.get()") == NONE, "known from the cookie at once"
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert visit.api_requests() == []
    assert ran(page) is None
    assert not [u for u in visit.requests if "/static/js/demo/" in u]
    assert not visit.foreign_requests()


def test_accept_all_runs_every_blocked_script_in_order_and_fires_the_event(visit: Visit):
    page = visit.page
    dialog = open_banner(page)
    record_changes(page)
    with page.expect_response(is_post) as response:
        dialog.get_by_role("button", name="Godta alle").click()
    assert response.value.status == 201
    assert wait_ran(page, 4) == ALL_SCRIPTS
    assert page.evaluate("() => changes") == [BOTH]
    assert page.evaluate("() => apiChanges") == [BOTH]
    assert page.evaluate("() => consentmgr.get()") == BOTH
    [row] = visit.server.rows()
    assert row["method"] == "accept_all" and json.loads(row["choices"]) == BOTH
    expect(page.frame_locator("iframe").locator("#embedded")).to_have_text("Ansettr: annonsefilm")
    assert {"_pk_id.1.abcd", "_fbp"} <= set(cookie_names(visit))
    assert visit.console_errors == [], "inline scripts ran under the CSP with its nonce"

    visit.requests.clear()
    page.reload()
    assert wait_ran(page, 4) == ALL_SCRIPTS
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert visit.api_requests() == []


def test_customise_with_analytics_only(visit: Visit):
    page = visit.page
    open_banner(page).get_by_role("button", name="Tilpass").click()
    dialog = page.get_by_role("dialog", name="Velg hva du samtykker til")
    expect(dialog.get_by_role("switch")).to_have_count(3)
    necessary = dialog.get_by_role("switch", name="Nødvendige (alltid på)")
    expect(necessary).to_be_checked()
    expect(necessary).to_be_disabled()
    analytics = dialog.get_by_role("switch", name="Statistikk")
    marketing = dialog.get_by_role("switch", name="Markedsføring")
    expect(analytics).not_to_be_checked()
    expect(marketing).not_to_be_checked()
    expect(dialog).to_contain_text("Leverandører: Matomo")
    expect(dialog).to_contain_text("Lagringstid: Informasjonskapselen _pk_id lagres i 13 måneder")
    expect(dialog).to_contain_text(
        "Rettslig grunnlag: Ditt samtykke (personvernforordningen artikkel 6 nr. 1 bokstav a)."
    )
    expect(dialog).to_contain_text("Rettslig grunnlag: Berettiget interesse")
    expect(dialog.get_by_role("link", name="Se og slett dine data")).to_have_attribute(
        "href", visit.server.url + "/mine-data?lang=nb"
    )
    expect(dialog.get_by_role("link", name="Personvernerklæring")).to_have_attribute(
        "href", visit.server.url + "/personvern?lang=nb"
    )

    controls = dialog.locator("button, input, a").all()
    assert len(controls) == 9
    for control in controls:
        box = control.bounding_box()
        assert box["width"] >= 24 and box["height"] >= 24, "target size (WCAG 2.5.8)"

    analytics.check()
    with page.expect_response(is_post) as response:
        dialog.get_by_role("button", name="Lagre valg").click()
    assert response.value.status == 201
    [row] = visit.server.rows()
    assert row["method"] == "custom"
    assert json.loads(row["choices"]) == {"analytics": True, "marketing": False}
    assert wait_ran(page, 2) == ["analytics:external", "analytics:inline"]
    assert not [u for u in visit.requests if "marketing.js" in u or "/demo/embed" in u]
    assert "_fbp" not in cookie_names(visit)

    # Opening the preferences again shows the choice just made.
    page.get_by_role("link", name="Innstillinger for informasjonskapsler").click()
    expect(dialog.get_by_role("switch", name="Statistikk")).to_be_checked()
    expect(dialog.get_by_role("switch", name="Markedsføring")).not_to_be_checked()


def test_withdraw_through_data_consent_open_deletes_cookies(visit: Visit):
    page = visit.page
    open_banner(page).get_by_role("button", name="Godta alle").click()
    wait_ran(page, 4)
    visit.context.add_cookies(
        [
            {"name": "_pk_ses.1.abcd", "value": "1", "domain": "127.0.0.1", "path": "/demo"},
            {"name": "_fbc", "value": "fb.1.1.x", "domain": "127.0.0.1", "path": "/"},
            {"name": "site_pref", "value": "keep", "domain": "127.0.0.1", "path": "/"},
        ]
    )
    names = cookie_names(visit)
    assert names.count("_pk_ses.1.abcd") == 2 and {"_pk_id.1.abcd", "_fbp", "_fbc"} <= set(names)
    record_changes(page)

    opener = page.get_by_role("link", name="Innstillinger for informasjonskapsler")
    opener.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Velg hva du samtykker til")
    expect(dialog.get_by_role("switch", name="Statistikk")).to_be_checked()
    expect(dialog.get_by_role("switch", name="Markedsføring")).to_be_checked()
    with page.expect_response(is_delete) as response:
        dialog.get_by_role("button", name="Avvis alle").click()
    assert response.value.status == 200
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert [r["method"] for r in visit.server.rows()] == ["accept_all", "withdraw"]
    assert json.loads(visit.server.rows()[-1]["choices"]) == NONE
    assert cookie_names(visit) == ["consent", "site_pref"]
    assert page.evaluate("() => changes") == [NONE]
    assert focused(page) == "a:Innstillinger for informasjonskapsler", "focus returns"


def test_withdraw_by_switching_everything_off(visit: Visit):
    page = visit.page
    open_banner(page).get_by_role("button", name="Godta alle").click()
    wait_ran(page, 4)
    page.evaluate("() => consentmgr.open()")
    dialog = page.get_by_role("dialog", name="Velg hva du samtykker til")
    dialog.get_by_role("switch", name="Statistikk").uncheck()
    dialog.get_by_role("switch", name="Markedsføring").uncheck()
    with page.expect_response(is_delete):
        dialog.get_by_role("button", name="Lagre valg").click()
    assert [r["method"] for r in visit.server.rows()] == ["accept_all", "withdraw"]
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert cookie_names(visit) == ["consent"]


NB_BANNER = ("Informasjonskapsler", "Godta alle|Avvis alle|Tilpass")
NN_BANNER = ("Informasjonskapslar", "Godta alle|Avvis alle|Tilpass")
EN_BANNER = ("Cookies", "Accept all|Reject all|Customise")


@pytest.mark.parametrize(
    "lang, logged, title, buttons, intro",
    [
        ("nn", "nn", *NN_BANNER, "naudsynte"),
        ("en", "en", *EN_BANNER, "necessary"),
        ("no", "nb", *NB_BANNER, "nødvendige"),
        ("en-GB", "en", *EN_BANNER, "necessary"),
    ],
)
def test_page_language(visit: Visit, lang, logged, title, buttons, intro):
    page = visit.page
    dialog = open_banner(page, f"/demo?lang={lang}")
    expect(dialog).to_have_accessible_name(title)
    expect(dialog).to_have_attribute("lang", logged)
    expect(dialog).to_contain_text(intro)
    expect(dialog.get_by_role("button")).to_have_text(buttons.split("|"))
    with page.expect_response(is_post):
        dialog.get_by_role("button").nth(1).click()
    assert visit.server.rows()[0]["lang"] == logged


@pytest.mark.parametrize(
    "locale, expected, title",
    [
        ("nn-NO", "nn", "Vel kva du samtykkjer til"),
        ("en-US", "en", "Choose what you consent to"),
        ("de-DE", "nb", "Velg hva du samtykker til"),
    ],
)
def test_unknown_page_language_falls_back_to_the_browser_then_bokmal(
    visit_factory, locale, expected, title
):
    page = visit_factory(locale=locale).page
    dialog = open_banner(page, "/demo?lang=de")
    expect(dialog).to_have_attribute("lang", expected)
    dialog.get_by_role("button").nth(2).click()
    expect(page.get_by_role("dialog")).to_have_accessible_name(title)


def test_keyboard_only(visit: Visit):
    page = visit.page
    dialog = open_banner(page)
    assert focused(page) == "dialog", "focus moves into the banner when it appears"
    order = tab_order(page, 4)
    assert order == [
        "a:Personvernerklæring",
        "button:Godta alle",
        "button:Avvis alle",
        "button:Tilpass",
    ]
    page.keyboard.press("Tab")
    assert focused(page) not in ("dialog", *order), "Tab moves on out of the banner: no trap"
    page.keyboard.press("Shift+Tab")
    assert focused(page) == "button:Tilpass"

    page.keyboard.press("Enter")
    expect(dialog).to_have_accessible_name("Velg hva du samtykker til")
    assert focused(page) == "dialog"
    order = tab_order(page, 8)
    assert order == [
        "button:Lukk",
        "switch:analytics",
        "switch:marketing",
        "a:Personvernerklæring",
        "a:Se og slett dine data",
        "button:Godta alle",
        "button:Avvis alle",
        "button:Lagre valg",
    ]
    for _ in range(6):
        page.keyboard.press("Shift+Tab")
    assert focused(page) == "switch:analytics"
    page.keyboard.press("Space")
    expect(dialog.get_by_role("switch", name="Statistikk")).to_be_checked()

    page.keyboard.press("Escape")
    expect(dialog).to_have_accessible_name("Informasjonskapsler")
    assert focused(page) == "dialog", "Escape closes the second layer; the question stays"
    assert visit.server.rows() == []
    for _ in range(3):
        page.keyboard.press("Tab")
    assert focused(page) == "button:Avvis alle"
    with page.expect_response(is_post):
        page.keyboard.press("Space")
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert focused(page) == "body", "focus returns to where it was before the banner"
    assert visit.server.rows()[0]["method"] == "reject_all"

    # The footer's data-consent-open link is reachable by Tab and reopens the choices.
    for _ in range(40):
        page.keyboard.press("Tab")
        if focused(page) == "a:Innstillinger for informasjonskapsler":
            break
    assert focused(page) == "a:Innstillinger for informasjonskapsler"
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog", name="Velg hva du samtykker til")).to_be_visible()
    assert focused(page) == "dialog"
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert focused(page) == "a:Innstillinger for informasjonskapsler"


def test_banner_does_not_take_focus_from_a_visitor_busy_on_the_page(visit: Visit):
    page = visit.page
    held = []
    page.route("**/api/consent", lambda route: held.append(route))
    with page.expect_request(lambda r: r.url.endswith("/api/consent")):
        page.goto("/demo")
    job = page.get_by_role("link", name="Søk på stillingen: Selger")
    job.focus()
    while not held:
        page.wait_for_timeout(20)
    held[0].continue_()
    expect(page.get_by_role("dialog")).to_be_visible()
    assert focused(page) == "a:Søk på stillingen"
    page.get_by_role("dialog").get_by_role("button", name="Tilpass").click()
    assert focused(page) == "dialog", "an explicit open still moves focus in"


def axe_violations(page: Page) -> tuple[int, str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return results.violations_count, results.generate_report()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_violations(visit_factory, scheme):
    page = visit_factory(color_scheme=scheme).page
    dialog = open_banner(page)
    count, report = axe_violations(page)
    assert count == 0, report

    dialog.get_by_role("button", name="Tilpass").click()
    expect(dialog).to_have_accessible_name("Velg hva du samtykker til")
    dialog.get_by_role("switch", name="Statistikk").check()
    count, report = axe_violations(page)
    assert count == 0, report

    page.goto("/demo/personvern")
    expect(page.get_by_role("dialog")).to_be_visible()
    expect(page.locator("[data-consent-preferences]").get_by_role("switch")).to_have_count(3)
    count, report = axe_violations(page)
    assert count == 0, report


# WCAG contrast of every text element in the banner's and widget's shadow roots
# against the nearest opaque background inside them. axe cannot judge text on
# a fixed layer over the page ("incomplete"), so the tests measure it here.
CONTRASTS = """() => {
  const channel = (v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  const lum = (c) => {
    const [r, g, b] = c.match(/[\\d.]+/g).map(Number).map(channel);
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const opaque = (c) => c !== "transparent" && !/rgba\\(.*, 0\\)$/.test(c);
  const background = (e) => {
    for (; e; e = e.parentElement) {
      const c = getComputedStyle(e).backgroundColor;
      if (opaque(c)) return c;
    }
    return null;
  };
  const hosts = [...document.querySelectorAll("*")].filter((e) => e.shadowRoot);
  const found = [];
  for (const host of hosts) {
    for (const e of host.shadowRoot.querySelectorAll("h2, p, label, a, button, span")) {
      if (!e.textContent.trim() || !e.checkVisibility()) continue;
      const fg = getComputedStyle(e).color, bg = background(e);
      const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
      const ratio = Math.round(((hi + 0.05) / (lo + 0.05)) * 100) / 100;
      found.push([ratio, e.textContent.trim().slice(0, 30)]);
    }
  }
  return found;
}"""


def lowest_contrast(page: Page) -> tuple[float, str]:
    found = page.evaluate(CONTRASTS)
    assert found, "no text found in the banner"
    return min(found)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_contrast_is_at_least_4_5(visit_factory, scheme):
    page = visit_factory(color_scheme=scheme).page
    dialog = open_banner(page)
    assert lowest_contrast(page)[0] >= 4.5, lowest_contrast(page)
    dialog.get_by_role("button", name="Tilpass").click()
    expect(dialog.get_by_role("switch")).to_have_count(3)
    assert lowest_contrast(page)[0] >= 4.5, lowest_contrast(page)
    page.goto("/demo/personvern")
    expect(page.locator("[data-consent-preferences]").get_by_role("switch")).to_have_count(3)
    assert lowest_contrast(page)[0] >= 4.5, lowest_contrast(page)

    # The measurement catches faded text, so the figures above mean something.
    page.evaluate(
        """() => {
          const root = document.querySelector("[data-consent-preferences]").shadowRoot;
          const faded = new CSSStyleSheet();
          faded.replaceSync("p { color: #777 }");
          root.adoptedStyleSheets = [...root.adoptedStyleSheets, faded];
        }"""
    )
    assert lowest_contrast(page)[0] < 4.5


def test_hostile_page_css_cannot_break_the_banner(visit: Visit):
    page = visit.page
    hostile = (
        "<style>* { all: unset } button { display: none } "
        "div { display: none !important; color: red !important }</style></head>"
    )

    def with_hostile_css(route):
        response = route.fetch()
        route.fulfill(response=response, body=response.text().replace("</head>", hostile))

    page.route("**/demo", with_hostile_css)
    dialog = open_banner(page)
    footer_display = "() => getComputedStyle(document.querySelector('footer')).display"
    assert page.evaluate(footer_display) == "inline", "the hostile CSS is in force"
    buttons = dialog.get_by_role("button")
    expect(buttons).to_have_text(["Godta alle", "Avvis alle", "Tilpass"])
    for button in buttons.all():
        expect(button).to_be_visible()
    boxes = [b.bounding_box() for b in buttons.all()]
    assert len({(round(b["width"], 1), round(b["height"], 1)) for b in boxes}) == 1
    assert boxes[0]["height"] >= 24
    color = buttons.first.evaluate("e => getComputedStyle(e).color")
    assert color == "rgb(255, 255, 255)"
    with page.expect_response(is_post) as response:
        buttons.first.click()
    assert response.value.status == 201
    assert wait_ran(page, 4) == ALL_SCRIPTS


@pytest.mark.parametrize("signal", ["Sec-GPC header", "navigator.globalPrivacyControl"])
def test_global_privacy_control_is_a_refusal_without_a_banner(visit_factory, signal):
    if signal == "Sec-GPC header":
        visit = visit_factory(extra_http_headers={"Sec-GPC": "1"})
    else:
        visit = visit_factory()
        visit.context.add_init_script(
            "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})"
        )
    page = visit.page
    with page.expect_response(is_post) as response:
        page.goto("/demo")
    assert response.value.status == 201
    [row] = visit.server.rows()
    assert row["method"] == "gpc" and json.loads(row["choices"]) == NONE
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert page.evaluate("() => consentmgr.get()") == NONE
    assert ran(page) is None
    # Only the header needs the server to tell (GET, then POST); the script sees the property.
    assert len(visit.api_requests()) == (2 if signal == "Sec-GPC header" else 1)

    visit.requests.clear()
    page.reload()
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert visit.api_requests() == []
    assert len(visit.server.rows()) == 1

    # The visitor can still opt in later through the preferences.
    page.evaluate("() => consentmgr.open()")
    dialog = page.get_by_role("dialog", name="Velg hva du samtykker til")
    dialog.get_by_role("switch", name="Statistikk").check()
    with page.expect_response(is_post):
        dialog.get_by_role("button", name="Lagre valg").click()
    assert wait_ran(page, 2) == ["analytics:external", "analytics:inline"]


def test_preferences_widget_reflects_and_changes_the_choice(visit: Visit):
    page = visit.page
    page.goto("/demo/personvern")
    widget = page.locator("[data-consent-preferences]")
    expect(widget.get_by_role("switch")).to_have_count(3)
    expect(widget.get_by_role("switch", name="Statistikk")).not_to_be_checked()
    expect(widget.get_by_role("switch", name="Nødvendige (Alltid på)")).to_be_disabled()
    expect(page.get_by_role("dialog")).to_be_visible()

    widget.get_by_role("switch", name="Markedsføring").check()
    save = widget.get_by_role("button", name="Lagre valg")
    save.focus()
    with page.expect_response(is_post):
        page.keyboard.press("Enter")
    expect(widget.get_by_role("status")).to_have_text("Valget ditt er lagret.")
    assert focused(page) == "button:Lagre valg", "saving keeps focus in the widget"
    expect(page.get_by_role("dialog")).to_have_count(0)
    [row] = visit.server.rows()
    assert row["method"] == "custom"
    assert json.loads(row["choices"]) == {"analytics": False, "marketing": True}
    assert row["page"] == visit.server.url + "/demo/personvern"

    # The banner's choice updates the widget too.
    page.evaluate("() => consentmgr.open()")
    page.get_by_role("dialog").get_by_role("button", name="Godta alle").click()
    expect(widget.get_by_role("switch", name="Statistikk")).to_be_checked()

    visit.requests.clear()
    page.reload()
    expect(widget.get_by_role("switch", name="Statistikk")).to_be_checked()
    expect(widget.get_by_role("switch", name="Markedsføring")).to_be_checked()
    assert visit.api_requests() == []


def test_changed_policy_version_asks_again(visit: Visit):
    app = visit.server.app
    old = Consent("returning-visitor-id", "000000000000", frozenset({"analytics"}), _now())
    visit.context.add_cookies(
        [
            {
                "name": "consent",
                "value": consent_cookie.encode(app, old),
                "domain": "127.0.0.1",
                "path": "/",
            }
        ]
    )
    page = visit.page
    dialog = open_banner(page)
    assert ran(page) is None, "consent to an older policy grants nothing"
    assert visit.api_requests() == [visit.server.url + "/api/consent"]
    with page.expect_response(is_post):
        dialog.get_by_role("button", name="Avvis alle").click()
    [row] = visit.server.rows()
    assert row["consent_id"] == "returning-visitor-id" and row["method"] == "reject_all"


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC).replace(microsecond=0)


def test_reopen_button_when_configured(live_server_factory, visit_factory):
    server = live_server_factory(SHOW_REOPEN_BUTTON=True)
    visit = visit_factory(server)
    page = visit.page
    reopen = page.get_by_role("button", name="Personvern")
    open_banner(page).get_by_role("button", name="Avvis alle").click()
    expect(reopen).to_be_visible()
    expect(reopen).to_have_attribute("lang", "nb")
    reopen.click()
    expect(page.get_by_role("dialog", name="Velg hva du samtykker til")).to_be_visible()
    page.keyboard.press("Escape")
    assert focused(page) == "button:Personvern"


def test_no_reopen_button_by_default(visit: Visit):
    page = visit.page
    open_banner(page).get_by_role("button", name="Avvis alle").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("button", name="Personvern")).to_have_count(0)


def test_narrow_screen_no_layout_shift_and_reduced_motion(visit_factory):
    page = visit_factory(viewport={"width": 320, "height": 640}, reduced_motion="reduce").page
    dialog = open_banner(page)
    box = dialog.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 320
    assert box["y"] >= 0 and box["y"] + box["height"] <= 640
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 320
    boxes = [b.bounding_box() for b in dialog.get_by_role("button").all()]
    assert len({(round(b["width"], 1), round(b["height"], 1)) for b in boxes}) == 1
    assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"], "side by side, even at 320 px"
    assert len({b["y"] for b in boxes}) == 1
    assert all(b["y"] + b["height"] <= 640 for b in boxes)
    # The first layer is as small as its text allows: the page stays mostly visible.
    assert box["height"] <= 0.55 * 640, box
    assert dialog.evaluate("e => getComputedStyle(e).animationName") == "none"
    assert dialog.evaluate("e => getComputedStyle(e).position") == "fixed"

    assert page.evaluate(LAYOUT_SHIFT) == 0
    dialog.get_by_role("button", name="Tilpass").click()
    # The second layer's text scrolls; its buttons stay in view below it.
    save = dialog.get_by_role("button", name="Lagre valg")
    before = save.bounding_box()
    assert before["y"] >= 0 and before["y"] + before["height"] <= 640
    text = dialog.locator(".s")
    assert text.evaluate("e => e.scrollHeight > e.clientHeight"), "more text than fits"
    text.evaluate("e => e.scrollTo(0, e.scrollHeight)")
    assert save.bounding_box() == before
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 320
    dialog.get_by_role("button", name="Lukk").click()
    assert page.evaluate(LAYOUT_SHIFT) == 0
    # The measurement does see a real shift, so the zeros above mean something.
    page.evaluate(
        """() => document.querySelector("main").prepend(
             Object.assign(document.createElement("div"), {style: "height:300px"}))"""
    )
    assert page.evaluate(LAYOUT_SHIFT) > 0


def test_banner_slides_in_unless_motion_is_reduced(visit: Visit):
    dialog = open_banner(visit.page)
    assert dialog.evaluate("e => getComputedStyle(e).animationName") != "none"
    # Moving to the second layer swaps the content in place; it does not slide in again.
    dialog.get_by_role("button", name="Tilpass").click()
    expect(dialog).to_have_accessible_name("Velg hva du samtykker til")
    assert dialog.evaluate("e => getComputedStyle(e).animationName") == "none"
    dialog.get_by_role("button", name="Lukk").click()
    expect(dialog).to_have_accessible_name("Informasjonskapsler")
    assert dialog.evaluate("e => getComputedStyle(e).animationName") == "none"


@dataclass
class CustomerSite:
    """One HTML page served from its own loopback server: a customer's site on another origin.

    A real server, not a routed response, so Chromium sees a page in the loopback
    address space loading from another loopback origin, as in production.
    """

    url: str = ""
    html: str = ""

    def __call__(self, environ, start_response):
        return Response(self.html, mimetype="text/html")(environ, start_response)


@pytest.fixture
def customer_site() -> Iterator[CustomerSite]:
    site = CustomerSite()
    server = make_server("127.0.0.1", 0, site, threaded=True)
    site.url = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield site
    server.shutdown()
    server.server_close()


def test_script_on_another_origin_talks_to_its_own_server(
    live_server_factory, visit_factory, customer_site: CustomerSite
):
    service = live_server_factory(SITE_ORIGINS=[customer_site.url])
    customer_site.html = f"""<!doctype html><html lang="en"><head><title>Shop</title></head>
      <body><main><h1>Shop</h1></main>
      <script type="text/plain" data-category="analytics">window.ran = ["shop:analytics"]</script>
      <script src="{service.url}/consent.js" defer></script></body></html>"""
    shop = customer_site.url + "/shop"
    visit = visit_factory(service)
    page = visit.page
    dialog = open_banner(page, shop)
    assert visit.api_requests() == [service.url + "/api/consent"]
    with page.expect_response(is_post) as response:
        dialog.get_by_role("button", name="Accept all").click()
    assert response.value.status == 201
    assert response.value.url == service.url + "/api/consent"
    assert response.value.headers["access-control-allow-origin"] == customer_site.url
    assert wait_ran(page, 1) == ["shop:analytics"]
    [row] = service.rows()
    assert row["page"] == shop and row["lang"] == "en"

    visit.requests.clear()
    page.reload()
    assert wait_ran(page, 1) == ["shop:analytics"]
    assert visit.api_requests() == []
    assert not [u for u in visit.requests if not u.startswith((customer_site.url, service.url))]


def test_a_withdrawal_that_cannot_be_recorded_still_stops_tracking_on_the_next_page(
    visit: Visit,
):
    page = visit.page
    open_banner(page).get_by_role("button", name="Godta alle").click()
    wait_ran(page, 4)
    page.route(
        "**/api/consent",
        lambda route: (
            route.fulfill(status=429, json={"error": "too many"})
            if route.request.method == "DELETE"
            else route.fallback()
        ),
    )
    page.get_by_role("link", name="Innstillinger for informasjonskapsler").click()
    with page.expect_response(is_delete):
        page.get_by_role("dialog").get_by_role("button", name="Avvis alle").click()
    expect(page.get_by_role("dialog")).to_have_count(0)  # the banner has dealt with the answer
    assert [r["method"] for r in visit.server.rows()] == ["accept_all"]
    assert page.evaluate("() => consentmgr.get()") == NONE
    assert cookie_names(visit) == [], "the cookie granting what was refused is gone too"

    page.unroute("**/api/consent")
    visit.requests.clear()
    open_banner(page)  # asked again, not granted again
    assert ran(page) is None
    assert not [u for u in visit.requests if "/matomo.php" in u or "/fb/events" in u]


def test_the_tracker_writes_no_visitor_cookie_after_a_withdrawal(visit: Visit):
    page = visit.page
    open_banner(page).get_by_role("button", name="Godta alle").click()
    page.wait_for_function("() => window.Matomo")
    page.get_by_role("link", name="Innstillinger for informasjonskapsler").click()
    with page.expect_response(is_delete):
        page.get_by_role("dialog").get_by_role("button", name="Avvis alle").click()
    expect(page.get_by_role("dialog")).to_have_count(0)  # the banner has dealt with the answer
    assert cookie_names(visit) == ["consent"]
    page.evaluate("() => _paq.push([function () { this.getVisitorId(); }])")
    assert cookie_names(visit) == ["consent"]


def test_a_page_element_named_consentmgr_does_not_stop_the_banner(visit: Visit):
    def with_named_element(route):
        html = route.fetch().text().replace("<body>", '<body><div id="consentmgr"></div>', 1)
        route.fulfill(body=html, content_type="text/html")

    visit.page.route("**/demo", with_named_element)
    dialog = open_banner(visit.page)
    dialog.get_by_role("button", name="Godta alle").click()
    wait_ran(visit.page, 4)
    assert visit.console_errors == []


def test_the_banner_lends_no_nonce_to_a_blocked_script_without_one(
    live_server_factory, visit_factory, customer_site: CustomerSite
):
    """An injected placeholder must not borrow the banner's nonce past the page's CSP."""
    service = live_server_factory(SITE_ORIGINS=[customer_site.url])
    customer_site.html = f"""<!doctype html><html lang="en"><head><title>Shop</title>
      <meta http-equiv="Content-Security-Policy"
            content="script-src 'nonce-abc123' {service.url}; connect-src {service.url}">
      </head><body><main><h1>Shop</h1></main>
      <script type="text/plain" data-category="necessary">window.injected = 1</script>
      <script type="text/plain" data-category="analytics" nonce="abc123">window.ran = [1]</script>
      <script nonce="abc123" src="{service.url}/consent.js" defer></script></body></html>"""
    visit = visit_factory(service)
    page = visit.page
    open_banner(page, customer_site.url + "/shop").get_by_role("button", name="Accept all").click()
    assert wait_ran(page, 1) == [1], "a placeholder with the page's nonce runs"
    assert page.evaluate("() => window.injected ?? null") is None


def test_nothing_focused_on_the_page_hides_behind_the_open_banner(visit_factory):
    """WCAG 2.4.11: at 320 px (400 % zoom) every tab stop of the page comes clear of it."""
    visit = visit_factory(viewport={"width": 320, "height": 640})
    page = visit.page
    dialog = open_banner(page)
    top = dialog.bounding_box()["y"]
    hidden = []
    for _ in range(40):
        page.keyboard.press("Tab")
        where = page.evaluate(
            """async () => {
              await new Promise((settled) => setTimeout(settled));  // a frame's focus: next task
              const e = document.activeElement;
              if (!e || e === document.body || e.shadowRoot) return null;
              const r = e.getBoundingClientRect();
              return [e.tagName + " " + e.textContent.trim().slice(0, 30), r.bottom];
            }"""
        )
        if where and where[1] > top + 1:
            hidden.append(where)
    assert hidden == []
    dialog.get_by_role("button", name="Avvis alle").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert page.evaluate("() => document.documentElement.style.scrollPaddingBottom") == ""
