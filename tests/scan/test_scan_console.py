"""``/admin/scans``: the scan history in the console, read through Flask's test client."""

from __future__ import annotations

import copy

from admin_support import Page, create_admin, login
from helpers import Page as Html
from scan_support import PATTERNS, POLICY, clean_site, cookie

from consentmgr.scan import findings, report, store


def stored(database, observed):
    return store.save(
        database, report.build(observed, POLICY, PATTERNS, findings.evaluate(observed, PATTERNS))
    )


def signed_in(client, database):
    create_admin(database)
    login(client)
    return client


def test_scans_need_a_session(client):
    response = client.get("/admin/scans")
    assert response.status_code == 302 and "/admin/login" in response.location
    assert client.get("/admin/scans/1").status_code == 302


def test_no_scans_yet_says_how_to_run_one(client, database):
    page = signed_in(client, database).get("/admin/scans")
    assert page.status_code == 200
    assert "No scans yet. Run consentmgr scan URL" in Html(page.text).text
    assert 'href="/admin/scans" aria-current="page"' in page.text


def test_history_lists_each_scan_with_its_findings_and_what_changed(client, database):
    signed_in(client, database)
    first = stored(database, clean_site())
    faulty = copy.deepcopy(clean_site())
    faulty["passes"]["undecided"]["cookies"].append(cookie("_ga", by="https://ansettr.no/ga.js"))
    second = stored(database, faulty)

    rows = Page(client.get("/admin/scans").text).table("scans")
    assert [r["Scan"] for r in rows] == [f"Scan {second}", f"Scan {first}"]
    assert rows[0]["Findings"] == "1" and rows[0]["Since the previous scan"] == "1 new, 0 resolved"
    assert (
        rows[1]["Findings"] == "0"
        and rows[1]["Since the previous scan"] == "first scan of this site"
    )

    page = client.get(f"/admin/scans/{second}")
    assert page.status_code == 200
    text = Html(page.text).text
    assert f"Compared with scan {first}" in text
    assert "New: Not declared in the policy. Cookie _ga is not declared in the policy" in text
    changes = Page(page.text).table("changes")
    assert changes[0]["Pass"] == "Undecided pass" and changes[0]["New cookies and keys"] == "_ga"
    assert "set by script https://ansettr.no/ga.js" in text
    cookies = Page(page.text).table("undecided-cookies")
    assert cookies == [
        {
            "Name": "_ga",
            "Category": "not declared",
            "Domain": "ansettr.no",
            "Path": "/",
            "Expires (UTC)": "session",
            "Party": "first",
            "Set by": "script https://ansettr.no/ga.js",
            "At the end": "kept",
        }
    ]

    page = client.get(f"/admin/scans/{first}")
    assert "This is the first scan of https://ansettr.no." in Html(page.text).text
    assert "No findings" in Html(page.text).text


def test_an_unknown_scan_is_a_console_404(client, database):
    page = signed_in(client, database).get("/admin/scans/42")
    assert page.status_code == 404 and "There is no scan 42." in page.text
    assert client.get("/admin/scans/x").status_code == 404
    assert client.get("/admin/scans/9223372036854775808").status_code == 404, "past any id"
