"""Tests for web.i18n and the visitor error pages: one catalogue, three languages."""

import re
from datetime import UTC, datetime

import pytest
from flask import abort
from helpers import ACCEPT_ALL, Page, make_config, post_decision

from consentmgr import create_app
from consentmgr.web import i18n

LANGS = ("nb", "nn", "en")


def test_every_key_exists_in_bokmal_nynorsk_and_english_with_the_same_placeholders():
    texts = i18n.catalogue()
    assert set(texts) == set(LANGS)
    keys = set(texts["nb"])
    assert len(keys) > 150
    for lang in LANGS:
        assert set(texts[lang]) == keys, lang
    i18n.check(texts)  # the same check start-up makes

    broken = {lang: dict(texts[lang]) for lang in LANGS}
    del broken["nn"]["mine.title"]
    broken["en"]["receipt.decision"] = "Choice {number}"
    with pytest.raises(i18n.CatalogueError) as e:
        i18n.check(broken)
    assert "mine.title is missing in nn" in str(e.value)
    assert "receipt.decision has different placeholders" in str(e.value)


def test_language_tags():
    assert [i18n.from_tag(t) for t in ("nb-NO", "no", "NN_no", "en-GB", "de", "", None)] == [
        "nb",
        "nb",
        "nn",
        "en",
        None,
        None,
        None,
    ]


@pytest.mark.parametrize(
    "lang, moment, shown",
    [
        ("nb", "2026-05-24T01:14:20+00:00", "24. mai 2026 kl. 03.14.20 norsk sommertid (UTC+2)"),
        ("nn", "2026-05-24T01:14:20+00:00", "24. mai 2026 kl. 03.14.20 norsk sommartid (UTC+2)"),
        (
            "en",
            "2026-01-05T23:30:00+00:00",
            "6 January 2026, 00:30:00 Norwegian standard time (UTC+1)",
        ),
        ("nb", 1767655800.0, "6. januar 2026 kl. 00.30.00 norsk normaltid (UTC+1)"),
    ],
)
def test_times_are_norwegian_time_with_the_zone_named(app, lang, moment, shown):
    with app.test_request_context():
        html = str(i18n.Texts(lang).when(moment))
    assert re.fullmatch(r'<time datetime="[^"]+">(.*)</time>', html)[1] == shown
    assert "UTC</" not in html


def test_texts_escape_their_values_and_pick_plurals(app):
    with app.test_request_context():
        t = i18n.Texts("nb")
        assert str(t("unit.days", n=1)) == "1 dag"
        assert str(t("unit.days", n=2)) == "2 dager"
        assert str(t("mine.item", target="<b>", status="x", received="y")) == (
            "<strong>&lt;b&gt;</strong>, x, tatt imot y."
        )


# Words only bokmål has, from the texts this issue put right: nynorsk pages must
# use none of them (the nynorsk forms in brackets).
BOKMAL_ONLY = {
    "ikke",  # ikkje
    "hva",  # kva
    "hvem",  # kven
    "hvor",  # kvar, kor
    "hvordan",  # korleis
    "hvilke",  # kva
    "hvilken",  # kva
    "hvis",  # viss
    "noe",  # noko
    "noen",  # nokon
    "fra",  # frå
    "bare",  # berre
    "ble",  # vart
    "ennå",  # enno
    "uten",  # utan
    "fantes",  # fanst
    "leverandører",  # leverandørar
    "rettslig",  # rettsleg
    "nødvendige",  # naudsynte
    "nødvendig",  # naudsynt
    "valget",  # valet
    "valgene",  # vala
    "valgte",  # valde
    "dataene",  # dataa
    "lagret",  # lagra
    "lagres",  # blir lagra
    "slettet",  # sletta
    "slettes",  # blir sletta
    "sendes",  # blir sende
    "vises",  # blir viste
    "nettleseren",  # nettlesaren
    "nettleser",  # nettlesar
    "bruker",  # brukar
    "mottatt",  # teke imot
    "tatt",  # teke
    "treff",  # hendingar
    "hendelse",  # hending
    "hendelser",  # hendingar
    "tjenesten",  # tenesta
    "siden",  # sida
    "kvitteringen",  # kvitteringa
    "innholdet",  # innhaldet
    "personlige",  # personlege
    "daglig",  # dagleg
    "behandlingsansvarlig",  # behandlingsansvarleg
    "utstedt",  # utferda
    "antall",  # tal på
}


def words(html: str) -> set[str]:
    """The words a visitor reads, without code, ids, hashes and addresses."""
    html = re.sub(r"<code[^>]*>.*?</code>", " ", html, flags=re.S)
    text = re.sub(r"https?://\S+|\S+@\S+", " ", Page(html).text)
    return {w.lower() for w in re.findall(r"[^\W\d_]+", text)}


