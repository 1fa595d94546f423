"""Small helpers shared by the tests."""

import json
import re
import time
from datetime import UTC, datetime
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the checkout
SITE = "https://ansettr.no"
ACCEPT_ALL = {
    "choices": {"analytics": True, "marketing": True},
    "method": "accept_all",
    "lang": "nb",
}
CUSTOM = {"choices": {"analytics": True, "marketing": False}, "method": "custom", "lang": "nb"}
REJECT_ALL = {
    "choices": {"analytics": False, "marketing": False},
    "method": "reject_all",
    "lang": "nb",
}


def make_config(tmp_path, **overrides):
    tmp_path.mkdir(parents=True, exist_ok=True)
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "DATABASE": database_setting(tmp_path / "consent.sqlite"),
        "SITE_ORIGINS": [SITE],
        "COOKIE_SECURE": False,
        "DELIVER_IN_BACKGROUND": False,
        "DEMO": True,
        **overrides,
    }


def decide(app, db, consent_id="v1", when=None, **fields):
    """Append a decision to the log directly (custom: analytics only, unless ``fields`` say)."""
    from consentmgr.consent import log as consent_log

    policy = app.extensions["consentmgr.policy"]
    values = {
        "consent_id": consent_id,
        "version": policy.version,
        "revision": policy.revision,
        "choices": {"analytics": True, "marketing": False},
        "method": "custom",
        "lang": "nb",
        "page": "https://ansettr.no/stillinger",
        "ua_family": "Firefox",
        "ip_prefix": "198.51.100.0/24",
        **fields,
    }
    return consent_log.append(db, consent_log.Decision(**values), when or datetime.now(UTC))


def post_decision(
    client, body, origin=SITE, content_type="text/plain", remote_addr="127.0.0.1", **headers
):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    if origin:
        headers["Origin"] = origin
    return client.post(
        "/api/consent",
        data=data,
        content_type=content_type,
        headers=headers,
        environ_base={"REMOTE_ADDR": remote_addr},
    )


def on_postgres() -> bool:
    """Whether this run of the suite stores on PostgreSQL (CONSENTMGR_TEST_BACKEND)."""
    import postgres_support

    return postgres_support.CURRENT is not None


def database_setting(path):
    """``DATABASE`` for a test: the SQLite file ``path``, or on PostgreSQL a database of its own."""
    import postgres_support

    if postgres_support.CURRENT is None:
        return str(path)
    return postgres_support.database_for(str(path))


def open_db(config):
    """A connection to the database of an app's config (``app.config`` or a config dict)."""
    from consentmgr.db import connect, database_url

    url = database_url(config)
    if url:
        import postgres_support

        return postgres_support.test_storage(url)
    return connect(config["DATABASE"])


def count(db, table="decisions"):
    return db.execute(f"select count(*) from {table}").fetchone()[0]


def database_bytes(path):
    """The database file and its WAL, as raw bytes, for scanning for leaked values."""
    from pathlib import Path

    data = b""
    for suffix in ("", "-wal"):
        file = Path(str(path) + suffix)
        if file.exists():
            data += file.read_bytes()
    return data


MATOMO_TOKEN = "server-token-0123456789abcdef"


def matomo_ok(request):
    """A Matomo stand-in's answer: every hit of the bulk request tracked."""
    from werkzeug import Response

    n = len(request.get_json(force=True)["requests"])
    return Response(
        json.dumps({"status": "success", "tracked": n, "invalid": 0}),
        content_type="application/json",
    )


def gateway_app(tmp_path, url, **overrides):
    """An app whose Matomo upstream is ``url``, with short timeouts for tests."""
    from consentmgr import create_app

    settings = {
        "MATOMO_URL": url,
        "MATOMO_SITE_ID": 7,
        "MATOMO_TOKEN_AUTH": MATOMO_TOKEN,
        "UPSTREAM_CONNECT_TIMEOUT": 0.5,
        "UPSTREAM_READ_TIMEOUT": 1.0,
    }
    return create_app(make_config(tmp_path, **{**settings, **overrides}))


def counted(client, database, target):
    """The gateway counters, once this app has written its in-memory tally as a pass would."""
    from consentmgr.gateway import counters

    counters.write_tally(client.application)
    return counters.totals(database, target)


def erase_token(client) -> str:
    """The token of the erase form, from the confirmation page ``/mine-data/slett``."""
    html = client.get("/mine-data/slett").get_data(as_text=True)
    return re.search(r'name="token" value="([^"]+)"', html)[1]


def deliver(app):
    """One delivery pass, as ``consentmgr deliver --once`` runs it; returns its output."""
    result = app.test_cli_runner().invoke(args=["deliver", "--once"])
    assert result.exit_code == 0, result.output
    return result.output


def shipped_policy() -> dict:
    """The shipped policy as JSON, for tests that write a changed copy of it."""
    return json.loads(resources.files("consentmgr.consent").joinpath("policy.json").read_text())


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


def stored(server, meta_key="event_id"):
    """What a live server's outbox holds, in order: ("meta", the event's ``meta_key``)
    or ("matomo", the event action or the page title)."""
    from consentmgr.gateway import sealed

    items = []
    for row in server.rows("outbox"):
        payload = sealed.unseal(server.app, row["payload"])
        if row["target"] == "meta":
            items.append(("meta", payload[meta_key]))
        else:
            params = dict(payload)
            items.append(("matomo", params.get("e_a") or params.get("action_name")))
    return items


def wait_until_stored(server, *items, meta_key="event_id"):
    """Until every one of ``items`` is in the outbox (bounded; nothing is timed)."""
    for _ in range(200):
        if set(items) <= set(stored(server, meta_key)):
            return
        time.sleep(0.05)
    raise AssertionError(f"expected {items} in the outbox, found {stored(server, meta_key)}")
