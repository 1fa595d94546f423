"""The privacy page, receipt and /mine-data in real Chromium (issue 8 acceptance 1 and 5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def axe_violations(page: Page) -> tuple[int, str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return results.violations_count, results.generate_report()


def is_decision(response) -> bool:
    """A decision written: POST, or DELETE when everything granted is switched off."""
    return response.url.endswith("/api/consent") and response.request.method in ("POST", "DELETE")


def save_in_widget(page: Page, **switches: bool) -> None:
    """Set the widget's switches by name and save, waiting for the decision to be recorded."""
    widget = page.locator("[data-consent-preferences]")
    for name, on in switches.items():
        widget.get_by_role("switch", name=name).set_checked(on)
    with page.expect_response(is_decision) as response:
        widget.get_by_role("button", name="Lagre valg").click()
    assert response.value.ok
    expect(widget.get_by_role("status")).to_have_text("Valget ditt er lagret.")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_privacy_page_widget_changes_consent_and_axe_finds_nothing(visit_factory, scheme):
    visit = visit_factory(color_scheme=scheme, locale="nb-NO")
    page = visit.page
    page.goto("/personvern")
    expect(page.get_by_role("heading", level=1)).to_have_text("Personvernerklæring")
    widget = page.locator("[data-consent-preferences]")
    expect(widget.get_by_role("switch")).to_have_count(3)
    expect(page.get_by_role("dialog")).to_be_visible()  # a first visit: the banner asks too
    dialog = page.get_by_role("dialog")
    dialog.evaluate("e => Promise.all(e.getAnimations().map(a => a.finished))")
    count, report = axe_violations(page)
    assert count == 0, report

    save_in_widget(page, Statistikk=True)
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert page.evaluate("() => consentmgr.get()") == {"analytics": True, "marketing": False}
    [row] = visit.server.rows()
    assert (row["method"], json.loads(row["choices"])) == (
        "custom",
        {"analytics": True, "marketing": False},
    )
    assert row["page"] == visit.server.url + "/personvern"

    # And back: the same control withdraws.
    save_in_widget(page, Statistikk=False)
    assert [r["method"] for r in visit.server.rows()] == ["custom", "withdraw"]
    count, report = axe_violations(page)
    assert count == 0, report


def test_visitor_changes_choice_opens_receipt_downloads_and_erases(visit_factory):
    visit = visit_factory(locale="nb-NO")
    page = visit.page
    page.goto("/personvern")
    save_in_widget(page, Statistikk=True, Markedsføring=False)
    [row] = visit.server.rows()
    consent_id = row["consent_id"]

    page.get_by_role("link", name="se, laste ned eller slette det vi har lagret").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mine data")
    expect(page.locator("code").first).to_have_text(consent_id)
    count, report = axe_violations(page)
    assert count == 0, report

    # The receipt: what was shown and chosen, with the row's chain hash.
    page.get_by_role("link", name="Samtykkekvittering").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Samtykkekvittering")
    decision = page.locator(".decision")
    expect(decision).to_have_count(1)
    expect(decision).to_contain_text("Tilpasset valg")
    expect(decision).to_contain_text(row["chain_hash"])
    expect(decision.locator("[data-category=analytics]")).to_contain_text("ja, samtykket")
    expect(decision.locator("[data-category=marketing]")).to_contain_text("nei, avslått")
    count, report = axe_violations(page)
    assert count == 0, report
    with page.expect_download() as receipt_download:
        page.get_by_role("link", name="Last ned kvitteringen (JSON)").click()
    receipt = json.loads(Path(receipt_download.value.path()).read_text(encoding="utf-8"))
    assert [d["chain_hash"] for d in receipt["decisions"]] == [row["chain_hash"]]

    # Download everything held.
    page.go_back()
    with page.expect_download() as data_download:
        page.get_by_role("link", name="Last ned dataene mine (JSON)").click()
    assert data_download.value.suggested_filename == "mine-data.json"
    data = json.loads(Path(data_download.value.path()).read_text(encoding="utf-8"))
    assert data["consent_id"] == consent_id
    assert [d["choices"] for d in data["decisions"]] == [{"analytics": True, "marketing": False}]

    # Erase: a confirmation first, then a real form post with its token, from our own origin.
    page.get_by_role("link", name="Slett dataene mine …").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Vil du slette dataene dine?")
    assert visit.server.rows()[0]["consent_id"] == consent_id, "nothing erased yet"
    page.get_by_role("button", name="Ja, slett dataene mine").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dataene dine er slettet")
    assert "consent" not in [c["name"] for c in visit.context.cookies()]
    [row] = visit.server.rows()
    assert row["consent_id"] is None and row["page"] is None and row["erased_at"]
    count, report = axe_violations(page)
    assert count == 0, report

    page.goto("/mine-data")
    expect(page.get_by_text("Vi har ingen data knyttet til denne nettleseren.")).to_be_visible()
    assert page.goto(f"/receipt/{consent_id}").status == 404


def test_two_quick_saves_are_one_visitor_deciding_twice(visit_factory):
    """The second waits for the first's answer, so it carries the cookie that answer set."""
    visit = visit_factory(locale="nb-NO")
    page = visit.page
    held = []
    page.route(
        "**/api/consent",
        lambda route: held.append(route) if route.request.method == "POST" else route.fallback(),
    )
    page.goto("/personvern")
    widget = page.locator("[data-consent-preferences]")
    widget.get_by_role("switch", name="Statistikk").set_checked(True)
    widget.get_by_role("button", name="Lagre valg").click()
    widget.get_by_role("switch", name="Markedsføring").set_checked(True)
    widget.get_by_role("button", name="Lagre valg").click()
    page.wait_for_function("() => true")  # let the second click's handler run
    assert len(held) == 1, "the second decision waits for the first's answer"
    page.unroute("**/api/consent")
    held[0].fallback()
    expect(widget.get_by_role("status")).to_have_text("Valget ditt er lagret.")
    page.wait_for_function("() => consentmgr.get()?.marketing === true")
    first, second = visit.server.rows()
    assert first["consent_id"] == second["consent_id"]
