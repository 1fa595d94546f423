"""Input edge cases: deep nesting, slow normalisation, chunked bodies, console parameters,
and sign-in throttling that an attacker elsewhere cannot turn against the real admin."""

import contextlib
import io
import json
import threading
import time

import pytest
from admin_support import PASSWORD, create_admin, csrf_token, login
from hardening_support import row_counts
from helpers import ACCEPT_ALL, SITE, count, post_decision

from consentmgr.gateway.meta import matching
from consentmgr.web import request_body


@pytest.fixture
def gateway(tmp_path):
    from helpers import make_config

    from consentmgr import create_app

    return create_app(
        make_config(
            tmp_path,
            MATOMO_URL="http://127.0.0.1:9/",
            META_PIXEL_ID="123456789012345",
            META_ACCESS_TOKEN="t",
        )
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/consent", "[" * 2000),
        ("/api/consent", '{"choices": ' + "[" * 2000 + "]" * 2000 + "}"),
        ("/fb/events", "[" * 4000),
        ("/fb/events", '{"event_name": "Lead", "custom_data": ' + '{"a":' * 500 + "1" + "}" * 501),
        ("/matomo.php", '{"requests": ' + "[" * 30000 + "]" * 30000 + "}"),
    ],
)
def test_deeply_nested_json_is_4xx_not_500(gateway, database, path, body):
    client = gateway.test_client()
    post_decision(client, ACCEPT_ALL)
    before = row_counts(database)
    r = client.post(path, data=body, content_type="text/plain", headers={"Origin": SITE})
    assert 400 <= r.status_code < 500, r.status_code
    assert "error" in r.get_json()
    after = row_counts(database)
    after.pop("gateway_daily"), before.pop("gateway_daily")  # the rejected hit is counted
    assert after == before


def test_nesting_limit_is_400_levels():
    ok = "[" * 400 + "]" * 400
    assert request_body.loads(ok) is not None
    with pytest.raises(request_body.Unsendable, match="deeper than 400"):
        request_body.loads("[" * 401 + "]" * 401)
    with pytest.raises(request_body.Unsendable, match="deeper than 400"):
        request_body.loads('{"a":' * 401 + "1" + "}" * 401)


