"""Tests for proof.receipts: what the visitor saw, as HTML and JSON, and its verification."""

import json
from pathlib import Path

from helpers import (
    ACCEPT_ALL,
    CUSTOM,
    REJECT_ALL,
    Page,
    consent_value,
    post_decision,
    receipt_json,
    shipped_policy,
)

from consentmgr import create_app

OLD_PURPOSE = "Matomo viser oss sidevisninger"
NEW_PURPOSE = "Matomo teller sidevisninger for oss, og ingenting annet."


def reworded_policy(folder: Path) -> str:
    content = shipped_policy()
    content["categories"][1]["texts"]["nb"]["purpose"] = NEW_PURPOSE
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "reworded.json"
    path.write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_receipt_shows_the_words_the_visitor_saw_and_html_agrees_with_json(
    tmp_path, config, client
):
    r = post_decision(client, CUSTOM)
    assert r.status_code == 201
    path = r.get_json()["receipt"]
    cookie = consent_value(client)

    # The wording changes after the decision: same version, new revision.
    app2 = create_app({**config, "POLICY_FILE": reworded_policy(tmp_path / "policy")})
    client2 = app2.test_client()
    client2.set_cookie("consent", cookie)
    assert post_decision(client2, REJECT_ALL).status_code == 201

    receipt = receipt_json(client2, path).get_json()
    assert receipt["consent_id"] == path.rsplit("/", 1)[1]
    first, second = receipt["decisions"]
    assert (first["revision"], second["revision"]) == (1, 2)
    assert first["version"] == second["version"]
    analytics = [c for c in first["categories"] if c["id"] == "analytics"][0]
    assert analytics["purpose"].startswith(OLD_PURPOSE) and analytics["granted"] is True
    analytics2 = [c for c in second["categories"] if c["id"] == "analytics"][0]
    assert analytics2["purpose"] == NEW_PURPOSE and analytics2["granted"] is False
    assert (first["method"], second["method"]) == ("custom", "reject_all")
    assert first["choices"] == {"analytics": True, "marketing": False}

    r = client2.get(path)
    assert r.status_code == 200 and r.mimetype == "text/html"
    assert r.headers["Cache-Control"] == "no-store"
    html = r.get_data(as_text=True)
    page = Page(html)
    sections = html.split('class="decision"')[1:]
    assert len(sections) == len(receipt["decisions"])
    for d, section in zip(receipt["decisions"], sections, strict=True):
        text = Page(section).text
        assert f'data-seq="{d["seq"]}"' in section
        for value in (d["time"], d["version"], d["chain_hash"], d["method"], d["lang"]):
            assert value in section
        assert f"revisjon {d['revision']}" in text
        for c in d["categories"]:
            for key in ("name", "purpose", "retention", "legal_basis"):
                assert c[key] in text
            verdict = "alltid på" if c["required"] else ("ja" if c["granted"] else "nei")
            assert f"{c['name']}: {verdict}" in text
    assert OLD_PURPOSE in Page(sections[0]).text and NEW_PURPOSE not in Page(sections[0]).text
    assert NEW_PURPOSE in page.text

    download = client2.get(path + "?format=json")
    assert download.get_json()["decisions"] == receipt["decisions"]
    assert "attachment" in download.headers["Content-Disposition"]


def test_receipt_of_another_id_is_404(client, app):
    own = post_decision(client, ACCEPT_ALL).get_json()["receipt"]
    other_client = app.test_client()
    other = post_decision(other_client, REJECT_ALL).get_json()["receipt"]
    assert own != other

    assert client.get(own).status_code == 200
    assert client.get(other).status_code == 404
    assert receipt_json(client, other).status_code == 404
    assert receipt_json(client, other).get_json() == {
        "error": "no receipt for this id in this browser"
    }
    assert app.test_client().get(own).status_code == 404  # no cookie
    value = consent_value(client)
    tampered = value[:-1] + ("A" if value[-1] != "A" else "B")
    stranger = app.test_client()
    stranger.set_cookie("consent", tampered)
    assert stranger.get(own).status_code == 404


def test_receipt_verifies_and_detects_an_altered_receipt(client, app, runner, tmp_path):
    path = post_decision(client, CUSTOM).get_json()["receipt"]
    receipt = receipt_json(client, path).get_json()
    file = tmp_path / "receipt.json"
    file.write_text(json.dumps(receipt))
    result = runner.invoke(args=["verify-receipt", str(file)])
    assert result.exit_code == 0, result.output
    assert "matches the log" in result.output

    receipt["decisions"][0]["choices"]["marketing"] = True  # the visitor claims more
    file.write_text(json.dumps(receipt))
    result = runner.invoke(args=["verify-receipt", str(file)])
    assert result.exit_code == 1
    assert "altered" in result.output


# -- /mine-data and erasure ---------------------------------------------------------------


def test_receipt_lists_only_what_the_banner_showed(client, database):
    from consentmgr.proof.receipts import categories_shown

    path = post_decision(client, CUSTOM).get_json()["receipt"]
    decision = receipt_json(client, path).get_json()["decisions"][0]
    for category in decision["categories"]:
        assert set(category) == {
            "id",
            "required",
            "granted",
            "name",
            "purpose",
            "vendors",
            "retention",
            "legal_basis",
        }
    # A revision served before the banner showed the legal basis did not record
    # "shown"; its receipt leaves the legal basis out.
    content = shipped_policy()
    assert "shown" not in content
    legacy = categories_shown(content, "nb", {"analytics": True})
    assert all("legal_basis" not in c for c in legacy)
    assert [c["name"] for c in legacy] == ["Nødvendige", "Statistikk", "Markedsføring"]
    html = client.get(path).get_data(as_text=True)
    assert "Rettslig grunnlag" in html
    assert "artikkel 6 nr. 1 bokstav a" in html and "GDPR art." not in html
