"""Tests for proof.self_service: /mine-data, downloads and erasure."""

import json
import re
import time
from datetime import UTC, datetime, timedelta

import helpers
import pytest
from helpers import (
    ACCEPT_ALL,
    CUSTOM,
    REJECT_ALL,
    SITE,
    Page,
    aggregates,
    consent_value,
    db_rows,
    make_config,
    open_db,
    post_decision,
    receipt_json,
)
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from consentmgr import create_app
from consentmgr.consent import cookie as consent_cookie
from consentmgr.consent import log as consent_log
from consentmgr.consent.cookie import Consent
from consentmgr.gateway import counters as gateway_stats
from consentmgr.gateway import outbox
from consentmgr.proof import self_service


@pytest.fixture
def gateway_app(tmp_path):
    # An upstream that is never contacted: delivery is not started, items stay pending.
    return create_app(make_config(tmp_path, MATOMO_URL="http://127.0.0.1:9/"))


def track(client, page_url):
    return client.get(
        "/matomo.php",
        query_string={"idsite": "1", "rec": "1", "url": page_url, "action_name": "Stillinger"},
        headers={"User-Agent": "Mozilla/5.0 Firefox/128.0"},
        environ_base={"REMOTE_ADDR": "198.51.100.23"},
    )


def erase_token(client) -> str:
    """The token of the erase form, from the confirmation page /mine-data links to."""
    html = client.get("/mine-data").get_data(as_text=True)
    assert 'href="/mine-data/slett?lang=nb"' in html
    return helpers.erase_token(client)


def test_mine_data_shows_decisions_and_pending_items_and_downloads_them(gateway_app):
    client = gateway_app.test_client()
    empty = Page(client.get("/mine-data").get_data(as_text=True))
    assert "ingen data" in empty.text

    post_decision(
        client,
        {**ACCEPT_ALL, "page": "https://ansettr.no/stillinger?q=1"},
        remote_addr="198.51.100.23",
    )
    assert track(client, "https://ansettr.no/stillinger/selger").status_code == 204

    r = client.get("/mine-data")
    assert r.headers["Cache-Control"] == "no-store"
    page = Page(r.get_data(as_text=True))
    assert "https://ansettr.no/stillinger" in page.text  # the page of the decision
    assert "198.51.100.0/24" in page.text  # only the network
    assert "Matomo (statistikk)" in page.text
    assert "https://ansettr.no/stillinger/selger" in page.text  # decrypted for the visitor
    assert "198.51.100.23" in page.text  # what would be sent to Matomo
    assert any(link.startswith("/receipt/") for link in page.links)

    download = client.get("/mine-data.json")
    assert "attachment" in download.headers["Content-Disposition"]
    data = download.get_json()
    assert data["consent_id"] == data["receipt"].rsplit("/", 1)[1]
    assert [d["method"] for d in data["decisions"]] == ["accept_all"]
    assert data["decisions"][0]["ip_prefix"] == "198.51.100.0/24"
    (item,) = data["gateway_items"]
    assert item["status"] == "pending"
    assert dict(item["payload"])["url"] == "https://ansettr.no/stillinger/selger"
    assert dict(item["payload"])["cip"] == "198.51.100.23"


