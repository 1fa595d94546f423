"""The gateway connects to the configured Matomo and nowhere else (no SSRF).

A gateway that forwards visitor requests with a server-side token is an
attractive relay: if anything a visitor sends could choose the host, port or
path it connects to, an attacker could make it call internal services, or
hand the Matomo token to a server of their own. So every test here runs a
second loopback server, the *attacker*, that would gladly answer like Matomo,
and throws request tricks at a real HTTP listener in front of the app: Host
and forwarding headers, absolute-form request targets, absolute URLs, ``@``,
``..`` and encoded slashes in bulk items and parameters, parameters named like
settings, proxy variables in the environment and redirects from the upstream.
After ``consentmgr deliver --once`` the attacker must have received nothing,
and the configured stand-in must have received exactly the accepted hits, at
its configured path.
"""

import http.client
import json
import re
import threading
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, quote, urlencode

import pytest
from helpers import ACCEPT_ALL, MATOMO_TOKEN, SITE, deliver, make_config, matomo_ok, post_decision
from helpers import gateway_app as _gateway_app
from werkzeug import Response
from werkzeug.serving import make_server

from consentmgr import create_app
from consentmgr.config import ConfigError

TOKEN = MATOMO_TOKEN
FORM = "application/x-www-form-urlencoded; charset=UTF-8"


def attacker_answer(request):
    """Answer like a Matomo that tracked everything, so a leak would look like success."""
    return Response(
        json.dumps({"status": "success", "tracked": 100, "invalid": 0}),
        content_type="application/json",
    )


@pytest.fixture
def attacker(httpserver_ipv4):
    """A second loopback server on 127.0.0.1 that must never be contacted."""
    httpserver_ipv4.expect_request(re.compile(".*")).respond_with_handler(attacker_answer)
    return httpserver_ipv4


@pytest.fixture
def matomo(httpserver):
    """The configured upstream: a Matomo stand-in that tracks every hit it gets."""
    httpserver.expect_request("/matomo.php", method="POST").respond_with_handler(matomo_ok)
    return httpserver


def gateway_app(tmp_path, url, **overrides):
    return _gateway_app(tmp_path, url, **{"UPSTREAM_READ_TIMEOUT": 2.0, **overrides})


