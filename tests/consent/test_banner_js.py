"""Serving /consent.js: policy embedded, caching, compression, size; and the demo pages."""

import gzip
import hashlib
import json
import re
import shutil
import subprocess

import pytest
from helpers import ROOT, make_config, shipped_policy

from consentmgr import create_app
from consentmgr.consent import banner, policy

# What a visitor downloads: banner, policy texts, Matomo tracker and fbq shim.
FIRST_VISIT_GOAL = 6 * 1024


def embedded_config(client) -> dict:
    """The policy object inside the served script, found by rendering a known source."""
    app = client.application
    with app.app_context():
        config = {**app.config, "BUNDLE_SCRIPTS": []}
        body = banner.render(app.extensions["consentmgr.policy"], config, "P=__POLICY__;")
    return json.loads(body.decode()[2:-1])


def test_script_embeds_policy_texts_and_urls(client, app):
    r = client.get("/consent.js")
    assert r.status_code == 200
    assert r.mimetype == "text/javascript"
    text = r.get_data(as_text=True)
    assert banner.PLACEHOLDER not in text
    assert app.extensions["consentmgr.policy"].version in text
    for label in ("Godta alle", "Avvis alle", "Tilpass", "Accept all", "Customise", "Lagre val"):
        assert label in text
    config = embedded_config(client)
    assert config["v"] == app.extensions["consentmgr.policy"].version
    assert config["p"] == "/personvern?lang={lang}" and config["m"] == "/mine-data?lang={lang}"
    assert set(config["t"]) == {"nb", "nn", "en"}
    assert [k["id"] for k in config["k"]] == ["necessary", "analytics", "marketing"]
    assert [k["r"] for k in config["k"]] == [True, False, False]
    assert config["t"]["nn"]["k"][1][0] == "Statistikk"
    assert config["t"]["en"]["customise"] == "Customise"


def test_config_reaches_the_script(tmp_path):
    app = create_app(
        make_config(
            tmp_path,
            PRIVACY_URL="https://ansettr.no/personvern",
            SHOW_REOPEN_BUTTON=True,
            HONOR_GPC=False,
            COOKIE_NAME="samtykke",
        )
    )
    config = embedded_config(app.test_client())
    assert config["p"] == "https://ansettr.no/personvern?lang={lang}"
    assert config["r"] is True and config["g"] is False
    assert re.search(config["n"], "a=1; samtykke=eyJnIjpbXX0.abc.def").group(1) == "eyJnIjpbXX0"
    assert re.search(config["n"], "xsamtykke=1") is None


def test_cookie_patterns_become_anchored_regexps(client):
    analytics, marketing = embedded_config(client)["k"][1:]
    for name in ("_pk_id.1.abcd", "_pk_ses.1.abcd", "_pk_ref.3.ff"):
        assert re.search(analytics["c"], name)
    for name in ("_pk_idx", "x_pk_id.1", "_fbp", "consent"):
        assert not re.search(analytics["c"], name)
    assert re.search(marketing["c"], "_fbp") and re.search(marketing["c"], "_fbc")
    assert not re.search(marketing["c"], "_fbpx")
    assert banner.cookie_regexp([]) == "(?!)"


def test_policy_texts_are_html_escaped(tmp_path):
    content = shipped_policy()
    content["texts"]["nb"]["intro"] = 'Les <b>dette</b> & "mer"'
    content["categories"][1]["texts"]["nb"]["purpose"] = "<img src=x onerror=alert(1)>"
    path = tmp_path / "instance" / "policy.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))
    app = create_app(make_config(tmp_path, POLICY_FILE=str(path)))
    config = embedded_config(app.test_client())
    assert config["t"]["nb"]["intro"] == "Les &lt;b&gt;dette&lt;/b&gt; &amp; &quot;mer&quot;"
    assert config["t"]["nb"]["k"][1][1] == "&lt;img src=x onerror=alert(1)&gt;"
    assert "<img" not in app.test_client().get("/consent.js").get_data(as_text=True)


