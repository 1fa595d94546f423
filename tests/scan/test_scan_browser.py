"""``consentmgr scan`` in Debian's Chromium against sites served on loopback (issue 20).

The command runs as a separate process, as an operator or a site's CI runs
it, against the sites of ``scan_support``: a correct one and a faulty one on
``127.0.0.1``, with consentmgr's banner, and a third party on ``localhost``.
Each site is scanned once per module; the tests read the same results. axe
checks the HTML reports and the console's scan pages in the shared browser.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from admin_support import PASSWORD, create_admin
from helpers import Page, open_db
from playwright.sync_api import expect
from scan_support import start_sites

from consentmgr.scan import crawl, findings, store
from consentmgr.scan.banner_check import Labels, check_banner

pytestmark = pytest.mark.browser

CONSENTMGR = Path(sys.executable).with_name("consentmgr")


def axe_violations(page) -> tuple[int, str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return results.violations_count, results.generate_report()


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    served = start_sites(tmp_path_factory.mktemp("scan-sites"))
    yield served
    served.stop()


def scan(sites, url: str, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "CONSENTMGR_CONFIG": str(sites.config_file),
        "CONSENTMGR_INSTANCE": str(sites.config_file.parent / "instance"),
    }
    return subprocess.run(
        [str(CONSENTMGR), "scan", url, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def correct(sites, tmp_path_factory):
    """The correct site with two more pages (one linked, one from sitemap.xml), as JSON."""
    html = tmp_path_factory.mktemp("correct") / "report.html"
    done = scan(sites, sites.correct, "--pages", "2", "--json", "--html", str(html))
    assert done.stdout.startswith("{"), done.stderr
    return done, json.loads(done.stdout), html


@pytest.fixture(scope="module")
def faulty(sites, tmp_path_factory):
    """The faulty site's start page only, with the human summary; the report from the database."""
    html = tmp_path_factory.mktemp("faulty") / "report.html"
    done = scan(sites, sites.faulty, "--pages", "0", "--html", str(html))
    stored = re.search(r"stored as scan (\d+)", done.stdout)
    assert stored, done.stdout + done.stderr
    db = open_db(sites.consentmgr.config)
    try:
        report = store.get(db, int(stored.group(1)))["report"]
    finally:
        db.close()
    return done, report, html


def by_name(records, key="name"):
    return {r[key]: r for r in records}


def test_correct_site_has_no_findings_and_matomo_sets_its_cookie_after_accepting(sites, correct):
    """Acceptance 1."""
    done, report, _ = correct
    assert done.returncode == 0, done.stderr
    assert report["findings"] == []
    assert report["pages"] == [sites.correct + p for p in ("/", "/stillinger", "/om-oss")]
    assert report["banner"]["found"] and not report["banner"]["missing"]
    assert report["banner"]["unequal"] == []
    assert [b["name"] for b in report["banner"]["buttons"].values()] == [
        "Godta alle",
        "Avvis alle",
        "Tilpass",
    ]

    accepted = report["passes"]["accepted"]
    assert accepted["decision"] == "Godta alle"
    cookies = by_name(accepted["cookies"])
    assert set(cookies) == {"consent", "_pk_id.1.1270", "_pk_ses.1.1270", "_fbp"}
    matomo = cookies["_pk_id.1.1270"]
    assert (matomo["category"], matomo["party"], matomo["domain"]) == (
        "analytics",
        "first",
        "127.0.0.1",
    )
    assert matomo["set_by"] == [{"via": "script", "url": f"{sites.third}/matomo.js"}]
    assert matomo["expires"] and matomo["kept"]
    assert cookies["consent"]["set_by"] == [
        {"via": "response", "url": f"{sites.console}/api/consent"}
    ]
    # After consent the tags load from the third party; their hits look like beacons.
    requests = {(r["method"], r["url"].split("?")[0]): r for r in accepted["requests"]}
    beacon = requests[("POST", f"{sites.third}/matomo.php")]
    # Once per page, and maybe once more on the start page right after the click.
    assert beacon["beacon"] and beacon["type"] == "ping" and beacon["count"] >= 3
    assert beacon["initiator"] == {"type": "script", "url": f"{sites.third}/matomo.js"}
    assert requests[("GET", f"{sites.third}/tr")]["beacon"]
    assert not requests[("GET", f"{sites.third}/matomo.js")]["beacon"]
    assert requests[("GET", f"{sites.third}/matomo.js")]["initiator"] == {
        "type": "script",
        "url": f"{sites.console}/consent.js",
    }


