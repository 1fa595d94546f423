"""``./dev run``'s instance works in a browser on http://127.0.0.1 and http://localhost.

The README's first command, run as it is typed (with a fresh instance folder
and a free port): the demo site is there, a decision made in it is kept (the
banner does not ask again after a reload), and an admin can sign in. Both
loopback names are the service's own origin although PUBLIC_URL is not set,
and browsers keep its secure cookies there although it is plain http.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from admin_support import PASSWORD
from helpers import ROOT
from playwright.sync_api import expect
from serve_support import Served, clean_env, free_port

from consentmgr.db import connect

pytestmark = pytest.mark.browser

BIN = Path(sys.executable).parent


def is_post(response) -> bool:
    return response.url.endswith("/api/consent") and response.request.method == "POST"


def test_dev_run_works_in_a_browser_on_both_loopback_names(chromium, tmp_path):
    instance = tmp_path / "instance"
    port = free_port()
    env = clean_env(CONSENTMGR_INSTANCE=str(instance), HOST="127.0.0.1", PORT=str(port))
    with Served([str(ROOT / "dev"), "run"], port, tmp_path / "dev.log", env=env, cwd=ROOT) as dev:
        created = subprocess.run(
            [str(BIN / "consentmgr"), "create-admin", "kari", "--password-stdin"],
            input=PASSWORD + "\n",
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert created.returncode == 0, created.stderr
        for host in ("127.0.0.1", "localhost"):
            context = chromium.new_context(base_url=f"http://{host}:{port}")
            try:
                page = context.new_page()
                page.goto("/demo")
                dialog = page.get_by_role("dialog")
                expect(dialog).to_be_visible()
                with page.expect_response(is_post) as posted:
                    dialog.get_by_role("button", name="Godta alle").click()
                assert posted.value.status == 201, host
                page.reload()
                page.wait_for_function("() => window.consentmgr && window.consentmgr.get()")
                expect(page.get_by_role("dialog")).to_be_hidden()

                page.goto("/admin/login")
                page.get_by_label("Username").fill("kari")
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                expect(
                    page.get_by_role("heading", level=1, name="Consent dashboard")
                ).to_be_visible()
                expect(page).to_have_url(re.compile(r"/admin/$"))
            finally:
                context.close()
    assert "Traceback" not in dev.output()
    db = connect(instance / "consentmgr.sqlite")
    try:
        methods = [r[0] for r in db.execute("select method from decisions order by seq")]
    finally:
        db.close()
    assert methods == ["accept_all", "accept_all"], "one decision per browser, none repeated"
