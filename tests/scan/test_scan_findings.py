"""The audit's logic without a browser: sites, cookie lines, findings, the report, the history.

Observations are written out the way ``crawl.run`` records them
(``scan_support.clean_site``), so each rule of the findings is tried on
exactly the case it names.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
from helpers import Page
from scan_support import PATTERNS, POLICY, a_pass, a_request, clean_site, cookie

from consentmgr.consent import policy
from consentmgr.scan import cookies, findings, report, sites, store


def kinds(observed):
    return sorted(f["kind"] for f in findings.evaluate(observed, PATTERNS))


def test_a_site_that_keeps_the_policy_has_no_findings():
    assert findings.evaluate(clean_site(), PATTERNS) == []


def test_an_optional_cookie_before_consent_is_one_finding_naming_both_passes():
    observed = clean_site()
    for name in ("undecided", "refused"):
        observed["passes"][name]["cookies"].append(cookie("_pk_id.1.ansettr"))
    (found,) = findings.evaluate(observed, PATTERNS)
    assert found["kind"] == "before_consent"
    assert found["passes"] == ["undecided", "refused"]
    assert "_pk_id.1.ansettr" in found["message"] and "analytics" in found["message"]
    assert "https://ansettr.no/app.js" in found["message"]


def test_an_undeclared_cookie_or_key_is_a_finding_in_any_pass():
    observed = clean_site()
    observed["passes"]["accepted"]["cookies"].append(cookie("_hjSession", by="https://h.io/hj.js"))
    observed["passes"]["accepted"]["storage"].append(
        {
            "kind": "localStorage",
            "origin": "https://ansettr.no",
            "key": "ab-test",
            "party": "first",
            "set_by": [],
        }
    )
    found = findings.evaluate(observed, PATTERNS)
    assert [(f["kind"], f["key"]) for f in found] == [
        ("undeclared", "undeclared:cookie:_hjSession"),
        ("undeclared", "undeclared:localStorage:ab-test"),
    ]
    assert found[0]["passes"] == ["accepted"]
    assert "localStorage key ab-test" in found[1]["message"]


def test_a_declared_storage_key_counts_as_seen_and_as_early_storage():
    observed = clean_site()
    key = {
        "kind": "sessionStorage",
        "origin": "https://ansettr.no",
        "key": "_pk_ses.1.x",
        "party": "first",
        "set_by": [],
    }
    observed["passes"]["undecided"]["storage"].append(key)
    assert kinds(observed) == ["before_consent"]


def test_third_party_requests_before_consent_are_one_finding_per_site():
    observed = clean_site()
    observed["passes"]["undecided"]["requests"] = [
        a_request("https://connect.facebook.net/fbevents.js", "facebook.net"),
        a_request("https://www.facebook.com/tr?id=1", "facebook.com", beacon=True),
    ]
    observed["passes"]["refused"]["requests"] = [
        a_request("https://www.facebook.com/tr?id=1", "facebook.com", beacon=True),
    ]
    found = findings.evaluate(observed, PATTERNS)
    assert [(f["key"], f["passes"]) for f in found] == [
        ("third_party:site:facebook.net", ["undecided"]),
        ("third_party:site:facebook.com", ["undecided", "refused"]),
    ]
    assert "1 like beacons" in found[1]["message"]
    # Requests after Godta alle are what the visitor agreed to.
    assert findings.evaluate(clean_site(), PATTERNS) == []


def test_a_declared_cookie_not_seen_after_accepting_is_stale_unless_conditional():
    observed = clean_site()
    observed["passes"]["accepted"]["cookies"] = [
        c for c in observed["passes"]["accepted"]["cookies"] if c["name"] != "_fbp"
    ]
    (found,) = findings.evaluate(observed, PATTERNS)
    assert found["key"] == "stale:pattern:_fbp" and "marketing" in found["message"]
    # _pk_ref.* and _fbc are declared with a condition and were never seen either: no finding.


def test_no_stale_findings_when_nothing_could_be_accepted():
    observed = clean_site()
    observed["banner"] = {
        "found": False,
        "buttons": {},
        "missing": ["accept_all", "reject_all", "customise"],
        "unequal": [],
    }
    for name in ("refused", "accepted"):
        observed["passes"][name] = a_pass()
    found = findings.evaluate(observed, PATTERNS)
    assert [f["kind"] for f in found] == ["banner_missing"]
    assert "no banner" in found[0]["message"]


def test_a_banner_with_unequal_buttons_is_a_finding():
    observed = clean_site()
    observed["banner"]["buttons"]["reject_all"]["background"] = "rgb(255, 255, 255)"
    observed["banner"]["buttons"]["reject_all"]["width"] = 120
    observed["banner"]["unequal"] = ["width", "background"]
    (found,) = findings.evaluate(observed, PATTERNS)
    assert found["kind"] == "banner_unequal"
    assert found["message"] == "The banner's three buttons differ in width, background."


@pytest.mark.parametrize(
    ("host", "site"),
    [
        ("consent.ansettr.no", "ansettr.no"),
        ("www.bbc.co.uk", "bbc.co.uk"),
        ("connect.facebook.net", "facebook.net"),
        ("user.github.io", "user.github.io"),
        ("localhost", "localhost"),
        ("127.0.0.1", "127.0.0.1"),
        ("::1", "::1"),
    ],
)
def test_registrable_domains(host, site):
    assert sites.registrable_domain(host) == site


def test_registrable_domains_follow_wildcard_and_exception_rules():
    table = sites.parse("// comment\nno\n*.ck\n!www.ck\n")
    assert sites.registrable_domain("a.b.example.ck", table) == "b.example.ck"
    assert sites.registrable_domain("www.ck", table) == "www.ck"
    assert sites.registrable_domain("shop.www.ck", table) == "www.ck"
    assert sites.registrable_domain("a.ansettr.no", table) == "ansettr.no"


NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_cookie_lines_read_like_a_browser_reads_them():
    line = cookies.parse(
        "_ga=GA1.1.1; Max-Age=60; Domain=.Ansettr.no", "https://www.ansettr.no/a/b", NOW
    )
    assert (line.name, line.domain, line.path, line.deletes) == ("_ga", "ansettr.no", "/a", False)
    assert line.expires == datetime(2026, 5, 1, 12, 1, tzinfo=UTC)
    host_only = cookies.parse("x=1; path=/jobs", "https://ansettr.no/", NOW)
    assert (host_only.domain, host_only.path, host_only.expires) == ("ansettr.no", "/jobs", None)
    assert cookies.parse("x=; max-age=0", "https://ansettr.no/", NOW).deletes
    gone = cookies.parse("x=; expires=Thu, 01 Jan 1970 00:00:00 GMT", "https://a.no/", NOW)
    assert gone.deletes
    assert cookies.parse("=nameless", "https://a.no/", NOW) is None


def test_the_report_gives_categories_and_where_each_declaration_was_seen():
    observed = clean_site()
    observed["passes"]["accepted"]["cookies"].append(cookie("_ga"))
    found = findings.evaluate(observed, PATTERNS)
    built = report.build(observed, POLICY, PATTERNS, found)
    assert built["format"] == "consentmgr-scan/1"
    assert built["policy"]["version"] == POLICY.version
    categories = {c["name"]: c["category"] for c in built["passes"]["accepted"]["cookies"]}
    assert categories["_pk_id.1.ansettr"] == "analytics" and categories["_ga"] is None
    declared = {d["pattern"]: d for d in built["declared"]}
    assert declared["consent"]["seen_in"] == ["refused", "accepted"]
    assert declared["_fbc"]["seen_in"] == [] and declared["_fbc"]["when"]
    assert [f["key"] for f in built["findings"]] == ["undeclared:cookie:_ga"]


def test_the_html_report_names_each_finding_with_headings_and_captions():
    observed = clean_site()
    observed["passes"]["undecided"]["cookies"].append(cookie("_ga", by="https://ansettr.no/ga.js"))
    html = report.to_html(
        report.build(observed, POLICY, PATTERNS, findings.evaluate(observed, PATTERNS))
    )
    page = Page(html)
    assert ("h1", "Cookie audit of ansettr.no") in page.headings
    assert [h for t, h in page.headings if t == "h2"] == [
        "Summary",
        "Findings",
        "Banner",
        "Undecided pass",
        "Refused pass",
        "Accepted pass",
        "Declared in the policy",
    ]
    assert "Cookie _ga is not declared in the policy" in page.text
    assert "https://ansettr.no/ga.js" in page.text
    assert "<script" not in html
    # Whatever a site calls its cookies is text, never markup.
    observed["passes"]["accepted"]["cookies"].append(cookie("<img src=x onerror=alert(1)>"))
    html = report.to_html(
        report.build(observed, POLICY, PATTERNS, findings.evaluate(observed, PATTERNS))
    )
    assert "<img src=x" not in html and "&lt;img src=x" in html


def test_history_lists_scans_with_what_changed_since_the_previous_one(database):
    first = report.build(clean_site(), POLICY, PATTERNS, [])
    later = copy.deepcopy(clean_site())
    later["passes"]["undecided"]["cookies"].append(cookie("_ga"))
    later["passes"]["undecided"]["requests"].append(
        a_request("https://www.googletagmanager.com/gtag/js", "googletagmanager.com")
    )
    second = report.build(later, POLICY, PATTERNS, findings.evaluate(later, PATTERNS))
    other = copy.deepcopy(first) | {"url": "https://karriere.example.no/"}
    ids = [store.save(database, r) for r in (first, other, second)]

    listed = store.recent(database)
    assert [s["id"] for s in listed] == ids[::-1]
    newest = listed[0]
    assert (newest["findings"], newest["new"], newest["resolved"]) == (2, 2, 0)
    assert newest["origin"] == "https://ansettr.no" and newest["pages"] == 1
    assert listed[1]["new"] is None and listed[2]["new"] is None  # first of their sites

    scan = store.get(database, ids[2])
    before = store.previous(database, scan)
    assert before["id"] == ids[0]
    changes = store.changes(before["report"], scan["report"])
    assert [f["key"] for f in changes["new_findings"]] == [
        "undeclared:cookie:_ga",
        "third_party:site:googletagmanager.com",
    ]
    assert changes["resolved_findings"] == []
    undecided = changes["passes"][0]
    assert undecided["cookies_new"] == ["_ga"]
    assert undecided["sites_new"] == ["googletagmanager.com"]
    assert not changes["unchanged"]
    assert store.changes(first, copy.deepcopy(first))["unchanged"]
    assert store.get(database, 999) is None


def test_declared_patterns_match_with_wildcards_and_add_the_consent_cookie():
    p = policy.load()
    patterns = findings.declared(p, "samtykke")
    assert patterns[0].pattern == "samtykke" and patterns[0].required
    assert findings.match(patterns, "_pk_id.1.abcd").category == "analytics"
    assert findings.match(patterns, "_pk_idx") is None
    assert findings.match(patterns, "consent").category == "necessary"
    assert findings.match(patterns, "_ga") is None
    # Declared already: not added twice.
    assert [d.pattern for d in findings.declared(p, "consent")].count("consent") == 1


def test_the_html_report_carries_the_consoles_scan_stylesheet(client):
    """One home for the report body's styles: the file the console serves, inlined as it is."""
    served = client.get("/static/scan.css")
    html = report.to_html(report.build(clean_site(), POLICY, PATTERNS, []))
    assert served.status_code == 200
    assert f"<style>\n{served.get_data(as_text=True)}\n</style>" in html
    assert "<link" not in html, "one self-contained file"
