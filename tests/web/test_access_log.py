"""The access log of ``consentmgr serve`` keeps no personal data, gateway hits included.

Real gunicorn, started by ``consentmgr serve`` with its default ``ACCESS_LOG``,
behind one (simulated) proxy: the visitor's address arrives in
``X-Forwarded-For``. Hits with and without consent carry search terms and user
ids in their query strings and a recognisable user agent; none of it, nor the
address, nor the consent id in a receipt's path, may reach the log.
"""

import http.client
import json
import sys
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from helpers import ACCEPT_ALL, SITE
from serve_support import Served, clean_env, consentmgr_serve, free_port, write_config

BIN = Path(sys.executable).parent
VISITOR = "203.0.113.77"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) KariBrowser/7.1 Safari/537.36"


def test_access_log_holds_no_address_query_string_or_user_agent(tmp_path):
    instance = tmp_path / "instance"
    write_config(
        instance,
        SITE_ORIGINS=[SITE],
        COOKIE_SECURE=False,
        TRUSTED_PROXIES=1,
        MATOMO_URL="http://127.0.0.1:9/",
        DELIVER_IN_BACKGROUND=False,
    )
    env = clean_env(CONSENTMGR_INSTANCE=str(instance))
    visitor = {"X-Forwarded-For": VISITOR, "User-Agent": USER_AGENT}
    query = urlencode(
        {
            "idsite": "1",
            "rec": "1",
            "action_name": "Søk: kari.nordmann@example.no",
            "url": "https://ansettr.no/sok?q=sykepleier+tromsø",
            "uid": "user-424242",
        }
    )
    with consentmgr_serve(BIN, tmp_path / "serve.log", env) as server:
        # Dropped for lack of consent: counted and forgotten, and not logged either.
        dropped = server.request("GET", f"/matomo.php?{query}", headers=visitor)
        assert dropped.status == 204

        decided = server.request(
            "POST",
            "/api/consent",
            json.dumps(ACCEPT_ALL),
            headers={**visitor, "Origin": SITE, "Content-Type": "text/plain"},
        )
        assert decided.status == 201
        consent_id = json.loads(decided.body)["id"]
        cookie = SimpleCookie(decided.headers["Set-Cookie"])
        jar = "; ".join(f"{k}={m.value}" for k, m in cookie.items())

        forwarded = server.request(
            "GET",
            f"/matomo.php?{query}",
            headers={**visitor, "Cookie": jar, "Referer": "https://ansettr.no/?ref=kari"},
        )
        assert forwarded.status == 204
        receipt = server.request(
            "GET", f"/receipt/{consent_id}", headers={**visitor, "Cookie": jar}
        )
        assert receipt.status == 200
        missing = server.request("GET", "/no-such-page?email=kari@example.no", headers=visitor)
        assert missing.status == 404
    log = server.output()

    lines = [line for line in log.splitlines() if '"GET ' in line or '"POST ' in line]
    assert len(lines) == 5, log
    for needle in (
        VISITOR,
        "127.0.0.1",  # the proxy's address is an address too
        "KariBrowser",
        "kari",
        "user-424242",
        "sykepleier",
        "idsite",
        "?",
        consent_id,
    ):
        assert needle not in "\n".join(lines), needle
    assert all(" 203.0.113.0/24 " in line for line in lines), lines
    assert sum('"GET /matomo.php HTTP/1.1" 204' in line for line in lines) == 2, lines
    assert '"POST /api/consent HTTP/1.1" 201' in log
    assert '"GET /receipt/<consent_id> HTTP/1.1" 200' in log
    assert '"GET - HTTP/1.1" 404' in log


def test_the_development_server_logs_networks_and_routes_never_addresses(tmp_path):
    """``consentmgr run`` (what ``./dev run`` starts) keeps what the production log keeps."""
    instance = tmp_path / "instance"
    write_config(instance, SITE_ORIGINS=[SITE])
    port = free_port()
    env = clean_env(CONSENTMGR_INSTANCE=str(instance))
    args = [str(BIN / "consentmgr"), "run", "--port", str(port)]
    with Served(args, port, tmp_path / "run.log", env=env) as served:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/receipt/a-visitors-consent-id?secret=searchterm")
        conn.getresponse().read()
        conn.close()
        deadline = time.monotonic() + 10
        while "/receipt/" not in served.output() and time.monotonic() < deadline:
            time.sleep(0.1)
        log = served.output()
    line = next(line for line in log.splitlines() if "/receipt/" in line)
    assert line.startswith("127.0.0.0/24 - - [")
    assert '"GET /receipt/<consent_id> HTTP/1.1" 404' in line
    assert "127.0.0.1 -" not in log and "a-visitors-consent-id" not in log
    assert "searchterm" not in log
