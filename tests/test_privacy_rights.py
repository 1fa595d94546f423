"""Visitor rights and proof: privacy page, receipts, /mine-data, retention, signed checkpoints."""

import json
import re
import time
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import make_config
from helpers import ACCEPT_ALL, REJECT_ALL, SITE, post_decision, shipped_policy
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from consentmgr import create_app
from consentmgr.config import ConfigError
from consentmgr.consent import log as consent_log
from consentmgr.db import connect
from consentmgr.gateway import counters as gateway_stats
from consentmgr.gateway import deliver, outbox
from consentmgr.proof import checkpoints, privacy_page, receipts, retention, self_service

ROOT = Path(__file__).resolve().parent.parent
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
CUSTOM = {"choices": {"analytics": True, "marketing": False}, "method": "custom", "lang": "nb"}
OLD_PURPOSE = "Matomo viser oss sidevisninger"
NEW_PURPOSE = "Matomo teller sidevisninger for oss, og ingenting annet."


class Page(HTMLParser):
    """Headings, text, links, forms and elements of an HTML page, read the way a browser would."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.headings: list[tuple[str, str]] = []
        self.links: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.text_parts: list[str] = []
        self._heading: list[str] | None = None
        self._skip = 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag in ("script", "style"):
            self._skip += 1
        if re.fullmatch(r"h[1-6]", tag):
            self._heading = []
        if tag == "a" and "href" in attrs:
            self.links.append(attrs["href"])

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1
        if re.fullmatch(r"h[1-6]", tag) and self._heading is not None:
            self.headings.append((tag, " ".join("".join(self._heading).split())))
            self._heading = None

    def handle_data(self, data):
        if self._skip:
            return
        self.text_parts.append(data)
        if self._heading is not None:
            self._heading.append(data)

    @property
    def text(self) -> str:
        return " ".join("".join(self.text_parts).split())

    def find(self, tag: str, **attrs) -> list[dict]:
        return [
            a
            for t, a in self.tags
            if t == tag
            and all(
                k.replace("_", "-") in a and a[k.replace("_", "-")] == v for k, v in attrs.items()
            )
        ]


def consent_value(client) -> str | None:
    cookie = client.get_cookie("consent")
    return cookie.value if cookie else None


def receipt_json(client, path):
    return client.get(path, headers={"Accept": "application/json"})


def db_rows(database, table="decisions"):
    return [dict(r) for r in database[table].rows_where(order_by="rowid")]


def aggregates(database):
    return {t: db_rows(database, t) for t in ("daily_decisions", "daily_consent", "daily_pages")}


# -- privacy page ---------------------------------------------------------------------


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
    html = client.get("/mine-data").get_data(as_text=True)
    return re.search(r'name="token" value="([^"]+)"', html)[1]


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
    database = connect(app.config["DATABASE"])
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
    assert "Åpne /mine-data på nytt" in r.get_data(as_text=True)
    r = visitor.post(
        "/mine-data/slett", data={"token": token}, headers={"Origin": "https://evil.example"}
    )
    assert r.status_code == 403
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
    assert "Innholdet i 1 treff som allerede var sendt" in page_text
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
    database = connect(gateway_app.config["DATABASE"])
    sending = outbox.claim(database, "matomo", 1, "deliverer", time.time())
    assert len(sending) == 1

    r = visitor.post(
        "/mine-data/slett", data={"token": erase_token(visitor)}, headers={"Origin": SITE}
    )
    text = Page(r.get_data(as_text=True)).text
    assert "slettet 2 treff som ikke var sendt" in text
    assert "1 av disse treffene var allerede på vei til Matomo eller Meta" in text
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
    database = connect(gateway_app.config["DATABASE"])
    assert len(consent_log.history(database, consent_id)) == 1
    database.close()
    r = visitor.post("/mine-data/slett", data={"token": good}, headers={"Origin": SITE})
    assert r.status_code == 200


def test_mine_data_sets_no_cookie(gateway_app):
    visitor = gateway_app.test_client()
    post_decision(visitor, ACCEPT_ALL)
    r = visitor.get("/mine-data")
    assert 'name="token"' in r.get_data(as_text=True)
    assert "Set-Cookie" not in r.headers


# -- retention ----------------------------------------------------------------------------


def decision(consent_id, page="https://ansettr.no/"):
    return consent_log.Decision(
        consent_id=consent_id,
        version="v1",
        revision=1,
        choices={"analytics": True, "marketing": False},
        method="custom",
        lang="nb",
        page=page,
        ua_family="Firefox",
        ip_prefix="192.0.2.0/24",
    )


def test_purge_with_the_clock_moved_forward(app, database, runner):
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    for day in (0, 10, 200, 390):
        consent_log.append(database, decision(f"id-{day}"), start + timedelta(days=day))
    outbox.enqueue(database, "matomo", "id-390", ["sealed-a", "sealed-b"], start.timestamp())
    items = outbox.claim(database, "matomo", 10, "me", start.timestamp())
    outbox.delivered(database, items[:1], "me", start.timestamp(), "2026-01-01")
    before = aggregates(database)

    # 405 days after the start: retention (400 days) has passed for days 0 and 2 only
    now = start + timedelta(days=405)
    dry = retention.purge(app, database, now, dry_run=True)
    assert (dry.decisions, dry.outbox_items) == (1, 1)
    assert all(r["consent_id"] for r in db_rows(database))

    done = retention.purge(app, database, now)
    assert (done.decisions, done.outbox_items) == (1, 1)
    by_id = {r["seq"]: r for r in db_rows(database)}
    assert by_id[1]["consent_id"] is None and by_id[1]["erased_at"]
    assert [by_id[s]["consent_id"] for s in (2, 3, 4)] == ["id-10", "id-200", "id-390"]
    assert [r["status"] for r in db_rows(database, "outbox")] == ["pending"]
    assert aggregates(database) == before
    assert runner.invoke(args=["verify-log"]).exit_code == 0

    # A year later everything but the last decision is past retention.
    assert retention.purge(app, database, start + timedelta(days=700)).decisions == 2
    assert [r["consent_id"] for r in db_rows(database)] == [None, None, None, "id-390"]
    assert aggregates(database) == before
    result = runner.invoke(args=["verify-log"])
    assert result.exit_code == 0 and "4 decisions verified" in result.output

    # ...and still fails on tampering after erasures and purges.
    database.execute("update decisions set method = 'accept_all' where seq = 2")
    result = runner.invoke(args=["verify-log"])
    assert result.exit_code == 1 and "seq 2" in result.output


def test_purge_command_and_dry_run(app, database, runner):
    old = datetime.now(UTC) - timedelta(days=500)
    consent_log.append(database, decision("old"), old)
    consent_log.append(database, decision("new"), datetime.now(UTC))
    result = runner.invoke(args=["purge", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "would blank the personal details of 1 decision from" in result.output
    assert [r["consent_id"] for r in db_rows(database)] == ["old", "new"]
    result = runner.invoke(args=["purge"])
    assert "blanked the personal details of 1 decision from" in result.output
    assert [r["consent_id"] for r in db_rows(database)] == [None, "new"]


def test_background_thread_purges_and_checkpoints(app, database):
    consent_log.append(database, decision("old"), datetime.now(UTC) - timedelta(days=500))
    consent_log.append(database, decision("new"), datetime.now(UTC))
    thread = deliver.Deliverer(app)  # its hourly chores, run once without starting the thread
    thread.prune(database)
    assert [r["consent_id"] for r in db_rows(database)] == [None, "new"]
    assert [c.seq for c in checkpoints.all_checkpoints(database)] == [2]
    # A second pass within the hour does nothing; a day later a new head is signed.
    consent_log.append(database, decision("later"), datetime.now(UTC))
    thread.prune(database)
    assert [c.seq for c in checkpoints.all_checkpoints(database)] == [2]
    retention.housekeeping(app, database, datetime.now(UTC) + timedelta(days=1, minutes=1))
    assert [c.seq for c in checkpoints.all_checkpoints(database)] == [2, 3]


# -- checkpoints and the attacker -----------------------------------------------------------


@pytest.fixture
def anchored(tmp_path):
    """An app that signs a checkpoint every 3 decisions."""
    return create_app(make_config(tmp_path, CHECKPOINT_EVERY=3))


def test_checkpoints_every_n_decisions_and_export(anchored, tmp_path):
    client, runner = anchored.test_client(), anchored.test_cli_runner()
    for _ in range(7):
        post_decision(client, ACCEPT_ALL)
    database = connect(anchored.config["DATABASE"])
    assert [c.seq for c in checkpoints.all_checkpoints(database)] == [3, 6]
    for c in checkpoints.all_checkpoints(database):
        signed = checkpoints.open_signed(anchored, c.signed)
        row = database.execute("select chain_hash from decisions where seq = ?", [c.seq])
        assert signed.chain_hash == row.fetchone()[0]

    result = runner.invoke(args=["verify-log"])
    assert result.exit_code == 0, result.output
    assert "7 decisions verified; 2 signed checkpoints match" in result.output

    result = runner.invoke(args=["checkpoint", "--export"])
    assert result.exit_code == 0, result.output
    exported = json.loads(result.output)
    assert exported["seq"] == 7
    assert checkpoints.open_signed(anchored, exported["signed"]).seq == 7

    # Rotation: the old key still verifies; an unrelated key does not.
    rotated = make_config(
        tmp_path,
        CHECKPOINT_EVERY=3,
        SECRET_KEY="another-secret-key-that-is-long-enough-0123456789",
        OLD_SECRET_KEYS=[anchored.config["SECRET_KEY"]],
    )
    assert create_app(rotated).test_cli_runner().invoke(args=["verify-log"]).exit_code == 0
    foreign = {**rotated, "OLD_SECRET_KEYS": []}
    result = create_app(foreign).test_cli_runner().invoke(args=["verify-log"])
    assert result.exit_code == 1
    assert "checkpoint seq 3" in result.output and "signature" in result.output
    database.close()


def recompute_chain_from(database, seq):
    """What an attacker with write access but no key can do: make the chain consistent again."""
    previous = database.execute(
        "select chain_hash from decisions where seq = ?", [seq - 1]
    ).fetchone()
    previous = previous[0] if previous else consent_log.GENESIS
    for row in list(consent_log.rows(database)):
        if row["seq"] < seq:
            continue
        previous = consent_log.chain(previous, consent_log.content_digest(row))
        database.execute(
            "update decisions set chain_hash = ? where seq = ?", [previous, row["seq"]]
        )


def test_attacker_edit_with_recomputed_hashes_is_caught(anchored, tmp_path):
    runner = anchored.test_cli_runner()
    first, visitor = anchored.test_client(), anchored.test_client()
    post_decision(first, ACCEPT_ALL)  # seq 1
    path = post_decision(visitor, REJECT_ALL).get_json()["receipt"]  # seq 2: the visitor refuses
    post_decision(anchored.test_client(), ACCEPT_ALL)  # seq 3: checkpoint
    post_decision(visitor, CUSTOM)  # seq 4: the visitor changes their mind
    for _ in range(3):  # seq 5..7: checkpoint at 6
        post_decision(anchored.test_client(), ACCEPT_ALL)
    receipt_file = tmp_path / "kvittering.json"
    receipt_file.write_text(receipt_json(visitor, path).get_data(as_text=True))
    other_file = tmp_path / "annen.json"
    first_id = first.get("/api/consent").get_json()["id"]
    other_file.write_text(receipt_json(first, f"/receipt/{first_id}").get_data(as_text=True))
    head_file = tmp_path / "head.json"
    head_file.write_text(runner.invoke(args=["checkpoint", "--export"]).output)
    assert runner.invoke(args=["verify-receipt", str(receipt_file)]).exit_code == 0

    # The attacker turns the refusal into consent and recomputes every later hash.
    database = connect(anchored.config["DATABASE"])
    database.execute(
        """update decisions set choices = '{"analytics":true,"marketing":true}',"""
        " method = 'accept_all' where seq = 2"
    )
    recompute_chain_from(database, 2)
    assert consent_log.verify(database).ok  # the bare chain is fooled

    result = runner.invoke(args=["verify-log"])
    assert result.exit_code == 1
    assert "BROKEN at checkpoint seq 3" in result.output

    result = runner.invoke(args=["verify-receipt", str(receipt_file)])
    assert result.exit_code == 1
    assert "decision seq 2: the log now says something else (choices, method)" in result.output
    # seq 4 itself was not touched, but the chain through it was rewritten
    assert "decision seq 4: the log's chain hash differs" in result.output
    # The receipt of a decision before the edit still verifies: that row is intact.
    assert runner.invoke(args=["verify-receipt", str(other_file)]).exit_code == 0

    # Deleting the stored checkpoints does not help against a head kept elsewhere.
    database.execute("delete from checkpoints")
    assert runner.invoke(args=["verify-log"]).exit_code == 0
    result = runner.invoke(args=["verify-log", "--head", str(head_file)])
    assert result.exit_code == 1
    assert "BROKEN at checkpoint seq 7" in result.output
    database.close()


def test_verify_log_passes_after_erasure_and_purge_with_checkpoints(anchored):
    runner = anchored.test_cli_runner()
    clients = [anchored.test_client() for _ in range(4)]
    for c in clients:
        post_decision(c, ACCEPT_ALL)
    database = connect(anchored.config["DATABASE"])
    consent_log.erase(database, clients[1].get("/api/consent").get_json()["id"], datetime.now(UTC))
    retention.purge(anchored, database, datetime.now(UTC) + timedelta(days=401))
    assert all(r["erased_at"] for r in db_rows(database))
    result = runner.invoke(args=["verify-log"])
    assert result.exit_code == 0, result.output
    assert "4 decisions verified; 1 signed checkpoint match" in result.output
    database.execute("delete from decisions where seq >= 3")  # the tail, checkpoint included
    result = runner.invoke(args=["verify-log"])
    assert result.exit_code == 1
    assert "BROKEN at checkpoint seq 3" in result.output
    database.close()


def test_receipt_carries_the_latest_signed_head_of_its_time(anchored):
    client = anchored.test_client()
    for _ in range(4):
        post_decision(client, ACCEPT_ALL)
    receipt = receipt_json(client, "/receipt/" + client.get("/api/consent").get_json()["id"])
    heads = [d["head"] and d["head"]["seq"] for d in receipt.get_json()["decisions"]]
    assert heads == [None, None, 3, 3]
    assert receipts.verify(anchored, connect(anchored.config["DATABASE"]), receipt.get_json()) == []
