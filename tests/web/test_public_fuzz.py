"""Random requests against every public endpoint: never a 5xx, and a 4xx never writes a row.

Hypothesis picks the method, path, query string, content type, body, headers,
cookies and client address. The app has real upstream settings (unreachable
on purpose: nothing is delivered here) so gateway hits with consent are
queued for real. After each request the row count of every table is compared
with the count before it.

What a 4xx may still write, by design and bounded:

* ``gateway_daily``: the per-day counter of hits refused as invalid
  (``rejected_invalid``), one row per day and target at most;
* a failed admin sign-in (401) or one refused by the failed sign-in throttle
  (429) is audited (``audit``) and counted (``login_failures``): that is the
  audit trail's purpose, and the sign-in limit per network bounds it.
"""

import io
import json
from urllib.parse import urlencode

import pytest
from admin_support import create_admin, csrf_token
from hardening_support import row_counts
from helpers import ACCEPT_ALL, SITE, erase_token, make_config, open_db, post_decision
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentmgr import create_app
from consentmgr.gateway import counters

PATHS = [
    "/api/consent",
    "/matomo.php",
    "/piwik.php",
    "/fb/events",
    "/mine-data",
    "/mine-data.json",
    "/mine-data/slett",
    "/receipt/{id}",
    "/admin/login",
]
API_PATHS = ("/api/consent", "/matomo.php", "/piwik.php", "/fb/events")
METHODS = ["GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS", "HEAD"]
CONTENT_TYPES = [
    None,
    "application/json",
    "text/plain",
    "text/plain; charset=utf-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "image/png",
    "application/json; charset=latin-1",
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One app for every example, with a visitor's current and superseded cookies."""
    folder = tmp_path_factory.mktemp("fuzz")
    app = create_app(
        make_config(
            folder,
            MATOMO_URL="http://127.0.0.1:9/",
            META_PIXEL_ID="123456789012345",
            META_ACCESS_TOKEN="t",
        )
    )
    db = open_db(app.config)
    create_admin(db)
    visitor = app.test_client()
    post_decision(visitor, ACCEPT_ALL)
    old = visitor.get_cookie("consent").value
    post_decision(visitor, {"choices": {"analytics": True}, "method": "custom"})
    latest = visitor.get_cookie("consent").value
    consent_id = visitor.get("/api/consent").get_json()["id"]
    token = erase_token(visitor)
    yield {"app": app, "db": db, "old": old, "latest": latest, "id": consent_id, "token": token}
    db.close()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=15,
)
decision = st.fixed_dictionaries(
    {
        "choices": st.one_of(
            st.dictionaries(
                st.sampled_from(["analytics", "marketing", "necessary", "x"]),
                st.one_of(st.booleans(), json_values),
                max_size=3,
            ),
            json_values,
        ),
        "method": st.sampled_from(
            ["accept_all", "reject_all", "custom", "gpc", "withdraw", "", None]
        ),
    },
    optional={
        "lang": st.sampled_from(["nb", "nn", "en", "de", None, 5]),
        "page": st.one_of(st.text(max_size=60), st.just("https://ansettr.no/" + "a" * 3000)),
        "extra": json_values,
    },
)
meta_event = st.fixed_dictionaries(
    {"event_name": st.sampled_from(["Lead", "PageView", "Leed", "", "Custom Name"])},
    optional={
        "type": st.sampled_from(["track", "trackCustom", "other"]),
        "event_id": st.text(max_size=20),
        "page": st.text(max_size=60),
        "custom_data": json_values,
        "user_data": st.dictionaries(
            st.sampled_from(["em", "ph", "fn"]),
            st.one_of(
                st.text(max_size=40),
                st.builds(lambda n: "a@" + "." * n + "@", st.integers(0, 3000)),
            ),
            max_size=2,
        ),
    },
)
query_pairs = st.lists(
    st.tuples(
        st.sampled_from(["rec", "idsite", "url", "action_name", "send_image", "cip", "next", "x"])
        | st.text(max_size=8),
        st.sampled_from(["1", "0", "https://ansettr.no/", "%00", "\x00", "\ud800x"])
        | st.text(max_size=20),
    ),
    max_size=6,
)
bulk = st.builds(
    lambda qs: {"requests": qs},
    st.lists(
        st.builds(lambda pairs: "?" + urlencode(pairs, errors="surrogatepass"), query_pairs)
        | json_values,
        max_size=4,
    ),
)


def _dump(value):
    return json.dumps(value, allow_nan=True)


