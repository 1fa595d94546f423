"""Tests for proof.privacy_page and proof.statement: /personvern, generated from the truth."""

import json
import re

import pytest
from helpers import ROOT, Page, make_config, shipped_policy

from consentmgr import create_app
from consentmgr.config import ConfigError
from consentmgr.gateway.meta import endpoint as meta_endpoint
from consentmgr.proof import privacy_page, statement

OWN_TEXT = ROOT / "consentmgr" / "proof" / "personvernerklaering.{lang}.txt"
GENERATED_HEADINGS = {
    "nb": ["Informasjonskapsler og samtykke", "Samtykkeloggen", "Hvor dataene går"],
    "nn": ["Informasjonskapslar og samtykke", "Samtykkeloggen", "Kvar dataa går"],
    "en": ["Cookies and consent", "The consent log", "Where data goes"],
}
PRODUCTION = {
    "MATOMO_URL": "https://ansettr.matomo.cloud/",
    "META_PIXEL_ID": "1234567890",
    "META_ACCESS_TOKEN": "token",
}


def statement_text(tmp_path, lang="nb", **config):
    """The text of /personvern's main part, as a visitor reads it."""
    app = create_app(make_config(tmp_path, **config))
    html = app.test_client().get(f"/personvern?lang={lang}").get_data(as_text=True)
    main = html[html.index("<main") : html.index("</main>")]
    return Page(main).text


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?:;])\s+", text) if s]


@pytest.mark.parametrize("lang", ["nb", "nn", "en"])
def test_personvern_has_every_heading_and_paragraph_of_the_own_text(client, lang):
    source = OWN_TEXT.with_name(OWN_TEXT.name.format(lang=lang)).read_text(encoding="utf-8")
    blocks = [b.strip() for b in source.split("\n\n") if b.strip()]
    mark = blocks.index(privacy_page.GENERATED_MARK)
    own_headings = [b for b in blocks if privacy_page.is_heading(b)]
    before = [h for h in own_headings if blocks.index(h) < mark]
    after = [h for h in own_headings if blocks.index(h) > mark]

    r = client.get(f"/personvern?lang={lang}")
    assert r.status_code == 200
    assert {"Accept-Language", "Cookie"} <= set(r.vary)
    page = Page(r.get_data(as_text=True))
    assert page.find("html")[0]["lang"] == lang
    assert [text for _, text in page.headings if _ in ("h1", "h2")] == (
        before + GENERATED_HEADINGS[lang] + after
    )
    for paragraph in blocks:
        if paragraph != privacy_page.GENERATED_MARK and paragraph not in own_headings:
            assert " ".join(paragraph.split()) in page.text, paragraph[:60]
    # The other two languages are offered, each named in itself.
    offered = {a["hreflang"]: a["href"] for a in page.find("a") if "hreflang" in a}
    assert set(offered) == {"nb", "nn", "en"} - {lang}
    assert all(href == f"/personvern?lang={code}" for code, href in offered.items())


def test_personvern_structures_links_and_carries_the_banner_and_widget(client):
    page = Page(client.get("/personvern?lang=nb").get_data(as_text=True))
    assert {"src": "/consent.js", "defer": None} in page.find("script")
    assert len(page.find("div", data_consent_preferences=None)) == 1
    assert "https://www.datatilsynet.no/" in page.links
    assert "https://www.brevo.com/legal/privacypolicy/" in page.links
    assert "mailto:post@ansettr.no" in page.links
    assert "/mine-data?lang=nb" in page.links
    assert "Dine valg om informasjonskapsler" in page.text
    sections = page.find("section")
    assert {f"#{s['aria-labelledby']}" for s in sections} <= set(page.links)
    assert "Behandlingsansvarlig: Ansettr AS" in page.text
    assert "consentmgr" not in page.text


def test_language_follows_lang_then_decision_then_accept_language(client):
    def lang_of(path="/personvern", **headers):
        return Page(client.get(path, headers=headers).get_data(as_text=True)).find("html")[0][
            "lang"
        ]

    assert lang_of() == "nb"
    assert lang_of(**{"Accept-Language": "de, en-GB;q=0.8, nb;q=0.5"}) == "en"
    assert lang_of(**{"Accept-Language": "no"}) == "nb"
    assert lang_of("/personvern?lang=nn-NO", **{"Accept-Language": "en"}) == "nn"
    assert lang_of("/personvern?lang=de", **{"Accept-Language": "en"}) == "en"
    from helpers import post_decision

    post_decision(client, {"choices": {}, "method": "reject_all", "lang": "nn"})
    assert lang_of(**{"Accept-Language": "en"}) == "nn", "the decided language wins"
    assert lang_of("/personvern?lang=en") == "en", "an explicit ?lang= wins over it"


