"""Tests for proof.self_service: /mine-data, downloads and erasure."""

import re
import time

import helpers
import pytest
from helpers import (
    ACCEPT_ALL,
    CUSTOM,
    SITE,
    Page,
    aggregates,
    db_rows,
    make_config,
    open_db,
    post_decision,
)
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from consentmgr import create_app
from consentmgr.consent import log as consent_log
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


# -- retention ----------------------------------------------------------------------------