bodies = st.one_of(
    st.just(b""),
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    json_values.map(_dump),
    decision.map(_dump),
    meta_event.map(_dump),
    bulk.map(_dump),
    query_pairs.map(lambda pairs: urlencode(pairs, errors="surrogatepass")),
    st.integers(1, 6000).map(lambda n: "[" * n),
    st.integers(1, 3000).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.integers(4000, 70000).map(lambda n: b'{"x": "' + b"a" * n + b'"}'),
)
# What an HTTP header or cookie can carry: Latin-1 without control characters.
header_text = st.text(st.characters(codec="latin-1", exclude_categories=("Cc",)), max_size=40)
headers = st.fixed_dictionaries(
    {},
    optional={
        "Origin": st.sampled_from([SITE, "http://localhost", "https://evil.example", "null", ""]),
        "Accept": st.sampled_from(["application/json", "text/html", "*/*", ""]),
        "Sec-GPC": st.sampled_from(["1", "0", "x"]),
        "DNT": st.sampled_from(["1", "0"]),
        "User-Agent": header_text,
        "Accept-Language": header_text,
        "X-Forwarded-For": st.sampled_from(["1.2.3.4", "garbage", "::1, 10.0.0.1"]),
        "If-None-Match": header_text,
    },
)


def cookie_values(world):
    return (
        st.sampled_from(
            [None, world["old"], world["latest"], "garbage", "a.b.c", world["latest"][:-2] + "xx"]
        )
        | header_text
    )


addresses = st.sampled_from(["127.0.0.1", "198.51.100.7"]) | st.ip_addresses().map(str)


def snapshot(db):
    """Rows per table, and the gateway counters other than ``rejected_invalid``."""
    counts = row_counts(db)
    counts["gateway_daily other than rejected_invalid"] = db.execute(
        "select count(*) from gateway_daily where outcome != 'rejected_invalid'"
    ).fetchone()[0]
    return counts


def check(world, response, path, before):
    status = response.status_code
    assert status < 500, (path, status, response.get_data()[:300])
    if not 400 <= status < 500:
        return
    after = snapshot(world["db"])
    allowed = {"gateway_daily"}  # its other counters are checked through the extra entry
    if path == "/admin/login" and status in (401, 429):
        allowed |= {"audit", "login_failures"}
    grown = {t for t in after if after[t] > before[t]} - allowed
    assert not grown, (path, status, grown)
    is_head = response.request.method == "HEAD"  # answered without a body
    if path.startswith(API_PATHS) and status in (400, 403, 413, 415, 429) and not is_head:
        assert "error" in (response.get_json(silent=True) or {}), (path, status)


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_public_endpoints_never_5xx_and_4xx_writes_nothing(world, data):
    app = world["app"]
    path = data.draw(st.sampled_from(PATHS))
    if path == "/receipt/{id}":
        path = "/receipt/" + data.draw(
            st.sampled_from([world["id"], "nope", "../x", "a" * 300]) | st.text(max_size=20)
        ).replace("/", "%2F").replace("?", "%3F").replace("#", "%23")
    method = data.draw(st.sampled_from(METHODS))
    query = data.draw(query_pairs)
    body = data.draw(bodies)
    content_type = data.draw(st.sampled_from(CONTENT_TYPES))
    extra = data.draw(headers)
    chunked = data.draw(st.booleans())
    client = app.test_client()
    consent = data.draw(cookie_values(world))
    if consent is not None:
        client.set_cookie("consent", consent)
    if data.draw(st.booleans()):
        client.set_cookie("session", data.draw(header_text))
    for name in ("_fbp", "_fbc"):
        if data.draw(st.booleans()):
            client.set_cookie(name, data.draw(header_text))
    form_token = path == "/admin/login" and data.draw(st.booleans())
    if form_token:  # a real CSRF token and its session, so the form itself is exercised
        token = csrf_token(client.get("/admin/login").text)
        body = urlencode(
            {
                "csrf_token": token,
                "username": data.draw(st.text(max_size=80)),
                "password": data.draw(st.text(max_size=30)),
            },
            errors="surrogatepass",
        )
        method, content_type = "POST", "application/x-www-form-urlencoded"
    if path == "/mine-data/slett" and data.draw(st.booleans()):
        body = urlencode({"token": world["token"]})
        content_type = "application/x-www-form-urlencoded"

    # Counts of earlier dropped hits wait in memory; write them now, so that what
    # a 4xx writes is its own.
    counters.write_tally(world["app"], world["db"])
    before = snapshot(world["db"])
    kwargs = {
        "method": method,
        "query_string": urlencode(query, errors="surrogatepass"),
        "headers": extra,
        "environ_base": {"REMOTE_ADDR": data.draw(addresses)},
    }
    if content_type:
        kwargs["content_type"] = content_type
    if chunked and body:
        kwargs["input_stream"] = io.BytesIO(body if isinstance(body, bytes) else body.encode())
        kwargs["headers"] = {**extra, "Transfer-Encoding": "chunked"}
        kwargs["environ_overrides"] = {"wsgi.input_terminated": True}
    else:
        kwargs["data"] = body
    response = client.open(path, **kwargs)
    check(world, response, path, before)
