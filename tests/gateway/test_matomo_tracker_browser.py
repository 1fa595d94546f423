"""The built-in Matomo tracker in Chromium: loaded only after consent, loud about what it lacks."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PAGE = """<!doctype html>
<html lang="nb"><head><meta charset="utf-8"><title>Sporing</title></head><body>
<script>%s</script>
<script src="/consent.js"></script>
</body></html>
"""
SNIPPET = 'var _paq = window._paq = window._paq || []; _paq.push(["trackPageView"]);'


def open_page(visit, script=SNIPPET):
    html = PAGE % script
    url = f"{visit.server.url}/sporing"
    visit.page.route(url, lambda route: route.fulfill(body=html, content_type="text/html"))
    visit.page.goto(url)
    return visit.page


def tracker_loads(visit):
    return [u for u in visit.requests if u.split("?")[0].endswith("/matomo.js")]


def test_tracker_is_downloaded_only_after_consent(visit):
    page = open_page(visit)
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    assert tracker_loads(visit) == [], "nothing of the tracker before a choice"
    dialog.get_by_role("button", name="Avvis alle").click()
    expect(dialog).to_be_hidden()
    page.reload()
    page.wait_for_function("() => window.consentmgr && window.consentmgr.get()")
    assert tracker_loads(visit) == [], "nor after a refusal"
    assert not [u for u in visit.requests if "/matomo.php" in u]

    page.evaluate("consentmgr.open()")
    dialog.get_by_role("button", name="Godta alle").click()
    page.wait_for_function("() => window.Matomo && typeof _paq.push === 'function'")
    assert len(tracker_loads(visit)) == 1
    page.wait_for_function("() => performance.getEntriesByName(location.origin + '/matomo.php')")
    assert extra_loads(visit) == [], "a page view needs only the tracker"


def test_page_without_paq_never_downloads_the_tracker(visit):
    page = open_page(visit, script="")
    page.get_by_role("dialog").get_by_role("button", name="Godta alle").click()
    expect(page.get_by_role("dialog")).to_be_hidden()
    page.reload()
    page.wait_for_function("() => window.consentmgr && window.consentmgr.get()")
    assert tracker_loads(visit) == []


def test_unsupported_call_warns_naming_it_and_no_effect_calls_are_quiet(visit):
    warnings = []
    visit.page.on("console", lambda m: m.type == "warning" and warnings.append(m.text))
    page = open_page(visit)
    page.get_by_role("dialog").get_by_role("button", name="Godta alle").click()
    page.wait_for_function("() => window.Matomo && typeof _paq.push === 'function'")
    visitor = page.evaluate(
        """() => {
             _paq.push(["requireConsent"], ["setTrackerUrl", "/x.php"], ["setSiteId", 7]);
             _paq.push(["enableJSErrorTracking"]);
             Matomo.getAsyncTracker().enableCrossDomainLinking();
             let id;
             _paq.push([function () { id = this.getVisitorId(); }]);
             return id;
           }"""
    )
    assert len(visitor) == 16 and int(visitor, 16) >= 0
    assert len(warnings) == 2, warnings
    assert "enableJSErrorTracking" in warnings[0] and "enableCrossDomainLinking" in warnings[1]
    assert visit.console_errors == []


def extra_loads(visit):
    return [u for u in visit.requests if u.split("?")[0].endswith("/matomo-extra.js")]


def test_rarer_parts_load_on_their_first_call_and_calls_keep_their_order(visit):
    page = open_page(visit)
    page.evaluate(
        """_paq.push(["addEcommerceItem", "SKU-1", "Annonse", "Jobb", 990],
                     ["trackEcommerceCartUpdate", 990], ["setUserId", "etter-handlekurven"])"""
    )
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Avvis alle").click()
    expect(dialog).to_be_hidden()
    assert extra_loads(visit) == [], "not before consent, even with calls waiting for it"

    page.evaluate("consentmgr.open()")
    dialog.get_by_role("button", name="Godta alle").click()
    user = page.evaluate(
        """() => new Promise((done) => _paq.push([function () { done(this.getUserId()); }]))"""
    )
    assert user == "etter-handlekurven", "calls behind one for matomo-extra.js run once it is there"
    assert len(extra_loads(visit)) == 1
    page.wait_for_function(
        "() => performance.getEntriesByName(location.origin + '/matomo.php').length == 2"
    )  # the page view and the cart update
