"""Tests for proof.privacy_page: /personvern and the statement parser."""

import pytest
from helpers import ROOT, Page, make_config

from consentmgr import create_app
from consentmgr.config import ConfigError
from consentmgr.proof import privacy_page

STATEMENT = ROOT / "consentmgr" / "proof" / "personvernerklaering.txt"
# The statement's section titles, as written in the source text, in order.
STATEMENT_HEADINGS = [
    "Personvernerklæring",
    "Hva er personopplysninger?",
    "Hvem er behandlingsansvarlig?",
    "Formålet med behandlingen",
    "Hva brukes personopplysningene til?",
    "Endring og sletting",
    "Oversikt over datautveksling med tredjeparter",
]
OPT_OUT_START = "You may choose to prevent this website from aggregating"


def test_personvern_has_every_heading_and_paragraph_of_the_statement(client):
    source = STATEMENT.read_text(encoding="utf-8")
    source_lines = [line.strip() for line in source.splitlines()]
    assert all(h in source_lines for h in STATEMENT_HEADINGS)

    r = client.get("/personvern")
    assert r.status_code == 200
    page = Page(r.get_data(as_text=True))
    assert [text for _, text in page.headings] == STATEMENT_HEADINGS
    assert [tag for tag, _ in page.headings] == ["h1"] + ["h2"] * (len(STATEMENT_HEADINGS) - 1)
    assert page.find("html")[0]["lang"] == "nb"

    paragraphs = [b.strip() for b in source.split("\n\n") if b.strip()]
    body = [p for p in paragraphs if p not in STATEMENT_HEADINGS]
    for paragraph in body:
        if paragraph.startswith(OPT_OUT_START):
            assert OPT_OUT_START not in page.text
        else:
            assert " ".join(paragraph.split()) in page.text, paragraph[:60]


def test_personvern_structures_links_and_carries_the_banner_and_widget(client):
    page = Page(client.get("/personvern").get_data(as_text=True))
    assert {"src": "/consent.js", "defer": None} in page.find("script")
    assert len(page.find("div", data_consent_preferences=None)) == 1
    assert "https://www.datatilsynet.no/om-personvern/personopplysninger/" in page.links
    assert "mailto:post@ansettr.no" in page.links
    assert "/mine-data" in page.links
    assert "Dine valg om informasjonskapsler" in page.text
    # every section is a labelled region, reachable from the table of contents
    sections = page.find("section")
    assert len(sections) == len(STATEMENT_HEADINGS) - 1
    assert {f"#{s['aria-labelledby']}" for s in sections} <= set(page.links)


def test_statement_file_of_the_instance_replaces_the_shipped_text(tmp_path, instance_folder):
    instance_folder.mkdir(parents=True, exist_ok=True)
    (instance_folder / "erklaering.txt").write_text(
        "Vår erklæring\n\nVi samler lite. Skriv til dpo@example.no.\n\n"
        "Hva vi lagrer\n\n- Valget ditt\n- Tidspunktet, se https://example.no/logg.\n",
        encoding="utf-8",
    )
    app = create_app(make_config(tmp_path, PRIVACY_STATEMENT_FILE="erklaering.txt"))
    html = app.test_client().get("/personvern").get_data(as_text=True)
    page = Page(html)
    assert [t for _, t in page.headings] == ["Vår erklæring", "Hva vi lagrer"]
    assert "<ul><li>Valget ditt</li>" in html
    assert "https://example.no/logg" in page.links  # the sentence's full stop is not in the link
    assert "mailto:dpo@example.no" in page.links
    # no opt-out paragraph in this text: the choices still appear, at the end
    assert html.index("Hva vi lagrer") < html.index("data-consent-preferences")

    with pytest.raises(ConfigError, match="PRIVACY_STATEMENT_FILE"):
        create_app(make_config(tmp_path / "b", PRIVACY_STATEMENT_FILE="finnes-ikke.txt"))


def test_statement_parser_rules():
    statement = privacy_page.parse(
        "Tittel\n\nInnledning som er en setning.\n\nKort del\n\n1. en\n2. to\n\n"
        "You may choose to prevent this website from aggregating and analyzing the actions."
    )
    assert statement.headings == ["Tittel", "Kort del"]
    assert [b.kind for b in statement.intro] == ["p"]
    assert [b.kind for b in statement.sections[0].blocks] == ["ol", "choices"]
    assert privacy_page.linkify("<b> a@b.no") == '&lt;b&gt; <a href="mailto:a@b.no">a@b.no</a>'


# -- receipts ---------------------------------------------------------------------------