def test_statement_follows_the_configuration(tmp_path):
    default = statement_text(tmp_path / "a")
    assert "Etter 400 dager fjerner vi samtykke-ID-en" in default
    assert "valget gjelder i 180 dager" in default
    assert "consent (180 dager)" in default
    assert "Videresending til Meta er ikke slått på" in default
    assert "Videresending til Matomo er ikke slått på" in default

    changed = statement_text(
        tmp_path / "b", RETENTION_DAYS=30, CONSENT_MAX_AGE_DAYS=90, COOKIE_NAME="samtykke"
    )
    assert "Etter 30 dager fjerner vi samtykke-ID-en" in changed
    assert "Etter 400 dager" not in changed
    assert "valget gjelder i 90 dager" in changed
    assert "samtykke (90 dager)" in changed

    on = statement_text(tmp_path / "c", **PRODUCTION)
    assert "sender vår server sidevisningene dine til Matomo på ansettr.matomo.cloud" in on
    assert "Meta Platforms Ireland Ltd. gjennom Metas Conversions API" in on
    for what in ("IP-adressen din", "nettleserstrengen", "_fbp", "_fbc", "SHA-256-hash"):
        assert what in on.split("Meta og Facebook")[1], what
    assert "Videresending til" not in on

    meta_off = statement_text(tmp_path / "d", **{**PRODUCTION, "META_PIXEL_ID": ""})
    assert "Videresending til Meta er ikke slått på" in meta_off
    assert "Metas Conversions API" not in meta_off
    assert "Matomo på ansettr.matomo.cloud" in meta_off


def test_a_changed_setting_quoted_by_the_policy_makes_a_new_revision(tmp_path):
    config = make_config(tmp_path)
    first = create_app(config).extensions["consentmgr.policy"]
    second = create_app({**config, "CONSENT_MAX_AGE_DAYS": 90}).extensions["consentmgr.policy"]
    assert second.version == first.version, "the purposes did not change"
    assert second.revision == first.revision + 1, "the words did"
    necessary = second.content["categories"][0]
    assert necessary["texts"]["nb"]["retention"] == "Samtykkevalget lagres i 90 dager."
    assert necessary["cookies"] == [{"name": "consent", "max_age": "90 days"}]


SENDS = re.compile(r"\b(send\w*|varsel|notif\w*|report\w*|overf\w*|transfer\w*)", re.IGNORECASE)
BROWSER = re.compile(
    r"\b(nettles\w*|browser\w*|datamaskin\w*|computer|informasjonskaps\w*|cookie\w*|piksel\w*|pixel)",
    re.IGNORECASE,
)
NEGATION = re.compile(r"\b(aldri|ikke|ikkje|never|not)\b", re.IGNORECASE)


def claims_browser_sends_to_facebook(sentence: str) -> bool:
    return (
        bool(re.search(r"Facebook|Meta\b", sentence))
        and bool(SENDS.search(sentence))
        and bool(BROWSER.search(sentence))
        and not NEGATION.search(sentence)
    )


def test_the_seed_sentence_would_be_caught():
    seed = (
        "For å muliggjøre dette blir det plassert en informasjonskapsel på datamaskinen din"
        " som sender et varsel til Facebook om at du har vært på nettsiden."
    )
    assert claims_browser_sends_to_facebook(seed)


@pytest.mark.parametrize("lang", ["nb", "nn", "en"])
def test_no_sentence_claims_the_browser_sends_to_facebook_while_the_shim_is_used(tmp_path, lang):
    for n, config in enumerate(({}, PRODUCTION)):
        app_config = make_config(tmp_path / str(n), **config)
        assert "fbq" in create_app(app_config).config["BUNDLE_SCRIPTS"]
        text = statement_text(tmp_path / f"{n}b", lang, **config)
        wrong = [s for s in sentences(text) if claims_browser_sends_to_facebook(s)]
        assert wrong == []
        assert "anonymisert" not in text and "anonymised" not in text