def test_a_nynorsk_decisions_pages_are_in_nynorsk(client):
    r = post_decision(client, {**ACCEPT_ALL, "lang": "nn", "page": "https://ansettr.no/"})
    receipt = r.get_json()["receipt"]
    pages = {
        "receipt": client.get(receipt),
        "mine-data": client.get("/mine-data"),
        "erase": client.get("/mine-data/slett"),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        html = response.get_data(as_text=True)
        assert Page(html).find("html")[0]["lang"] == "nn", name
        found = words(html) & BOKMAL_ONLY
        assert not found, f"{name}: {sorted(found)}"
    # The list does catch bokmål: the same pages in bokmål hold many of these words.
    assert len(words(client.get(receipt + "?lang=nb").get_data(as_text=True)) & BOKMAL_ONLY) > 5
    assert len(words(client.get("/mine-data?lang=nb").get_data(as_text=True)) & BOKMAL_ONLY) > 5


def test_receipt_and_mine_data_in_the_three_languages(client):
    receipt = post_decision(client, {**ACCEPT_ALL, "lang": "nn"}).get_json()["receipt"]
    expected = {
        "nb": ("Samtykkekvittering", "Rettslig grunnlag", "nynorsk (nn)", "Mine data"),
        "nn": ("Samtykkekvittering", "Rettsleg grunnlag", "nynorsk (nn)", "Dataa mine"),
        "en": ("Consent receipt", "Legal basis", "Norwegian Nynorsk (nn)", "My data"),
    }
    for lang, (title, basis, language, my_data) in expected.items():
        page = Page(client.get(f"{receipt}?lang={lang}").get_data(as_text=True))
        assert page.headings[0] == ("h1", title)
        assert basis in page.text and language in page.text
        assert page.find("a", href=f"/mine-data?lang={lang}")
        mine = Page(client.get(f"/mine-data?lang={lang}").get_data(as_text=True))
        assert mine.headings[0] == ("h1", my_data)
        assert f"/receipt/{receipt.rsplit('/', 1)[1]}?lang={lang}" in mine.links
        zone = {"nb": "norsk", "nn": "norsk", "en": "Norwegian"}[lang]
        assert re.search(rf"\d{{4}}(,| kl\.) \d\d[.:]\d\d[.:]\d\d {zone} ", mine.text)


@pytest.fixture
def failing_app(tmp_path):
    app = create_app(make_config(tmp_path))

    @app.get("/feil/<int:status>")
    def fail(status):
        if status == 429:
            from werkzeug.exceptions import TooManyRequests

            raise TooManyRequests(retry_after=30)
        abort(status)

    return app


@pytest.mark.parametrize("status", [400, 403, 404, 429, 500, 503])
def test_visitor_error_pages_in_three_languages(failing_app, status):
    client = failing_app.test_client()
    titles = set()
    for lang in LANGS:
        r = client.get(f"/feil/{status}?lang={lang}")
        assert r.status_code == status
        assert r.mimetype == "text/html"
        page = Page(r.get_data(as_text=True))
        assert page.find("html")[0]["lang"] == lang
        [(_, title)] = [h for h in page.headings if h[0] == "h1"]
        titles.add(title)
        assert str(status) in page.text
        assert f"/personvern?lang={lang}" in page.links
        assert "Werkzeug" not in page.text and "Not Found" not in page.text
        if status == 429:
            assert r.headers["Retry-After"] == "30"
    assert len(titles) == 3, "a title per language"


def test_unknown_pages_and_receipts_are_visitor_404s(client):
    for path in ("/", "/finnes-ikke", "/receipt/ukjent-id"):
        r = client.get(path, headers={"Accept-Language": "nn"})
        assert r.status_code == 404
        assert Page(r.get_data(as_text=True)).headings[0] == ("h1", "Fann ikkje sida"), path
    # Machine endpoints keep their own answers.
    assert client.get("/receipt/ukjent-id", headers={"Accept": "application/json"}).get_json()
    for path in ("/api/finnes-ikke", "/admin/finnes-ikke"):
        assert "Fann ikkje" not in client.get(path).get_data(as_text=True), path


def test_datetime_handles_utc_now(app):
    with app.test_request_context():
        assert "norsk" in str(i18n.Texts("nb").when(datetime.now(UTC)))


def test_an_earlier_handler_still_answers_machine_requests(tmp_path, monkeypatch):
    from consentmgr.web import errors

    registered = errors.init_app

    def with_json_429(app):
        registered(app)
        app.register_error_handler(429, lambda e: ({"error": "slow down"}, 429))

    monkeypatch.setattr(errors, "init_app", with_json_429)
    app = create_app(make_config(tmp_path))

    @app.get("/api/test-busy")
    @app.get("/test-busy")
    def busy():
        abort(429)

    client = app.test_client()
    assert client.get("/api/test-busy").get_json() == {"error": "slow down"}
    page = Page(client.get("/test-busy?lang=en").get_data(as_text=True))
    assert page.headings[0] == ("h1", "Too many requests")