def test_refused_pass_has_no_optional_cookie_and_no_third_party_request(correct):
    """Acceptance 3."""
    _, report, _ = correct
    refused = report["passes"]["refused"]
    assert refused["decision"] == "Avvis alle"
    assert [(c["name"], c["category"]) for c in refused["cookies"]] == [("consent", "necessary")]
    assert refused["storage"] == []
    assert refused["requests"] == []
    assert [p["url"] for p in refused["pages"]] == [report["url"], *report["pages"]]
    undecided = report["passes"]["undecided"]
    assert undecided["cookies"] == [] and undecided["requests"] == []


def test_faulty_site_has_one_finding_for_each_fault_and_fails(sites, faulty):
    """Acceptance 2."""
    done, report, html = faulty
    assert done.returncode == 1, done.stdout + done.stderr
    found = {f["kind"]: f for f in report["findings"]}
    assert sorted(found) == ["stale", "third_party", "undeclared"]
    assert len(report["findings"]) == 3

    ga = found["undeclared"]
    assert ga["key"] == "undeclared:cookie:_ga"
    assert ga["passes"] == ["undecided", "refused", "accepted"]
    assert f"set by script {sites.faulty}/ga.js" in ga["message"]
    iframe = found["third_party"]
    assert iframe["key"] == "third_party:site:localhost"
    assert iframe["passes"] == ["undecided", "refused"]
    assert f"{sites.third}/embed" in iframe["message"]
    assert f"started by document {sites.faulty}/" in iframe["message"]
    stale = found["stale"]
    assert stale["key"] == "stale:pattern:_fbp" and "(marketing)" in stale["message"]

    # The summary and the HTML report name each of them.
    for f in report["findings"]:
        assert f"{f['title']}: {f['message']}" in done.stdout
    text = Page(html.read_text(encoding="utf-8")).text
    assert "3 findings" in done.stdout
    for name in ("Cookie _ga is not declared", f"{sites.third}/embed", "declares _fbp"):
        assert name in text