def cost(fn, text, repeat=7, number=20):
    """The smallest CPU time of ``number`` calls, over ``repeat`` tries."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(number):
            with contextlib.suppress(ValueError):
                fn(text)
        best = min(best, time.process_time() - start)
    return best


@pytest.mark.parametrize(
    ("fn", "crafted"),
    [
        (matching.RULES["em"], lambda n: "a@" + "." * n + "@"),
        (matching.RULES["em"], lambda n: "a@" + "a." * (n // 2) + "@"),
        (matching.RULES["em"], lambda n: "a" * n + "@" + "." * n),
        (matching.RULES["ph"], lambda n: "+" + "1 " * (n // 2) + "x"),
        (matching.RULES["ph"], lambda n: "0" * n),
        (matching.RULES["fn"], lambda n: "é." * (n // 2)),
        (matching.RULES["db"], lambda n: "1" * n),
        (matching.RULES["zp"], lambda n: "9" * n + "-"),
    ],
)
def test_matching_normalisation_grows_linearly_with_input_size(fn, crafted):
    """Eight times the input may cost about eight times the work, not sixty-four."""
    small, large = cost(fn, crafted(1000)), cost(fn, crafted(8000))
    assert large < 24 * max(small, 1e-4), (small, large)


def chunked_post(client, path, body: bytes, **headers):
    """A POST without Content-Length, as a chunked request reaches the app under gunicorn."""
    return client.post(
        path,
        input_stream=io.BytesIO(body),
        content_type="text/plain",
        headers={"Origin": SITE, "Transfer-Encoding": "chunked", **headers},
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_chunked_bodies_over_the_limit_are_413(gateway, database):
    client = gateway.test_client()
    post_decision(client, ACCEPT_ALL)
    decisions = count(database)
    big = json.dumps({**ACCEPT_ALL, "page": "https://ansettr.no/" + "a" * 20_000}).encode()
    r = chunked_post(client, "/api/consent", big)
    assert r.status_code == 413 and "error" in r.get_json()
    padded = json.dumps(ACCEPT_ALL).encode() + b" " * 20_000  # valid JSON if cut short
    assert chunked_post(client, "/api/consent", padded).status_code == 413
    assert count(database) == decisions

    hits = json.dumps({"requests": ["?rec=1&action_name=" + "a" * 9000] * 100}).encode()
    assert len(hits) > 64 * 1024
    r = chunked_post(client, "/matomo.php", hits)
    assert r.status_code == 413
    r = chunked_post(client, "/matomo.php", b"rec=1&action_name=" + b"a" * 1_000_000)
    assert r.status_code == 413
    event = json.dumps({"event_name": "Lead", "custom_data": {"x": "a" * 5000}}).encode()
    assert chunked_post(client, "/fb/events", event).status_code == 413
    assert count(database, "outbox") == 0

    small = json.dumps({**ACCEPT_ALL, "page": "https://ansettr.no/"}).encode()
    assert chunked_post(client, "/api/consent", small).status_code == 201, "within the limit"


@pytest.fixture
def admin(database):
    create_admin(database)


@pytest.fixture
def signed_in(client, admin):
    assert login(client).status_code == 302
    return client


@pytest.mark.parametrize(
    "next_url", ["/admin/%0d%0aSet-Cookie:%20x=1", "/admin/%0aX", "/admin/%00"]
)
def test_bad_next_is_400_with_a_readable_message(client, admin, next_url):
    page = client.get(f"/admin/login?next={next_url}")
    assert page.status_code == 400 and "not a valid address" in page.text
    r = client.post(
        f"/admin/login?next={next_url}",
        data={
            "csrf_token": csrf_token(client.get("/admin/login").text),
            "username": "kari",
            "password": PASSWORD,
        },
    )
    assert r.status_code == 400 and "not a valid address" in r.text


def test_a_unicode_next_still_works(client, admin):
    r = login(client, next_url="/admin/consent/%C3%B8")
    assert r.status_code == 302 and r.headers["Location"].startswith("/admin/consent/")


@pytest.mark.parametrize("raw", [str(10**23), "²", "1" * 40, "-1", "1.5"])
def test_retry_with_an_impossible_id_is_400(signed_in, raw):
    page = signed_in.get("/admin/outbox")
    r = signed_in.post("/admin/outbox/retry", data={"csrf_token": csrf_token(page.text), "id": raw})
    assert r.status_code == 400 and "given by its number" in r.text


@pytest.mark.parametrize(
    "query",
    [
        "from=2026-01-01&to=9999-12-31",
        "from=9999-12-31&to=9999-12-31",
        "from=0001-01-01&to=0001-01-02",
    ],
)
def test_export_with_dates_at_the_edge_of_the_calendar_is_400_or_works(signed_in, query):
    r = signed_in.get(f"/admin/export.csv?{query}")
    assert r.status_code in (200, 400)
    if r.status_code == 400:
        assert "period" in r.text.lower() or "date" in r.text.lower()


def test_export_to_the_last_day_of_the_calendar_is_400(signed_in):
    r = signed_in.get("/admin/export.csv?from=2026-01-01&to=9999-12-31")
    assert r.status_code == 400 and "date" in r.text.lower()


@pytest.mark.parametrize(
    "query",
    [
        "period=custom&from=9999-12-30&to=9999-12-31",
        "period=custom&from=0001-01-01&to=0001-01-02",
        "period=custom&from=2026-01-01&to=9999-12-31",
        "period=99999999999999999999",
    ],
)
def test_dashboard_with_dates_at_the_edge_of_the_calendar_is_not_500(signed_in, query):
    assert signed_in.get(f"/admin/?{query}").status_code < 500


def test_failures_from_elsewhere_do_not_lock_the_real_admin_out(client, admin):
    for _ in range(5):
        assert login(client, "kari", "guess", remote_addr="203.0.113.9").status_code == 401
    assert login(client, "kari", PASSWORD, remote_addr="203.0.113.10").status_code == 429
    # The real admin, from the office: the attacker's network does not count here.
    assert login(client, "kari", PASSWORD, remote_addr="198.51.100.20").status_code == 302


def test_parallel_guesses_cannot_check_more_passwords_than_the_limit(app, admin):
    n = 20
    clients = [app.test_client() for _ in range(n)]
    tokens = [csrf_token(c.get("/admin/login").text) for c in clients]
    barrier = threading.Barrier(n)
    codes = [None] * n

    def guess(i):
        barrier.wait()
        codes[i] = (
            clients[i]
            .post(
                "/admin/login",
                data={"csrf_token": tokens[i], "username": "kari", "password": f"guess {i}"},
                environ_base={"REMOTE_ADDR": "203.0.113.77"},
            )
            .status_code
        )

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    checked = codes.count(401)
    assert checked <= app.config["ADMIN_LOGIN_MAX_FAILURES"], codes
    assert codes.count(429) == n - checked