def test_erase_blanks_the_id_keeps_aggregates_and_chain_and_clears_cookie(gateway_app, tmp_path):
    app = gateway_app
    runner = app.test_cli_runner()
    visitor, other = app.test_client(), app.test_client()
    post_decision(visitor, ACCEPT_ALL)
    post_decision(visitor, CUSTOM)
    post_decision(other, ACCEPT_ALL)
    track(visitor, "https://ansettr.no/a")
    track(other, "https://ansettr.no/b")
    consent_id = visitor.get("/api/consent").get_json()["id"]
    database = open_db(app.config)
    sent = outbox.claim(database, "matomo", 1, "test", time.time())  # the visitor's hit, sent
    assert outbox.delivered(database, sent, "test", time.time(), "2026-01-01") == 1
    track(visitor, "https://ansettr.no/c")
    before = aggregates(database)
    token = erase_token(visitor)

    # Without the token, with the other visitor's, or from another site, nothing is erased.
    assert visitor.post("/mine-data/slett", headers={"Origin": SITE}).status_code == 400
    r = visitor.post(
        "/mine-data/slett", data={"token": erase_token(other)}, headers={"Origin": SITE}
    )
    assert r.status_code == 400
    assert "Skjemaet for sletting er utløpt" in Page(r.get_data(as_text=True)).text
    r = visitor.post(
        "/mine-data/slett", data={"token": token}, headers={"Origin": "https://evil.example"}
    )
    assert r.status_code == 403
    assert "Forespørselen kom fra en annen side" in Page(r.get_data(as_text=True)).text
    assert len(consent_log.history(database, consent_id)) == 2

    r = visitor.post("/mine-data/slett", data={"token": token}, headers={"Origin": SITE})
    assert r.status_code == 200
    assert "Dataene dine er slettet" in Page(r.get_data(as_text=True)).text
    assert any(
        h.startswith("consent=;") and ("Max-Age=0" in h or "Expires=Thu, 01 Jan 1970" in h)
        for h in r.headers.getlist("Set-Cookie")
    )
    assert visitor.get_cookie("consent") is None

    rows = db_rows(database)
    erased = [r for r in rows if r["erased_at"]]
    assert len(erased) == 2
    for row in erased:
        assert all(row[k] is None for k in ("consent_id", "page", "ua_family", "ip_prefix", "salt"))
        assert row["personal_digest"] and row["chain_hash"]
    assert consent_log.history(database, consent_id) == []
    assert sum(1 for r in rows if r["consent_id"]) == 1  # the other visitor is untouched
    assert aggregates(database) == before
    remaining = {r["id"]: r for r in db_rows(database, "outbox")}
    assert len(remaining) == 2, "the visitor's unsent hit is deleted"
    emptied = remaining[sent[0].id]
    assert (emptied["status"], emptied["consent_id"], emptied["payload"]) == ("delivered", None, "")
    others = [r["consent_id"] for r in remaining.values() if r["consent_id"]]
    assert others == [other.get("/api/consent").get_json()["id"]]
    page_text = Page(r.get_data(as_text=True)).text
    assert "Innholdet i 1 hendelse som allerede var sendt" in page_text
    assert "på vei" not in page_text, "nothing was being sent"

    result = runner.invoke(args=["verify-log"])
    assert result.exit_code == 0, result.output
    assert "3 decisions verified" in result.output
    assert visitor.get(f"/receipt/{consent_id}").status_code == 404
    database.close()

    # A second tab's form, sent after the cookie is gone, finds nothing to erase.
    r = visitor.post("/mine-data/slett", data={"token": token}, headers={"Origin": SITE})
    assert r.status_code == 200 and "Ingen data å slette" in r.get_data(as_text=True)


def test_erase_while_a_hit_is_being_sent_says_it_may_still_arrive(gateway_app):
    visitor = gateway_app.test_client()
    post_decision(visitor, ACCEPT_ALL)
    track(visitor, "https://ansettr.no/a")
    track(visitor, "https://ansettr.no/b")
    database = open_db(gateway_app.config)
    sending = outbox.claim(database, "matomo", 1, "deliverer", time.time())
    assert len(sending) == 1

    r = visitor.post(
        "/mine-data/slett", data={"token": erase_token(visitor)}, headers={"Origin": SITE}
    )
    text = Page(r.get_data(as_text=True)).text
    assert "slettet 2 hendelser som ikke var sendt" in text
    assert "1 av disse hendelsene var allerede på vei til Matomo eller Meta" in text
    assert db_rows(database, "outbox") == []

    # The send succeeds after all: it is counted as forwarded, with no row left to mark.
    assert outbox.delivered(database, sending, "deliverer", time.time(), "2026-01-01") == 1
    assert gateway_stats.totals(database, "matomo")["forwarded"] == 1
    database.close()


def test_erase_token_is_signed_and_expires(gateway_app):
    visitor = gateway_app.test_client()
    post_decision(visitor, ACCEPT_ALL)
    consent_id = visitor.get("/api/consent").get_json()["id"]
    secret, salt = gateway_app.config["SECRET_KEY"], self_service.ERASE_SALT

    class AnHourAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - self_service.ERASE_TOKEN_MAX_AGE - 5

    good = erase_token(visitor)
    refused = {
        "forged": URLSafeTimedSerializer("not the secret", salt=salt).dumps(consent_id),
        "tampered": good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
        "expired": URLSafeTimedSerializer(secret, salt=salt, signer=AnHourAgo).dumps(consent_id),
    }
    for kind, token in refused.items():
        r = visitor.post("/mine-data/slett", data={"token": token}, headers={"Origin": SITE})
        assert r.status_code == 400, kind
    database = open_db(gateway_app.config)
    assert len(consent_log.history(database, consent_id)) == 1
    database.close()
    r = visitor.post("/mine-data/slett", data={"token": good}, headers={"Origin": SITE})
    assert r.status_code == 200