def test_html_reports_pass_axe(chromium, correct, faulty):
    """Acceptance 4."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        for _, _, html in (correct, faulty):
            page.goto(html.as_uri())
            expect(page.get_by_role("heading", level=1)).to_contain_text("Cookie audit of")
            count, details = axe_violations(page)
            assert count == 0, details
    finally:
        context.close()


def test_console_lists_the_scans_and_passes_axe(chromium, sites, correct, faulty):
    db = open_db(sites.consentmgr.config)
    try:
        create_admin(db)
    finally:
        db.close()
    context = chromium.new_context(base_url=sites.console, viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.goto("/admin/scans")
        page.get_by_label("Username").fill("kari")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", level=1, name="Cookie scans")).to_be_visible()
        rows = page.locator("#scans tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.nth(0)).to_contain_text("Scan 2")  # the newest first
        count, details = axe_violations(page)
        assert count == 0, details

        # Which site was scanned first depends on which test asked first (pytest-xdist).
        number = re.search(r"stored as scan (\d+)", faulty[0].stdout).group(1)
        rows.filter(has_text=sites.faulty).get_by_role("link").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Scan {number} of 127.0.0.1")
        expect(page.locator(".finding")).to_have_count(3)
        expect(page.get_by_text(f"This is the first scan of {sites.faulty}.")).to_be_visible()
        count, details = axe_violations(page)
        assert count == 0, details
    finally:
        context.close()


def test_cookies_removed_again_storage_and_frames_are_recorded(chromium, sites):
    """In process, in the shared browser: what a jar snapshot alone would miss."""
    policy = sites.consentmgr.extensions["consentmgr.policy"]
    observed = crawl.run(sites.tricky, Labels.of(policy), crawl.Options(pages=0), chromium)
    start = sites.tricky + "/"
    for name in ("undecided", "refused"):
        early = by_name(observed["passes"][name]["cookies"])["_pk_id.1.test"]
        assert early["set_by"] == [{"via": "inline script", "url": start}]
        assert not early["kept"]  # the banner removed it before the page settled
    assert by_name(observed["passes"]["accepted"]["cookies"])["_pk_id.1.test"]["kept"]
    storage = {(s["kind"], s["key"]): s for s in observed["passes"]["undecided"]["storage"]}
    assert set(storage) == {("localStorage", "ab_test"), ("indexedDB", "offline-cache")}
    for entry in storage.values():
        assert entry["origin"] == sites.tricky and entry["party"] == "first"
        assert entry["set_by"] == [{"via": "script", "url": f"{sites.tricky}/ab.js"}]
    (widget,) = observed["passes"]["undecided"]["requests"]
    assert widget["url"] == f"{sites.third}/widget" and widget["type"] == "document"
    assert widget["initiator"] == {"type": "document", "url": start}

    patterns = findings.declared(policy, "consent")
    keys = {f["key"]: f["passes"] for f in findings.evaluate(observed, patterns)}
    assert keys["before_consent:cookie:_pk_id.1.test"] == ["undecided", "refused"]
    assert keys["undeclared:localStorage:ab_test"] == ["undecided", "refused", "accepted"]
    assert keys["undeclared:indexedDB:offline-cache"] == ["undecided", "refused", "accepted"]
    assert keys["third_party:site:localhost"] == ["undecided", "refused"]


BUTTONS = """<!doctype html><html lang="en"><title>x</title><body>
<div role="dialog" aria-label="Cookies">
<button style="width:10em;height:3em">Godta alle</button>
<button style="width:10em;height:3em;{reject}">Avvis alle</button>
{customise}</div></body></html>"""
TILPASS = '<button style="width:10em;height:3em">Tilpass</button>'


def test_banner_check_finds_missing_and_unequal_buttons(chromium, sites):
    labels = Labels.of(sites.consentmgr.extensions["consentmgr.policy"])
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.set_content(BUTTONS.format(reject="", customise=TILPASS))
        same = check_banner(page, labels, 0.1)
        assert same["found"] and same["missing"] == [] and same["unequal"] == []
        page.set_content(BUTTONS.format(reject="", customise=""))
        assert check_banner(page, labels, 0.1)["missing"] == ["customise"]
        page.set_content(
            BUTTONS.format(
                reject="width:6em;background:#fff;color:#555;font-weight:700",
                customise=TILPASS.replace("Tilpass", "Customise"),
            )
        )
        banner = check_banner(page, labels, 0.1)
        assert banner["missing"] == []
        assert banner["unequal"] == ["width", "color", "background", "font weight"]
        page.set_content("<!doctype html><title>No banner</title><p>Hei</p>")
        assert check_banner(page, labels, 0.1) == {
            "found": False,
            "buttons": {},
            "missing": ["accept_all", "reject_all", "customise"],
            "unequal": [],
        }
    finally:
        context.close()


def test_a_site_that_does_not_answer_is_exit_status_2(sites):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/"
    done = scan(sites, closed, "--no-store")
    assert done.returncode == 2
    assert f"Error: cannot load {closed}: net::ERR_CONNECTION_REFUSED" in done.stderr
