"""The admin console through Flask's test client on a real SQLite file.

Access: every route needs a session; sign-in failures look alike and are
throttled; CSRF is required on every console form; the session is rotated at
sign-in, ended at sign-out and after idling; every action is audited.
"""

import csv
import time
from datetime import UTC, datetime, timedelta

import pytest
from admin_support import (
    PASSWORD,
    Page,
    create_admin,
    csrf_token,
    login,
    number,
    session_cookie,
)
from helpers import ACCEPT_ALL, decide, make_config, open_db, post_decision

from consentmgr import create_app
from consentmgr.consent import log as consent_log
from consentmgr.consent.methods import NAMES
from consentmgr.gateway import outbox

ROUTE_ARGS = {"consent_id": "abc", "scan_id": 1}


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path, SQLITE_SYNCHRONOUS="NORMAL")


@pytest.fixture
def admin(database):
    create_admin(database)
    return "kari"


@pytest.fixture
def signed_in(client, admin):
    assert login(client).status_code == 302
    return client


def admin_urls(app):
    """Every console URL with its methods, from the URL map, so a new route is covered too."""
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if rule.endpoint.startswith("admin.") and rule.endpoint != "admin.login":
                args = {a: ROUTE_ARGS[a] for a in rule.arguments}
                path = app.url_map.bind("localhost").build(rule.endpoint, args)
                yield path, sorted(rule.methods - {"HEAD", "OPTIONS"})


def test_every_route_but_login_redirects_to_login_without_a_session(app, client, database):
    decide(app, database, "abc")
    urls = list(admin_urls(app))
    assert len(urls) >= 8
    token = csrf_token(client.get("/admin/login").text)  # a session, but not signed in
    for path, methods in urls:
        for method in methods:
            data = {"csrf_token": token, "confirm": "abc"} if method == "POST" else None
            response = client.open(path, method=method, data=data)
            assert response.status_code == 302, (method, path)
            assert response.location.startswith("/admin/login"), (method, path)
    assert consent_log.history(database, "abc"), "nothing may be erased without a session"


