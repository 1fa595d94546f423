"""``consentmgr scan`` without a browser: its errors, and the core service without Playwright."""

from __future__ import annotations

import subprocess
import sys

from helpers import ROOT

from consentmgr.scan.browser import INSTALL_HINT


def test_a_url_that_is_not_http_is_refused_with_exit_status_2(runner):
    for url in ("ftp://ansettr.no/", "ansettr.no", "http://ansettr.no:port/"):
        result = runner.invoke(args=["scan", url])
        assert result.exit_code == 2, result.output
        assert "is not an http:// or https:// URL with a host" in result.output


def test_pages_must_be_a_sensible_number(runner):
    result = runner.invoke(args=["scan", "https://ansettr.no/", "--pages", "-1"])
    assert result.exit_code == 2 and "--pages" in result.output


def test_an_html_report_into_a_missing_folder_is_refused_before_scanning(runner, tmp_path):
    target = tmp_path / "no-such-folder" / "report.html"
    result = runner.invoke(args=["scan", "https://ansettr.no/", "--html", str(target)])
    assert result.exit_code == 2
    assert "--html: the folder of" in result.output and "does not exist" in result.output


def test_without_playwright_the_command_says_how_to_install_it(runner, monkeypatch):
    # An entry of None in sys.modules makes "import playwright" fail as if not installed.
    monkeypatch.setitem(sys.modules, "playwright", None)
    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)
    result = runner.invoke(args=["scan", "https://ansettr.no/"])
    assert result.exit_code == 2
    assert "pip install 'consentmgr[scan]'" in result.output
    assert INSTALL_HINT in " ".join(result.output.split())


def test_the_service_and_its_console_run_without_playwright(tmp_path):
    """Nothing outside ``consentmgr scan``'s own run imports Playwright."""
    code = f"""
import sys
from pathlib import Path
sys.modules["playwright"] = None
from helpers import make_config
from consentmgr import create_app
app = create_app(make_config(Path({str(tmp_path)!r})))
client = app.test_client()
assert client.get("/consent.js").status_code == 200
assert client.get("/admin/scans").status_code == 302
assert "scan" in app.cli.commands
print("ok", [m for m, v in sys.modules.items() if m.startswith("playwright") and v])
"""
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
        env={
            "PYTHONPATH": str(ROOT / "tests"),
            "PATH": "/usr/bin:/bin",
            "CONSENTMGR_INSTANCE": str(tmp_path / "instance"),
        },
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok []"
