"""Production defaults: no demo unless asked, an origin from config, HSTS, private files, http.

Each test builds the app the way ``consentmgr serve`` does (from a config, with
the defaults a fresh ``consentmgr init`` leaves) and talks to it through
Flask's test client; the processes themselves are tested in test_install.py
and test_deploy_nginx.py.
"""

import logging
import os
import stat

import pytest
from helpers import ACCEPT_ALL, count, make_config, post_decision

from consentmgr import create_app
from consentmgr.db import connect

PUBLIC = "https://consent.ansettr.no"


def production(tmp_path, **overrides):
    """An app with the defaults of a fresh config: DEMO off, secure cookies."""
    return create_app(make_config(tmp_path, **{"DEMO": False, "COOKIE_SECURE": True, **overrides}))


def test_demo_is_served_only_when_configured(tmp_path):
    off = production(tmp_path / "off").test_client()
    for path in ("/demo", "/demo/personvern", "/demo/embed"):
        assert off.get(path).status_code == 404, path
    on = production(tmp_path / "on", DEMO=True).test_client()
    for path in ("/demo", "/demo/personvern", "/demo/embed"):
        assert on.get(path).status_code == 200, path


def test_demo_is_off_in_a_fresh_config(instance_folder):
    from consentmgr.config import KEYS

    assert KEYS["DEMO"].default is False
    from click.testing import CliRunner

    from consentmgr import cli

    assert CliRunner().invoke(cli.main_group(), ["init"]).exit_code == 0
    assert "DEMO = false" in (instance_folder / "config.toml").read_text()
    assert create_app().test_client().get("/demo").status_code == 404
    assert create_app(overrides={"DEMO": True}).test_client().get("/demo").status_code == 200


def test_own_origin_comes_from_public_url_not_from_host(tmp_path):
    app = production(tmp_path, PUBLIC_URL=PUBLIC)
    client = app.test_client()
    forged = post_decision(client, ACCEPT_ALL, origin="https://evil.example", Host="evil.example")
    assert forged.status_code == 403
    assert "PUBLIC_URL" in forged.get_json()["error"]
    own = post_decision(client, ACCEPT_ALL, origin=PUBLIC, Host="10.0.0.5:8000")
    assert own.status_code == 201
    assert own.headers["Access-Control-Allow-Origin"] == PUBLIC


def test_without_public_url_only_this_machine_is_the_own_origin(tmp_path):
    client = production(tmp_path).test_client()
    for host in ("127.0.0.1:5000", "localhost:5000", "[::1]:5000"):
        r = post_decision(client, ACCEPT_ALL, origin=f"http://{host}", Host=host)
        assert r.status_code == 201, host
    other = post_decision(
        client,
        ACCEPT_ALL,
        origin="http://consent.evil.example",
        Host="consent.evil.example",
    )
    assert other.status_code == 403


def test_public_url_must_be_an_origin(tmp_path):
    from consentmgr.config import ConfigError

    with pytest.raises(ConfigError, match="PUBLIC_URL"):
        production(tmp_path, PUBLIC_URL="consent.ansettr.no")
    with pytest.raises(ConfigError, match="PUBLIC_URL"):
        production(tmp_path, PUBLIC_URL="https://consent.ansettr.no/app")
    assert production(tmp_path, PUBLIC_URL=PUBLIC + "/").config["PUBLIC_URL"] == PUBLIC


def test_hsts_on_every_response_when_public_url_is_https(tmp_path):
    client = production(tmp_path / "https", PUBLIC_URL=PUBLIC).test_client()
    for path in ("/health", "/consent.js", "/admin/login", "/nowhere", "/api/consent"):
        response = client.get(path, base_url=PUBLIC)
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000", path
    hit = client.get("/matomo.php?idsite=1&rec=1", base_url=PUBLIC)
    assert "Strict-Transport-Security" in hit.headers
    plain = production(tmp_path / "http").test_client()
    assert "Strict-Transport-Security" not in plain.get("/health").headers


def test_plain_http_from_another_host_logs_one_warning_naming_the_key(tmp_path, caplog):
    app = production(tmp_path)
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger=app.logger.name):
        client.get("/health")  # localhost: browsers keep secure cookies there
        assert not caplog.records
        for _ in range(3):
            client.get("/consent.js", base_url="http://consent.ansettr.no")
            client.get("/health", base_url="http://10.0.0.5:8000")
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1, warnings
    assert "COOKIE_SECURE" in warnings[0] and "test_config" in warnings[0]
    assert "http://consent.ansettr.no/consent.js" in warnings[0]


def test_no_warning_over_https_or_without_secure_cookies(tmp_path, caplog):
    https = production(tmp_path / "a", PUBLIC_URL=PUBLIC)
    relaxed = production(tmp_path / "b", COOKIE_SECURE=False)
    with caplog.at_level(logging.WARNING):
        https.test_client().get("/health", base_url=PUBLIC)
        relaxed.test_client().get("/health", base_url="http://consent.ansettr.no")
    assert not caplog.records


def test_admin_sign_in_over_plain_http_says_cookies_need_https(tmp_path):
    client = production(tmp_path, PUBLIC_URL=PUBLIC).test_client()
    page = client.get("/admin/login", base_url="http://consent.ansettr.no")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "needs HTTPS here" in text and "COOKIE_SECURE" in text
    assert f"{PUBLIC}/admin/login" in text
    assert "<form" not in text, "a form that cannot work is not offered"
    assert "Set-Cookie" not in page.headers

    # A sign-in posted anyway (an old tab, a script) gets the same explanation, not CSRF jargon.
    posted = client.post(
        "/admin/login",
        data={"username": "kari", "password": "x" * 12},
        base_url="http://consent.ansettr.no",
    )
    assert posted.status_code == 400
    text = posted.get_data(as_text=True)
    assert "needs HTTPS here" in text and "CSRF" not in text


def test_admin_sign_in_form_where_cookies_work(tmp_path):
    app = production(tmp_path, PUBLIC_URL=PUBLIC)
    for base in (PUBLIC, "http://127.0.0.1:8000", "http://localhost:5000"):
        text = app.test_client().get("/admin/login", base_url=base).get_data(as_text=True)
        assert "<form" in text and "needs HTTPS" not in text, base
    relaxed = production(tmp_path / "relaxed", COOKIE_SECURE=False).test_client()
    text = relaxed.get("/admin/login", base_url="http://consent.ansettr.no").get_data(as_text=True)
    assert "<form" in text


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_files_the_service_creates_are_private(tmp_path, instance_folder, runner):
    old = os.umask(0o022)  # the usual umask: without care files come out world-readable
    try:
        app = create_app(make_config(tmp_path, DATABASE="consentmgr.sqlite"))
        client = app.test_client()
        assert post_decision(client, ACCEPT_ALL).status_code == 201
        database = instance_folder / "consentmgr.sqlite"
        db = connect(database)
        assert count(db) == 1
        result = app.test_cli_runner().invoke(args=["backup", str(tmp_path / "copy.sqlite")])
        assert result.exit_code == 0, result.output
        assert mode(instance_folder) == 0o700
        for suffix in ("", "-wal", "-shm", ".lock"):
            assert mode(f"{database}{suffix}") == 0o600, suffix
        assert mode(tmp_path / "copy.sqlite") == 0o600
        db.close()
    finally:
        os.umask(old)