def test_mine_data_sets_no_cookie(gateway_app):
    visitor = gateway_app.test_client()
    post_decision(visitor, ACCEPT_ALL)
    for path in ("/mine-data", "/mine-data/slett"):
        r = visitor.get(path)
        assert r.status_code == 200
        assert "Set-Cookie" not in r.headers
    assert 'name="token"' in r.get_data(as_text=True)


def test_erase_confirmation_says_what_goes_and_what_cannot(gateway_app):
    visitor = gateway_app.test_client()
    post_decision(visitor, ACCEPT_ALL)
    post_decision(visitor, CUSTOM)
    track(visitor, "https://ansettr.no/a")
    track(visitor, "https://ansettr.no/b")
    database = open_db(gateway_app.config)
    sent = outbox.claim(database, "matomo", 1, "test", time.time())
    outbox.delivered(database, sent, "test", time.time(), "2026-01-01")
    database.close()
    visitor.set_cookie("_pk_id.1.abcd", "0123456789abcdef.1700000000")
    visitor.set_cookie("_fbp", "fb.1.1700000000000.123")
    visitor.set_cookie("other", "kept")

    page = Page(visitor.get("/mine-data/slett").get_data(as_text=True))
    assert page.headings[0] == ("h1", "Vil du slette dataene dine?")
    assert "samtykke-ID-en, sidene, nettlesertypen og nettverket i 2 valg" in page.text
    assert "1 hendelse som ennå ikke er sendt" in page.text
    assert "kopien vi har av 1 hendelse som allerede er sendt" in page.text
    assert "_fbp, _pk_id.1.abcd" in page.text and "other" not in page.text
    assert "1 hendelse er allerede sendt til Matomo (127.0.0.1)" in page.text
    assert "Den kan vi ikke hente tilbake herfra" in page.text
    assert [a["action"] for a in page.find("form")] == ["/mine-data/slett?lang=nb"]
    nn = Page(visitor.get("/mine-data/slett?lang=nn").get_data(as_text=True))
    assert nn.headings[0] == ("h1", "Vil du slette dataa dine?")

    # Nothing is erased by looking at the confirmation.
    assert len(visitor.get("/mine-data.json").get_json()["decisions"]) == 2


def test_erase_deletes_the_tracker_cookies_in_the_same_response(tmp_path):
    app = create_app(make_config(tmp_path, MATOMO_URL="http://127.0.0.1:9/"))
    visitor = app.test_client()
    post_decision(visitor, ACCEPT_ALL)
    for name in ("_pk_id.1.abcd", "_pk_ses.1.abcd", "_fbp", "_fbc", "unrelated"):
        visitor.set_cookie(name, "1", domain="localhost")
    token = erase_token(visitor)
    r = visitor.post("/mine-data/slett", data={"token": token}, headers={"Origin": SITE})
    assert r.status_code == 200
    expired = {}
    for header in r.headers.getlist("Set-Cookie"):
        name = header.split("=", 1)[0]
        assert "Max-Age=0" in header or "Expires=Thu, 01 Jan 1970" in header, header
        domain = re.search(r"Domain=([^;]+)", header)
        expired.setdefault(name, set()).add(domain[1] if domain else None)
    assert set(expired) == {"consent", "_pk_id.1.abcd", "_pk_ses.1.abcd", "_fbp", "_fbc"}
    text = Page(r.get_data(as_text=True)).text
    assert (
        "Vi har også slettet informasjonskapslene _fbc, _fbp, _pk_id.1.abcd, _pk_ses.1.abcd" in text
    )

    # With COOKIE_DOMAIN, where the gateway sets _fbp, they are deleted there too.
    shared = create_app(make_config(tmp_path / "shared", COOKIE_DOMAIN="ansettr.no"))
    with shared.test_request_context():
        response = shared.response_class()
        self_service.delete_cookies(response, ["_fbp"])
    domains = [re.search(r"Domain=([^;]+)", h) for h in response.headers.getlist("Set-Cookie")]
    assert [d[1] if d else None for d in domains] == [None, "ansettr.no"]