def test_policy_cookie_lifetimes_are_the_ones_the_code_sets():
    policy = shipped_policy()
    lifetimes = {
        c["name"]: statement.lifetime(c["max_age"])
        for cat in policy["categories"]
        for c in cat["cookies"]
    }
    assert lifetimes["_fbp"] == lifetimes["_fbc"] == (meta_endpoint.COOKIE_MAX_AGE // 86400, "days")
    tracker = (ROOT / "static" / "js" / "matomo.js").read_text(encoding="utf-8")
    seconds = int(re.search(r"_pk_id[^\n]*\n(?:.*\n){0,8}?.*Max-Age=(\d+)", tracker)[1])
    assert lifetimes["_pk_id.*"] == (13, "months") and 390 <= seconds / 86400 <= 396


def test_statement_file_of_the_instance_replaces_the_shipped_text(tmp_path, instance_folder):
    instance_folder.mkdir(parents=True, exist_ok=True)
    (instance_folder / "erklaering.txt").write_text(
        "Vår erklæring\n\nVi samler lite. Skriv til dpo@example.no.\n\n"
        "Hva vi lagrer\n\n- Valget ditt\n- Tidspunktet, se https://example.no/logg.\n\n"
        "Vi bruker Matomo og Facebook-pikselen.\n",
        encoding="utf-8",
    )
    app = create_app(make_config(tmp_path, PRIVACY_STATEMENT_FILE="erklaering.txt"))
    client = app.test_client()
    html = client.get("/personvern").get_data(as_text=True)
    page = Page(html)
    assert [t for _, t in page.headings] == ["Vår erklæring", "Hva vi lagrer"]
    assert "<ul><li>Valget ditt</li>" in html
    assert "https://example.no/logg" in page.links  # the sentence's full stop is not in the link
    assert "mailto:dpo@example.no" in page.links
    # no opt-out paragraph in this text: the choices still appear, at the end
    assert html.index("Hva vi lagrer") < html.index("data-consent-preferences")
    # In English, the page says the statement is in bokmål and marks it so.
    english = Page(client.get("/personvern?lang=en").get_data(as_text=True))
    assert "This statement is only available in Norwegian Bokmål." in english.text
    assert {"lang": "nb"} in english.find("div")

    with pytest.raises(ConfigError, match="PRIVACY_STATEMENT_FILE"):
        create_app(make_config(tmp_path / "b", PRIVACY_STATEMENT_FILE="finnes-ikke.txt"))


def test_a_statement_per_language(tmp_path, instance_folder):
    instance_folder.mkdir(parents=True, exist_ok=True)
    for lang in ("nb", "nn", "en"):
        (instance_folder / f"erklaering.{lang}.txt").write_text(
            f"Tittel {lang}\n\nMatomo og Meta, på {lang}.\n", encoding="utf-8"
        )
    app = create_app(make_config(tmp_path, PRIVACY_STATEMENT_FILE="erklaering.{lang}.txt"))
    for lang in ("nb", "nn", "en"):
        page = Page(app.test_client().get(f"/personvern?lang={lang}").get_data(as_text=True))
        assert page.headings[0] == ("h1", f"Tittel {lang}")
        assert "only available" not in page.text


def test_own_statement_is_checked_against_the_policy(tmp_path, instance_folder, caplog):
    instance_folder.mkdir(parents=True, exist_ok=True)
    (instance_folder / "erklaering.txt").write_text(
        "Personvern\n\nVi bruker Google Analytics og Facebook-pikselen.\n", encoding="utf-8"
    )
    config = make_config(tmp_path, PRIVACY_STATEMENT_FILE="erklaering.txt")
    with caplog.at_level("WARNING"):
        app = create_app(config)
    warned = [r.getMessage() for r in caplog.records]
    assert any("does not mention Matomo (category analytics)" in w for w in warned), warned
    assert any("names Google Analytics, which no category" in w for w in warned), warned
    assert not any("Meta" in w for w in warned), "Facebook counts as Meta"

    result = app.test_cli_runner().invoke(args=["check-statement"])
    assert result.exit_code == 1
    assert "does not mention Matomo" in result.output
    assert "names Google Analytics" in result.output

    (instance_folder / "erklaering.txt").write_text(
        "Personvern\n\nVi bruker Matomo og Meta.\n", encoding="utf-8"
    )
    caplog.clear()
    with caplog.at_level("WARNING"):
        app = create_app(config)
    assert not [r for r in caplog.records if "PRIVACY_STATEMENT_FILE" in r.getMessage()]
    result = app.test_cli_runner().invoke(args=["check-statement"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok:")


def test_check_statement_on_the_shipped_statement(runner):
    result = runner.invoke(args=["check-statement"])
    assert result.exit_code == 0, result.output
    assert "generated from the policy" in result.output


def test_a_policy_vendor_without_words_in_the_statement(tmp_path):
    content = shipped_policy()
    content["categories"][2]["vendors"].append({"id": "hotjar", "name": "Hotjar Ltd."})
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
    text = statement_text(tmp_path / "app", POLICY_FILE=str(path))
    assert "Hotjar Ltd. brukes bare med samtykket ditt til «Markedsføring»" in text
    problems = statement.check_vendors("Vi bruker Matomo og Facebook.", load(path))
    assert problems == [
        "the statement does not mention Hotjar Ltd. (category marketing), which the policy lists"
    ]


def load(path):
    from consentmgr.consent import policy

    return policy.load(path)


def test_statement_parser_rules():
    parsed = privacy_page.parse(
        "Tittel\n\nInnledning som er en setning.\n\nKort del\n\n1. en\n2. to\n\n"
        "You may choose to prevent this website from aggregating and analyzing the actions."
    )
    assert parsed.headings == ["Tittel", "Kort del"]
    assert [b.kind for b in parsed.intro] == ["p"]
    assert [b.kind for b in parsed.sections[0].blocks] == ["ol", "choices"]
    assert privacy_page.linkify("<b> a@b.no") == '&lt;b&gt; <a href="mailto:a@b.no">a@b.no</a>'

    marked = privacy_page.parse("Tittel\n\nDel\n\nTekst.\n\n<<processing>>\n\nSiste\n\nMer.")
    assert [(s.heading, s.generated) for s in marked.sections] == [
        ("Del", False),
        ("", True),
        ("Siste", False),
    ]
    assert all(b.kind != "choices" for s in marked.sections for b in s.blocks), (
        "the generated sections carry the choices"
    )
    with pytest.raises(ValueError, match="heading must follow"):
        privacy_page.parse("Tittel\n\n<<processing>>\n\nTekst uten overskrift.")