class Live:
    """The app behind a real HTTP listener on 127.0.0.1, so raw request lines reach it."""

    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    def send(self, method, target, headers=(), body=None):
        """Send ``target`` verbatim as the request target, with exactly these headers."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            headers = list(headers)
            if not any(k.lower() == "host" for k, _ in headers):
                headers.insert(0, ("Host", f"127.0.0.1:{self.port}"))
            for name, value in headers:
                conn.putheader(name, value)
            data = body.encode() if isinstance(body, str) else body
            if data is not None:
                conn.putheader("Content-Length", str(len(data)))
            conn.endheaders(data)
            response = conn.getresponse()
            response.read()
            return response
        finally:
            conn.close()


def consent_header(live):
    response = live.send(
        "POST",
        "/api/consent",
        [("Origin", SITE), ("Content-Type", "text/plain")],
        json.dumps(ACCEPT_ALL),
    )
    assert response.status == 201
    return ("Cookie", f"consent={SimpleCookie(response.getheader('Set-Cookie'))['consent'].value}")


def received(matomo):
    """Every hit the stand-in got, as dicts; also checks where each call was addressed."""
    hits = []
    for request, response in matomo.log:
        assert (request.method, request.path) == ("POST", "/matomo.php")
        assert request.host == f"{matomo.host}:{matomo.port}"
        assert response.status_code == 200
        body = json.loads(request.get_data())
        assert body["token_auth"] == TOKEN
        hits += [dict(parse_qsl(q.lstrip("?"))) for q in body["requests"]]
    return hits


def hostile_requests(a, u):
    """The tricks: requests that must be accepted, and request paths that may be refused.

    Accepted requests are (name, method, target, headers, body, names of the
    hits they carry); the paths are not the tracking endpoint, so a refusal
    is fine, but a hit accepted through one must still go to the configured
    upstream.

    ``a`` is the attacker's host:port, ``u`` the configured upstream's. Each
    hit carries its name as ``action_name`` so arrivals can be matched to it.
    """

    def q(name, **extra):
        return urlencode({"idsite": "1", "rec": "1", "action_name": name, **extra})

    cases = [
        ("host-evil", "GET", f"/matomo.php?{q('host-evil')}", [("Host", "evil.example")], None),
        ("host-attacker", "GET", f"/matomo.php?{q('host-attacker')}", [("Host", a)], None),
        (
            "host-userinfo",
            "GET",
            f"/matomo.php?{q('host-userinfo')}",
            [("Host", f"{u}@{a}")],
            None,
        ),
        (
            "forwarded-headers",
            "GET",
            f"/matomo.php?{q('forwarded-headers')}",
            [
                ("X-Forwarded-Host", a),
                ("X-Forwarded-Proto", "http"),
                ("X-Forwarded-Port", a.rsplit(":", 1)[1]),
                ("X-Forwarded-For", "127.0.0.1"),
                ("X-Forwarded-Server", a),
                ("X-Host", a),
                ("Forwarded", f'for=127.0.0.1;host="{a}";proto=http'),
                ("X-Original-URL", f"http://{a}/matomo.php"),
                ("X-Rewrite-URL", f"http://{a}/matomo.php"),
                ("Referer", f"http://{a}/"),
            ],
            None,
        ),
        ("absolute-form", "GET", f"http://{a}/matomo.php?{q('absolute-form')}", [], None),
        (
            "absolute-form-at",
            "GET",
            f"http://{u}@{a}/matomo.php?{q('absolute-form-at')}",
            [],
            None,
        ),
        (
            "url-params",
            "GET",
            "/matomo.php?"
            + q(
                "url-params",
                url=f"http://{a}/page",
                urlref=f"http://{u}@{a}/ref",
                _ref=f"http://{a}/..%2F..%2Fx",
                link=f"http:%2F%2F{a}%2Fout",
                download=f"//{a}/file.pdf",
            ),
            [],
            None,
        ),
        (
            "settings-params",
            "GET",
            "/matomo.php?"
            + q(
                "settings-params",
                MATOMO_URL=f"http://{a}/",
                matomo_url=f"http://{a}/",
                upstream=f"http://{a}/",
                endpoint=f"http://{a}/matomo.php",
                host=a,
                redirect=f"http://{a}/",
                proxy=f"http://{a}/",
                token_auth="client",
                idsite="999",
            ),
            [],
            None,
        ),
        (
            "form-post",
            "POST",
            "/matomo.php",
            [("Content-Type", FORM)],
            q("form-post", url=f"http://{a}/", urlref=f"http://{u}@{a}/"),
        ),
    ]
    items = {
        "bulk-absolute": f"http://{a}/x?{q('bulk-absolute')}",
        "bulk-scheme-relative": f"//{a}/matomo.php?{q('bulk-scheme-relative')}",
        "bulk-userinfo": f"http://{u}@{a}/matomo.php?{q('bulk-userinfo')}",
        "bulk-dotdot": f"../../../x/../matomo.php?{q('bulk-dotdot')}",
        "bulk-encoded-dotdot": f"..%2F..%2Fx?{q('bulk-encoded-dotdot')}",
        "bulk-encoded-slashes": f"%2F%2F{a}%2Fmatomo.php?{q('bulk-encoded-slashes')}",
        "bulk-backslashes": f"http:\\\\{a}\\matomo.php?{q('bulk-backslashes')}",
        "bulk-url-param": "?" + q("bulk-url-param", url=f"http://{a}/", urlref=f"http://{a}/"),
    }
    bulk = {"requests": list(items.values()), "url": f"http://{a}/", "matomo_url": f"http://{a}/"}
    cases.append(("bulk", "POST", "/matomo.php", [("Content-Type", FORM)], json.dumps(bulk)))
    accepted = [(*case, list(items) if case[0] == "bulk" else [case[0]]) for case in cases]
    # Path tricks: the hit is either refused, or accepted and sent to the configured path.
    paths = [
        f"/x/../matomo.php?{q('path-dotdot')}",
        f"/matomo.php/../../x?{q('path-dotdot-after')}",
        f"/..%2Fmatomo.php?{q('path-encoded-dotdot')}",
        f"/matomo.php%2F..%2F..%2Fx?{q('path-encoded-after')}",
        f"//{a}/matomo.php?{q('path-scheme-relative')}",
        f"/%2F%2F{quote(a)}%2Fmatomo.php?{q('path-encoded-slashes')}",
    ]
    return accepted, paths


@pytest.mark.parametrize("trusted_proxies", [0, 1])
def test_no_request_can_steer_the_upstream(tmp_path, matomo, attacker, trusted_proxies):
    app = gateway_app(tmp_path, matomo.url_for("/"), TRUSTED_PROXIES=trusted_proxies)
    live = Live(app)
    try:
        cookie = consent_header(live)
        a, u = f"127.0.0.1:{attacker.port}", f"{matomo.host}:{matomo.port}"
        accepted, paths = hostile_requests(a, u)
        expected = []
        for name, method, target, headers, body, names in accepted:
            response = live.send(method, target, [*headers, cookie], body)
            assert response.status == 204, f"{name}: {response.status}"
            expected += names
        for target in paths:
            response = live.send("GET", target, [cookie])
            assert response.status in (204, 404), f"{target}: {response.status}"
            if response.status == 204:
                expected.append(dict(parse_qsl(target.split("?", 1)[1]))["action_name"])
    finally:
        live.close()

    assert len(matomo.log) == 0, "nothing goes upstream while the visitor waits"
    out = deliver(app)
    assert attacker.log == [], [r.url for r, _ in attacker.log]
    hits = received(matomo)
    assert sorted(h["action_name"] for h in hits) == sorted(expected)
    assert f"delivered {len(expected)};" in out
    assert all(h["idsite"] == "7" for h in hits)
    by_name = {h["action_name"]: h for h in hits}
    # URLs are data for Matomo's reports, passed on as given and never fetched.
    assert by_name["url-params"]["url"] == f"http://{a}/page"
    assert by_name["bulk-url-param"]["urlref"] == f"http://{a}/"
    assert not {
        "MATOMO_URL",
        "matomo_url",
        "upstream",
        "endpoint",
        "host",
        "redirect",
        "proxy",
    } & set(by_name["settings-params"])


def test_proxy_variables_in_the_environment_are_ignored(tmp_path, matomo, attacker, monkeypatch):
    """A stray HTTP(S)_PROXY on the host must not route visitors' hits through another server."""
    proxy = f"http://127.0.0.1:{attacker.port}"
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.setenv(name, proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    app = gateway_app(tmp_path, matomo.url_for("/"))
    client = app.test_client()
    post_decision(client, ACCEPT_ALL)
    assert client.get("/matomo.php?idsite=1&rec=1&action_name=proxied").status_code == 204
    assert "delivered 1;" in deliver(app)
    assert attacker.log == []
    assert [h["action_name"] for h in received(matomo)] == ["proxied"]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_upstream_redirects_are_not_followed(tmp_path, httpserver, attacker, database, status):
    target = attacker.url_for("/matomo.php")
    httpserver.expect_request("/matomo.php").respond_with_data(
        "", status=status, headers={"Location": target}
    )
    app = gateway_app(tmp_path, httpserver.url_for("/"))
    client = app.test_client()
    post_decision(client, ACCEPT_ALL)
    for n in range(3):
        assert client.get(f"/matomo.php?idsite=1&rec=1&action_name=r{n}").status_code == 204
    deliver(app)
    assert attacker.log == []
    assert len(httpserver.log) == 1
    assert dict(database.execute("select status, count(*) from outbox group by status")) == {
        "dead": 3
    }
    shown = app.test_cli_runner().invoke(args=["outbox"]).output
    assert "dead      3" in shown
    assert f"HTTP {status}: redirect to {target} not followed" in shown

    # Retrying sends them to the configured upstream again, still not to the redirect target.
    assert "re-queued 3" in app.test_cli_runner().invoke(args=["outbox", "retry"]).output
    deliver(app)
    assert attacker.log == []
    assert len(httpserver.log) == 2


BAD_URLS = [
    "http://user:secret@matomo.example/",
    "https://user@matomo.example/",
    "https://matomo.example\\@127.0.0.1/",
    "https://127.0.0.1:1@matomo.example/",
    "https://matomo.example/?url=http://127.0.0.1/",
    "https://matomo.example/matomo.php?idsite=2",
    "https://matomo.example/#fragment",
    "ftp://matomo.example/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:25/",
    "javascript:alert(1)",
    "matomo.example",
    "//matomo.example/",
    "http:///matomo.php",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_matomo_url_with_userinfo_query_or_other_scheme_is_refused(tmp_path, url):
    with pytest.raises(ConfigError) as e:
        create_app(make_config(tmp_path, MATOMO_URL=url))
    assert e.value.key == "MATOMO_URL"
    assert "MATOMO_URL" in str(e.value)


@pytest.mark.parametrize("url", BAD_URLS[:1] + BAD_URLS[4:5] + BAD_URLS[7:8])
def test_bad_matomo_url_in_config_file_stops_start_up(instance_folder, url):
    instance_folder.mkdir(parents=True, exist_ok=True)
    (instance_folder / "config.toml").write_text(
        f'SECRET_KEY = "{"k" * 48}"\nMATOMO_URL = {json.dumps(url)}\n'
    )
    with pytest.raises(ConfigError) as e:
        create_app()
    assert e.value.key == "MATOMO_URL"
    assert "config.toml" in str(e.value) and "MATOMO_URL" in str(e.value)


@pytest.mark.parametrize(
    "url",
    ["https://ansettr.matomo.cloud/", "http://127.0.0.1:8080/analytics/", "https://m.example"],
)
def test_plain_matomo_urls_are_accepted(tmp_path, url):
    assert create_app(make_config(tmp_path, MATOMO_URL=url)).config["MATOMO_URL"] == url