# -- an old copy of the cookie ------------------------------------------------------------
# Whoever holds an old copy of a visitor's cookie (another profile, a restored backup,
# someone who copied it) is not the visitor's latest decision: they see, download and erase
# nothing. The cookie carrying the latest decision still does, expired or stale or not.

LATER = {**CUSTOM, "lang": "en", "page": "https://ansettr.no/stillinger/senere"}


def copied_then_changed(app):
    """A accepts, B gets a copy of A's cookie, then A decides again (in English) and is tracked."""
    a = app.test_client()
    post_decision(a, {**ACCEPT_ALL, "page": "https://ansettr.no/stillinger"})
    b = app.test_client()
    b.set_cookie("consent", consent_value(a))
    b_token = helpers.erase_token(b)  # handed out while B's copy was still the latest
    post_decision(a, LATER, remote_addr="203.0.113.9")
    assert track(a, "https://ansettr.no/stillinger/hemmelig").status_code == 204
    return a, b, b_token


def no_record_views(app):
    """What a browser that never decided gets from the three self-service pages."""
    stranger = app.test_client()
    return (
        Page(stranger.get("/mine-data").get_data(as_text=True)).text,
        stranger.get("/mine-data.json").get_json(),
        Page(stranger.get("/mine-data/slett").get_data(as_text=True)).text,
    )


def assert_sees_nothing(app, client, consent_id):
    page, download, confirm = no_record_views(app)
    r = client.get("/mine-data")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert Page(html).text == page, "an old copy is a browser without a decision"
    assert consent_id not in html and "senere" not in html and "hemmelig" not in html
    data = client.get("/mine-data.json").get_json()
    assert data.keys() == download.keys() and data["consent_id"] is None
    assert "decisions" not in data and "gateway_items" not in data
    html = client.get("/mine-data/slett").get_data(as_text=True)
    assert Page(html).text == confirm and 'name="token"' not in html
    for path in (f"/receipt/{consent_id}", f"/receipt/{consent_id}?format=json"):
        assert client.get(path).status_code == 404
    assert receipt_json(client, f"/receipt/{consent_id}").status_code == 404


def assert_held(database, consent_id, decisions, items):
    assert len(consent_log.history(database, consent_id)) == decisions
    rows = [r for r in db_rows(database, "outbox") if r["consent_id"] == consent_id]
    assert len(rows) == items


def assert_own_record(client, consent_id, methods):
    """The browser with the latest decision sees its record, downloads it, gets its receipt."""
    page = Page(client.get("/mine-data").get_data(as_text=True))
    assert f"/receipt/{consent_id}" in "".join(page.links)
    data = client.get("/mine-data.json").get_json()
    assert data["consent_id"] == consent_id
    assert [d["method"] for d in data["decisions"]] == methods
    assert 'name="token"' in client.get("/mine-data/slett").get_data(as_text=True)
    receipt = receipt_json(client, f"/receipt/{consent_id}")
    assert receipt.status_code == 200
    assert [d["method"] for d in receipt.get_json()["decisions"]] == methods
    assert client.get(f"/receipt/{consent_id}").status_code == 200


def erase_with(client, token):
    r = client.post("/mine-data/slett", data={"token": token}, headers={"Origin": SITE})
    assert r.status_code == 200
    return Page(r.get_data(as_text=True)).text


def test_an_old_copy_of_the_cookie_sees_nothing_of_the_visitors_later_choices(gateway_app):
    a, b, _ = copied_then_changed(gateway_app)
    consent_id = a.get("/api/consent").get_json()["id"]
    # Not even the language the visitor chose since: B's pages are a stranger's, in bokmål.
    assert_sees_nothing(gateway_app, b, consent_id)
    assert "lang=en" in "".join(Page(a.get("/mine-data").get_data(as_text=True)).links)

    # The visitor's own browser still sees all of it, the later choice and hit included.
    assert_own_record(a, consent_id, ["accept_all", "custom"])
    data = a.get("/mine-data.json").get_json()
    assert data["decisions"][1]["page"] == "https://ansettr.no/stillinger/senere"
    assert dict(data["gateway_items"][0]["payload"])["url"].endswith("/hemmelig")