def test_wrong_password_reads_exactly_like_an_unknown_user(client, admin, database):
    wrong = login(client, "kari", "not the password at all")
    unknown = login(client, "nobody", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong username or password." in wrong.text
    strip = [csrf_token(wrong.text), csrf_token(unknown.text), 'value="kari"', 'value="nobody"']
    a, b = wrong.text, unknown.text
    for s in strip:
        a, b = a.replace(s, ""), b.replace(s, "")
    assert a == b
    actions = [r["action"] for r in database["audit"].rows]
    assert actions == ["login_failed", "login_failed"]


def test_sixth_failure_for_a_username_is_429_even_with_the_right_password(client, admin, database):
    for n in range(5):
        response = login(client, "kari", "wrong password", remote_addr=f"10.0.0.{n + 1}")
        assert response.status_code == 401
    response = login(client, "kari", PASSWORD, remote_addr="10.0.0.99")
    assert response.status_code == 429
    window = 15 * 60
    assert 0 < int(response.headers["Retry-After"]) <= window
    assert "Too many failed sign-ins" in response.text
    assert session_cookie(client) is None or client.get("/admin/").status_code == 302

    # Once the failures are older than the window, the right password works again.
    database.execute("update login_failures set ts = ts - ?", [window + 1])
    assert login(client, "kari", PASSWORD, remote_addr="10.0.0.99").status_code == 302


def test_sixth_failure_from_one_network_is_429_whatever_the_username(client, admin):
    for n in range(5):
        assert login(client, f"guess{n}", "wrong", remote_addr="203.0.113.5").status_code == 401
    response = login(client, "kari", PASSWORD, remote_addr="203.0.113.200")
    assert response.status_code == 429 and response.headers["Retry-After"].isdigit()
    assert login(client, "kari", PASSWORD, remote_addr="192.0.2.1").status_code == 302


def test_success_clears_the_usernames_failures(client, admin):
    for _ in range(4):
        login(client, "kari", "wrong", remote_addr="10.1.0.1")
    assert login(client, "kari", PASSWORD, remote_addr="10.2.0.1").status_code == 302
    for _ in range(4):
        assert login(client, "kari", "wrong", remote_addr="10.3.0.1").status_code == 401


def test_missing_csrf_token_is_400_and_changes_nothing(app, signed_in, database):
    decide(app, database, "keep-me")
    data = {"username": "kari", "password": PASSWORD}
    assert signed_in.post("/admin/login", data=data).status_code == 400
    erase = signed_in.post("/admin/consent/keep-me/erase", data={"confirm": "keep-me"})
    assert erase.status_code == 400
    assert consent_log.history(database, "keep-me")[0]["erased_at"] is None
    assert signed_in.post("/admin/outbox/retry").status_code == 400
    assert signed_in.post("/admin/logout").status_code == 400
    assert signed_in.get("/admin/").status_code == 200, "still signed in"
    bad = {"csrf_token": "forged", "confirm": "keep-me"}
    assert signed_in.post("/admin/consent/keep-me/erase", data=bad).status_code == 400


def test_consent_api_stays_csrf_exempt_and_origin_guarded(client):
    assert post_decision(client, ACCEPT_ALL).status_code == 201
    assert post_decision(client, ACCEPT_ALL, origin="https://evil.example").status_code == 403


def test_session_is_rotated_at_sign_in_and_revoked_at_sign_out(client, admin):
    client.get("/admin/login")
    before = session_cookie(client)
    assert before
    assert login(client).status_code == 302
    after = session_cookie(client)
    assert after and after != before
    assert client.get("/admin/").status_code == 200

    client.set_cookie("session", before)
    assert client.get("/admin/").status_code == 302, "the pre-sign-in value grants nothing"
    client.set_cookie("session", after)
    assert client.get("/admin/").status_code == 200

    token = csrf_token(client.get("/admin/").text)
    assert client.post("/admin/logout", data={"csrf_token": token}).status_code == 302
    client.set_cookie("session", after)
    assert client.get("/admin/").status_code == 302, "a copy of the old cookie is dead too"


def test_session_cookie_flags(tmp_path, database):
    app = create_app(make_config(tmp_path / "secure", COOKIE_SECURE=True))
    client = app.test_client()
    response = client.get("/admin/login", base_url="https://localhost")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-session=")
    for flag in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
        assert flag in cookie
    assert "Domain=" not in cookie


def test_idle_session_ends(signed_in, database):
    assert signed_in.get("/admin/").status_code == 200
    database.execute("update admin_sessions set last_seen = last_seen - ?", [31 * 60])
    response = signed_in.get("/admin/outbox")
    assert response.status_code == 302 and response.location.startswith("/admin/login")
    page = signed_in.get(response.location)
    assert "without activity" in page.text
    assert database.execute("select count(*) from admin_sessions").fetchone()[0] == 0
    assert [r["action"] for r in database["audit"].rows][-1] == "session_expired"


def test_next_only_leads_inside_the_console(client, admin):
    assert login(client, next_url="/admin/outbox").location == "/admin/outbox"
    client.get("/admin/login")
    for evil in ("https://evil.example/", "//evil.example/admin/", "/demo"):
        client.delete_cookie("session")
        assert login(client, next_url=evil).location == "/admin/"


def test_every_action_is_audited_with_a_network_never_an_address(app, client, admin, database):
    decide(app, database, "gone")
    addr = {"REMOTE_ADDR": "203.0.113.77"}
    login(client, "kari", "wrong", remote_addr="203.0.113.77")
    login(client, remote_addr="203.0.113.77")
    client.get("/admin/consent/gone", environ_base=addr)
    client.get("/admin/export.csv?from=2020-01-01&to=2030-01-01", environ_base=addr).close()
    token = csrf_token(client.get("/admin/consent/gone/erase", environ_base=addr).text)
    form = {"csrf_token": token, "confirm": "gone"}
    client.post("/admin/consent/gone/erase", data=form, environ_base=addr)
    client.post("/admin/outbox/retry", data={"csrf_token": token}, environ_base=addr)
    client.post("/admin/logout", data={"csrf_token": token}, environ_base=addr)
    rows = list(database["audit"].rows)
    assert [r["action"] for r in rows] == [
        "login_failed",
        "login",
        "view_record",
        "export",
        "erase",
        "retry",
        "logout",
    ]
    assert all(r["client"] == "203.0.113.0/24" for r in rows)
    assert all(r["username"] == "kari" and r["ts"] for r in rows)
    assert "203.0.113.77" not in str(rows)
    assert "gone" not in str(rows), "the audit names rows by seq, not by consent id"
    assert rows[4]["detail"] == "erased seq 1 (1 decision)"


def test_record_shows_history_policy_text_and_chain(app, signed_in, database):
    now = datetime.now(UTC)
    decide(app, database, "other")
    decide(app, database, "rec", now - timedelta(days=2), lang="en")
    decide(
        app,
        database,
        "rec",
        now,
        lang="nb",
        method="withdraw",
        choices={"analytics": False, "marketing": False},
    )
    response = signed_in.get("/admin/consent/rec")
    assert response.status_code == 200
    rows = Page(response.text).table("history")
    assert [r["Seq"] for r in rows] == ["2", "3"]
    assert [r["Method"] for r in rows] == ["custom", "withdraw"]
    assert rows[0]["Choices"] == "analytics: granted marketing: refused"
    stored = [r["chain_hash"] for r in consent_log.history(database, "rec")]
    for row, chain_hash in zip(rows, stored, strict=True):
        assert row["Chain hash"] == f"{chain_hash} links to the row before"
    assert "Informasjonskapsler" in response.text
    # The console is English throughout; the banner's words keep their language.
    [shown] = [t for k, t in Page(response.text).tables.items() if k.startswith("t")][-1:]
    assert shown[0] == ["Category", "Purpose", "Vendors", "Retention", "Legal basis"]
    assert "Leverandører" not in response.text and "Rettslig grunnlag" not in response.text
    assert "in Norwegian Bokmål (nb)" in response.text
    assert signed_in.get("/admin/consent/nope").status_code == 404


def test_record_flags_a_row_whose_chain_does_not_link(app, signed_in, database):
    decide(app, database, "a")
    decide(app, database, "b")
    database.execute("update decisions set method = 'accept_all' where seq = 2")
    assert "does not link" in signed_in.get("/admin/consent/b").text


def test_erase_takes_a_confirmation_and_keeps_the_log_verifiable(app, signed_in, database):
    decide(app, database, "who")
    decide(
        app, database, "who", method="accept_all", choices={"analytics": True, "marketing": True}
    )
    outbox.enqueue(database, "matomo", "who", ["sealed", "sealed"], time.time())
    outbox.claim(database, "matomo", 1, "deliverer", time.time())  # one is being sent
    before = signed_in.get("/admin/?period=7").text

    confirm = signed_in.get("/admin/consent/who/erase")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.text
    assert consent_log.history(database, "who"), "the confirmation page erases nothing"
    token = csrf_token(confirm.text)
    unconfirmed = signed_in.post("/admin/consent/who/erase", data={"csrf_token": token})
    assert unconfirmed.status_code == 400
    assert consent_log.history(database, "who")

    done = signed_in.post("/admin/consent/who/erase", data={"csrf_token": token, "confirm": "who"})
    assert done.status_code == 302
    assert consent_log.history(database, "who") == []
    rows = list(database["decisions"].rows)
    assert all(r["erased_at"] and r["consent_id"] is None and r["page"] is None for r in rows)
    assert consent_log.verify(database).ok
    assert database.execute("select count(*) from outbox").fetchone()[0] == 0
    after = signed_in.get("/admin/?period=7")
    assert "Erased seq 1, 2 (2 decisions)" in after.text
    assert "1 hit(s) were already being sent and may still reach the upstream" in after.text

    def decision_figures(html):
        return {k: v for k, v in Page(html).figures.items() if not k.startswith("outbox")}

    assert decision_figures(after.text) == decision_figures(before), "figures do not change"


def test_export_streams_exactly_the_period(app, signed_in, database, monkeypatch):
    from consentmgr.admin import export

    monkeypatch.setattr(export, "ROWS_PER_CHUNK", 4)
    start = datetime(2026, 3, 1, 12, tzinfo=UTC)
    for day in range(6):
        for n in range(5):
            decide(app, database, f"d{day}-{n}", start + timedelta(days=day, minutes=n))
    response = signed_in.get("/admin/export.csv?from=2026-03-02&to=2026-03-04", buffered=False)
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv"
    assert (
        'filename="decisions-2026-03-02-2026-03-04.csv"' in response.headers["Content-Disposition"]
    )
    chunks = list(response.response)
    response.close()
    assert len(chunks) >= 4, "rows are sent a few at a time"
    lines = list(csv.DictReader(b"".join(chunks).decode().splitlines()))
    assert [r["consent_id"] for r in lines] == [f"d{d}-{n}" for d in (1, 2, 3) for n in range(5)]
    assert lines[0]["choices"] == '{"analytics":true,"marketing":false}'
    assert lines[0]["chain_hash"] == consent_log.history(database, "d1-0")[0]["chain_hash"]

    assert signed_in.get("/admin/export.csv?from=2026-03-04&to=2026-03-02").status_code == 400
    assert signed_in.get("/admin/export.csv?from=yesterday&to=2026-03-02").status_code == 400


def test_outbox_page_shows_dead_items_and_retries_one(signed_in, database):
    now = time.time()
    outbox.enqueue(database, "meta", "x", ["p1", "p2"], now)
    items = outbox.claim(database, "meta", 10, "w", now)
    outbox.failed(
        database, items, "w", "HTTP 400 from Graph API: bad", now, "2026-01-01", permanent=True
    )
    page = signed_in.get("/admin/outbox")
    assert page.status_code == 200
    assert page.text.count("HTTP 400 from Graph API: bad") == 2
    token = csrf_token(page.text)
    response = signed_in.post("/admin/outbox/retry", data={"csrf_token": token, "id": items[0].id})
    assert response.status_code == 302
    statuses = dict(database.execute("select id, status from outbox").fetchall())
    assert statuses == {items[0].id: "pending", items[1].id: "dead"}
    assert "Re-queued 1 dead item" in signed_in.get("/admin/outbox").text
    assert (
        signed_in.post("/admin/outbox/retry", data={"csrf_token": token, "id": "x"}).status_code
        == 400
    )
    signed_in.post("/admin/outbox/retry", data={"csrf_token": token})
    assert database.execute("select count(*) from outbox where status = 'dead'").fetchone()[0] == 0


def test_gateway_chart_stacks_every_outcome_of_every_target(signed_in, database):
    from consentmgr.gateway import counters as gateway_stats

    today = gateway_stats.today()
    for target, outcome, n in (
        ("matomo", "forwarded", 5),
        ("meta", "forwarded", 2),
        ("matomo", "dropped_no_consent", 3),
        ("meta", "dead", 1),
        ("matomo", "rejected_invalid", 4),
    ):
        gateway_stats.count(database, today, target, outcome, n)
    for url in ("/admin/outbox", "/admin/"):
        html = signed_in.get(url).text
        chart = html[
            html.index('id="chart-gateway"') : html.index(
                "</svg>", html.index('id="chart-gateway"')
            )
        ]
        assert (
            "15 hits in all: Forwarded 7, Dropped, no consent 3, Rejected as invalid 4, Dead 1."
            in chart
        ), url
        assert chart.count('class="segment"') == 4, "one bar, one segment per outcome seen"
        # The tables hold every number the bars are drawn from.
        page = Page(html)
        [row] = page.table("table-gateway")
        assert row == {
            "Day": today,
            "Forwarded": "7",
            "Dropped, no consent": "3",
            "Rejected as invalid": "4",
            "Dead": "1",
            "All": "15",
        }
        targets = {r["Target"]: r for r in page.table("table-gateway-targets")}
        assert targets["Matomo (analytics)"]["Rejected as invalid"] == "4"
        assert targets["Meta (marketing)"]["Dead"] == "1"
        assert sum(int(r["All"]) for r in targets.values()) == 15


def test_forwarded_without_consent_is_computed_from_the_log(app, signed_in, database):
    now = time.time()
    hour_ago = datetime.fromtimestamp(now - 3600, UTC)
    decide(app, database, "yes", hour_ago - timedelta(minutes=5))
    decide(
        app,
        database,
        "no",
        hour_ago - timedelta(minutes=5),
        choices={"analytics": False, "marketing": False},
        method="reject_all",
    )
    decide(app, database, "later", hour_ago + timedelta(minutes=5))
    decide(app, database, "erased", hour_ago - timedelta(minutes=5))
    decide(app, database, "old", hour_ago - timedelta(days=200))

    def delivered(target, consent_id, finished=now - 3590):
        database.execute(
            "insert into outbox (target, consent_id, payload, created, status, attempts,"
            " next_attempt, finished) values (?, ?, 'p', ?, 'delivered', 1, ?, ?)",
            [target, consent_id, now - 3600, now - 3600, finished],
        )

    delivered("matomo", "yes", finished=now - 3595)
    page = Page(signed_in.get("/admin/").text)
    assert page.figures["forwarded-without-consent"] == "0"
    # As if that check had run an hour ago: the items below were delivered after it.
    database.execute("update forwarding_check set checked_until = ?", [now - 3592])

    delivered("meta", "yes")  # analytics granted, marketing refused
    delivered("matomo", "no")
    delivered("matomo", "later")  # consent given only after the hit
    delivered("matomo", "old")  # consent expired (CONSENT_MAX_AGE_DAYS = 180)
    delivered("matomo", "erased")
    consent_log.erase(database, "erased", datetime.now(UTC))
    page = Page(signed_in.get("/admin/outbox").text)
    assert page.figures["forwarded-without-consent"] == "4"
    assert page.figures["forwarding-unknown"] == "1"
    # Already-checked items are not counted twice.
    assert Page(signed_in.get("/admin/").text).figures["forwarded-without-consent"] == "4"


def fill_history(app, database, tmp_path):
    """A few hundred decisions over 20 days, 3 languages, 2 policy versions, 5 methods."""
    import copy
    import json
    import random

    from consentmgr.consent import policy

    current = app.extensions["consentmgr.policy"]
    content = copy.deepcopy(current.content)
    content["categories"] = [c for c in content["categories"] if c["id"] != "marketing"]
    path = tmp_path / "old-policy.json"
    path.write_text(json.dumps(content))
    old = policy.register(database, policy.load(path))
    database.execute(
        "update policies set first_served = '2020-01-01T00:00:00+00:00' where version = ?",
        [old.version],
    )
    rng = random.Random(3)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    pages = [f"https://ansettr.no/stillinger/{n}" for n in range(12)]
    for n in range(420):
        days_ago = rng.randrange(20)
        p = old if days_ago > 9 and rng.random() < 0.8 else current
        method = rng.choice(NAMES)
        if method == "accept_all":
            choices = dict.fromkeys(p.optional, True)
        elif method == "custom":
            choices = {c: rng.random() < 0.5 for c in p.optional}
        else:
            choices = dict.fromkeys(p.optional, False)
        when = today - timedelta(days=days_ago) + timedelta(seconds=rng.randrange(86400))
        decide(
            app,
            database,
            f"id{n % 300}",
            when,
            version=p.version,
            revision=p.revision,
            choices=choices,
            method=method,
            lang=rng.choice(["nb", "nb", "nn", "en"]),
            page=rng.choice(pages) if rng.random() < 0.9 else None,
        )
    return {"old": old.version, "current": current.version, "today": today.date()}


@pytest.fixture
def history_log(app, database, tmp_path):
    return fill_history(app, database, tmp_path)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """One filled database shared by the read-only dashboard tests: (app, db, info)."""
    folder = tmp_path_factory.mktemp("history")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CONSENTMGR_INSTANCE", str(folder / "instance"))
        app = create_app(make_config(folder, SQLITE_SYNCHRONOUS="NORMAL"))
    db = open_db(app.config)
    create_admin(db)
    info = fill_history(app, db, folder)
    yield app, db, info
    db.close()


@pytest.fixture
def history_client(history):
    client = history[0].test_client()
    assert login(client).status_code == 302
    return client


def expected_from_log(database, start, end, version=None, lang=None):
    """The dashboard's figures, counted straight from the decisions table."""
    import json
    from collections import Counter

    methods, days, optin, by_lang, by_version, pages = (Counter() for _ in range(6))
    day_optin = Counter()
    for ts, v, la, method, choices, page in database.execute(
        "select ts, version, lang, method, choices, page from decisions"
    ):
        day = ts[:10]
        if not start.isoformat() <= day <= end.isoformat():
            continue
        if page:
            pages[page] += 1
        if (version and v != version) or (lang and la != lang):
            continue
        methods[method] += 1
        days[(day, method)] += 1
        by_lang[la] += 1
        by_version[v] += 1
        for category, granted in json.loads(choices).items():
            optin[(category, "asked")] += 1
            optin[(category, "granted")] += granted
            day_optin[(day, category, "asked")] += 1
            day_optin[(day, category, "granted")] += granted
    return methods, days, optin, day_optin, by_lang, by_version, pages


def rate(granted, asked):
    from consentmgr.admin.formatting import percent

    return " ".join(percent(granted / asked if asked else None).split())


@pytest.mark.parametrize(
    "query",
    [
        {"period": "30"},
        {"period": "7"},
        {"period": "custom", "from": -12, "to": -5},
        {"period": "30", "lang": "en"},
        {"period": "30", "version": "old"},
        {"period": "90", "version": "current", "lang": "nb"},
    ],
)
def test_dashboard_figures_equal_counts_from_the_log(history_client, history, query):
    from urllib.parse import urlencode

    from consentmgr.consent.methods import CONSOLE_LABELS

    _, database, history_log = history
    today = history_log["today"]
    query = dict(query)
    for key in ("from", "to"):
        if key in query:
            query[key] = (today + timedelta(days=query[key])).isoformat()
    if "version" in query:
        query["version"] = history_log[query["version"]]
    if query["period"] == "custom":
        start, end = date_of(query["from"]), date_of(query["to"])
    else:
        start, end = today - timedelta(days=int(query["period"]) - 1), today
    methods, days, optin, day_optin, by_lang, by_version, pages = expected_from_log(
        database, start, end, query.get("version"), query.get("lang")
    )
    page = Page(history_client.get("/admin/?" + urlencode(query)).text)
    total = sum(methods.values())
    assert total > 0
    assert number(page.figures["decisions"]) == total
    for method in NAMES:
        assert page.figures[f"share-{method}"] == rate(methods[method], total), method
    for category in ("analytics", "marketing"):
        expected = rate(optin[(category, "granted")], optin[(category, "asked")])
        assert page.figures[f"optin-{category}"] == expected, category

    per_day = {r["Day"]: r for r in page.table("table-decisions")}
    assert len(per_day) == (end - start).days + 1
    for day, row in per_day.items():
        for method, label in CONSOLE_LABELS.items():
            assert int(row[label]) == days[(day, method)], (day, method)
        assert int(row["All"]) == sum(days[(day, m)] for m in CONSOLE_LABELS)
    for row in page.table("table-optin"):
        for category in ("analytics", "marketing"):
            key = (row["Day"], category)
            assert row[category] == rate(day_optin[(*key, "granted")], day_optin[(*key, "asked")])

    # Languages are named in words, with the code: "Norwegian Nynorsk (nn)".
    langs = {r["Language"][-3:-1]: number(r["Decisions"]) for r in page.table("table-lang")}
    assert langs == {k: v for k, v in by_lang.items() if v}
    versions = {r["Version"]: number(r["Decisions"]) for r in page.table("table-version")}
    assert {k: v for k, v in versions.items() if v} == dict(by_version)
    top = [(r["Page"], number(r["Decisions"])) for r in page.table("table-pages")]
    assert top == sorted(pages.items(), key=lambda kv: (-kv[1], kv[0]))[:10]


def date_of(text):
    from datetime import date

    return date.fromisoformat(text)


def test_version_table_says_what_changed(history_client, history):
    history_log = history[2]
    page = Page(history_client.get("/admin/").text)
    rows = {r["Version"]: r for r in page.table("table-version")}
    assert rows[history_log["old"]]["What changed"] == "first version served"
    assert rows[history_log["current"]]["What changed"] == "category marketing added"


def test_dashboard_reads_only_the_aggregates(signed_in, database, history_log):
    """Emptying the log itself changes no dashboard figure: they come from the aggregates."""
    before = Page(signed_in.get("/admin/?period=30").text).figures
    from_log = {k: v for k, v in before.items() if k.startswith(("decisions", "share-", "optin-"))}
    assert len(from_log) >= 8 and "0" not in from_log.values(), "the figures compared are real"
    database.execute("delete from decisions")
    assert Page(signed_in.get("/admin/?period=30").text).figures == before


def test_bad_filters_fall_back_with_a_message(signed_in):
    page = signed_in.get("/admin/?period=custom&from=2026-05-01&to=2026-04-01&lang=xx")
    assert page.status_code == 200
    assert "starts after it ends" in page.text and "Language &#39;xx&#39; is unknown" in page.text
    assert len(Page(page.text).table("table-decisions")) == 30