def test_strong_etag_and_revalidation(client):
    r = client.get("/consent.js")
    etag = r.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag), "a strong ETag"
    assert r.headers["Cache-Control"] == "public, max-age=300, must-revalidate"
    assert r.headers["Vary"] == "Accept-Encoding"
    assert r.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert r.headers["X-Content-Type-Options"] == "nosniff"

    again = client.get("/consent.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == r.headers["Cache-Control"]
    assert client.get("/consent.js", headers={"If-None-Match": f"W/{etag}"}).status_code == 304
    assert client.get("/consent.js", headers={"If-None-Match": '"other"'}).status_code == 200


def test_gzip_when_accepted_with_its_own_etag(client):
    plain = client.get("/consent.js")
    packed = client.get("/consent.js", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.data) == plain.data
    assert len(packed.data) < len(plain.data) / 2
    assert packed.headers["ETag"] != plain.headers["ETag"]
    assert "Content-Encoding" not in plain.headers
    refused = client.get("/consent.js", headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in refused.headers
    not_modified = client.get(
        "/consent.js",
        headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["ETag"]},
    )
    assert not_modified.status_code == 304


def test_bodies_are_built_once_and_identical_across_apps(tmp_path, client):
    first = client.get("/consent.js", headers={"Accept-Encoding": "gzip"})
    with client.application.app_context():
        assert banner.script() is banner.script()
    other = create_app(make_config(tmp_path / "other")).test_client()
    second = other.get("/consent.js", headers={"Accept-Encoding": "gzip"})
    assert first.data == second.data, "gzip output must not depend on time or process"
    assert first.headers["ETag"] == second.headers["ETag"]


def test_etag_changes_with_the_policy(tmp_path, client):
    content = shipped_policy()
    content["texts"]["en"]["title"] = "Your privacy"
    path = tmp_path / "changed" / "policy.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(content))
    changed = create_app(make_config(tmp_path / "c", POLICY_FILE=str(path))).test_client()
    assert changed.get("/consent.js").headers["ETag"] != client.get("/consent.js").headers["ETag"]


def test_minified_script_is_made_from_the_current_source():
    source = (ROOT / "static" / "js" / "consent.js").read_bytes()
    served = (ROOT / "static" / "js" / "consent.min.js").read_text(encoding="utf-8")
    recorded = re.match(r"/\*! .*sha256:([0-9a-f]{64}) \*/\n", served)
    assert recorded, "consent.min.js starts with the digest of its source"
    assert recorded.group(1) == hashlib.sha256(source).hexdigest(), (
        "static/js/consent.js changed: run `.venv/bin/python bench/minify.py`"
    )
    assert served.count(banner.PLACEHOLDER) == 1


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_served_script_parses(client, tmp_path):
    script = tmp_path / "consent.js"
    script.write_bytes(client.get("/consent.js").data)
    result = subprocess.run(["node", "--check", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_first_visit_download_size(client):
    """Report the gzip -9 size of what a visitor downloads, tracker and shim included."""
    body = client.get("/consent.js").data
    # the tracker's loader (the tracker itself comes only after consent) and the shim
    assert b"/matomo.js" in body and b"/fb/events" in body
    size = len(gzip.compress(body, 9))
    print(f"\ngzip -9 /consent.js with tracker and shim: {size} bytes (goal {FIRST_VISIT_GOAL})")
    assert size <= FIRST_VISIT_GOAL


def test_demo_loads_what_the_bundle_leaves_out(tmp_path):
    app = create_app(make_config(tmp_path, BUNDLE_SCRIPTS=["fbq"]))
    html = app.test_client().get("/demo").get_data(as_text=True)
    assert '<script type="text/plain" data-category="analytics" src="/matomo.js">' in html
    assert 'src="/fbq.js"' not in html


def test_bundle_follows_the_setting(tmp_path):
    def served(bundle):
        app = create_app(make_config(tmp_path, BUNDLE_SCRIPTS=bundle))
        return app.test_client().get("/consent.js").get_data(as_text=True)

    alone, matomo_only = served([]), served(["matomo"])
    assert "/matomo.js" not in alone and "/fb/events" not in alone
    assert "/matomo.js" in matomo_only and "/fb/events" not in matomo_only
    loader = (ROOT / "static" / "js" / "matomo-loader.min.js").read_text().split("\n", 1)[1]
    assert matomo_only == alone + "\n" + loader


def test_demo_pages(client):
    r = client.get("/demo")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert '<script src="/consent.js" defer></script>' in html
    assert '<html lang="nb">' in html
    nonce = re.search(r"'nonce-([^']+)'", r.headers["Content-Security-Policy"]).group(1)
    assert html.count(f'nonce="{nonce}"') == 3, "two blocked examples and the _paq/fbq setup"
    # The tracker and shim come inside /consent.js, so the page has no tags for them.
    assert 'src="/matomo.js"' not in html and 'src="/fbq.js"' not in html
    script_src = r.headers["Content-Security-Policy"].split("script-src")[1].split(";")[0]
    assert "'unsafe-inline'" not in script_src
    for category in ("analytics", "marketing"):
        assert f'type="text/plain" data-category="{category}" src=' in html
    assert 'data-category="marketing" data-src=' in html
    assert "data-consent-open" in html

    for lang in ("nn", "en", "no"):
        assert f'<html lang="{lang}">' in client.get(f"/demo?lang={lang}").get_data(as_text=True)
    assert '<html lang="nb">' in client.get("/demo?lang=<x>").get_data(as_text=True)
    german = client.get("/demo?lang=de-DE").get_data(as_text=True)
    assert '<html lang="de-DE">' in german and "Open positions" in german

    privacy = client.get("/demo/personvern").get_data(as_text=True)
    assert "<div data-consent-preferences>" in privacy

    embed = client.get("/demo/embed")
    assert "frame-ancestors 'self'" in embed.headers["Content-Security-Policy"]
    assert embed.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert client.get("/demo/nothing").status_code == 404


def test_policy_text_keys_exist_in_every_language():
    content = policy.load().content
    for lang in ("nb", "nn", "en"):
        missing = [k for k in banner.TEXT_KEYS if k not in content["texts"][lang]]
        assert not missing, f"{lang} lacks {missing}"