def test_an_old_copy_of_the_cookie_cannot_erase_the_visitors_record(gateway_app):
    a, b, old_token = copied_then_changed(gateway_app)
    consent_id = a.get("/api/consent").get_json()["id"]
    database = open_db(gateway_app.config)
    assert_held(database, consent_id, decisions=2, items=1)

    # Neither with the token handed out while its copy was current, nor with the visitor's own.
    old_copy = consent_value(b)
    for token in (old_token, helpers.erase_token(a)):
        b.set_cookie("consent", old_copy)  # erasing clears the cookie it came with
        assert "Ingen data å slette" in erase_with(b, token)
        assert_held(database, consent_id, decisions=2, items=1)
    assert a.get(f"/receipt/{consent_id}").status_code == 200
    assert_own_record(a, consent_id, ["accept_all", "custom"])

    # The visitor's own cookie still erases.
    assert "Dataene dine er slettet" in erase_with(a, helpers.erase_token(a))
    assert_held(database, consent_id, decisions=0, items=0)
    database.close()


def signed_decision(app, database, consent_id, when, choices, method):
    """A decision logged at ``when`` and the cookie the API signed for it then."""
    policy = app.extensions["consentmgr.policy"]
    helpers.decide(app, database, consent_id, when=when, choices=choices, method=method)
    granted = frozenset(c for c, on in choices.items() if on)
    consent = Consent(consent_id, policy.version, granted, when.replace(microsecond=0))
    return consent_cookie.encode(app, consent)


def test_the_latest_cookie_reaches_its_data_after_it_expired(app, database):
    """Past CONSENT_MAX_AGE_DAYS the banner asks again, but the data is still the visitor's."""
    days = app.config["CONSENT_MAX_AGE_DAYS"]
    then = datetime.now(UTC) - timedelta(days=days + 20)
    old = signed_decision(app, database, "exp-id", then, ACCEPT_ALL["choices"], "accept_all")
    latest = signed_decision(
        app, database, "exp-id", then + timedelta(days=1), CUSTOM["choices"], "custom"
    )
    visitor, copy = app.test_client(), app.test_client()
    visitor.set_cookie("consent", latest)
    copy.set_cookie("consent", old)
    state = visitor.get("/api/consent").get_json()
    assert state["decided"] is False and state["stale"] is True, "the cookie has expired"

    assert_own_record(visitor, "exp-id", ["accept_all", "custom"])
    assert_sees_nothing(app, copy, "exp-id")
    assert "Ingen data å slette" in erase_with(copy, helpers.erase_token(visitor))
    assert_held(database, "exp-id", decisions=2, items=0)
    assert "Dataene dine er slettet" in erase_with(visitor, helpers.erase_token(visitor))
    assert_held(database, "exp-id", decisions=0, items=0)


def test_the_latest_cookie_reaches_its_data_after_the_policy_version_changed(
    tmp_path, config, database
):
    before = create_app(config)
    a, b, _ = copied_then_changed(before)
    consent_id = a.get("/api/consent").get_json()["id"]
    content = helpers.shipped_policy()
    content["categories"][1]["vendors"].append({"id": "hotjar", "name": "Hotjar"})
    path = tmp_path / "new-version.json"
    path.write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
    after = create_app({**config, "POLICY_FILE": str(path)})
    assert after.extensions["consentmgr.policy"].version != (
        before.extensions["consentmgr.policy"].version
    )
    visitor, copy = after.test_client(), after.test_client()
    visitor.set_cookie("consent", consent_value(a))
    copy.set_cookie("consent", consent_value(b))
    assert visitor.get("/api/consent").get_json()["stale"] is True, "a cookie of the old version"

    assert_own_record(visitor, consent_id, ["accept_all", "custom"])
    assert_sees_nothing(after, copy, consent_id)
    assert "Ingen data å slette" in erase_with(copy, helpers.erase_token(visitor))
    assert_held(database, consent_id, decisions=2, items=0)
    assert "Dataene dine er slettet" in erase_with(visitor, helpers.erase_token(visitor))
    assert_held(database, consent_id, decisions=0, items=0)


# -- retention ----------------------------------------------------------------------------


def test_an_old_copy_that_decides_again_does_not_take_over_the_record(gateway_app):
    a, b, _ = copied_then_changed(gateway_app)
    consent_id = a.get("/api/consent").get_json()["id"]
    assert post_decision(b, REJECT_ALL).status_code == 201
    data = b.get("/mine-data.json").get_json()
    assert data["consent_id"] != consent_id
    assert [d["method"] for d in data["decisions"]] == ["reject_all"]
    assert_own_record(a, consent_id, ["accept_all", "custom"])
