"""Small helpers shared by the tests."""

import json
from importlib import resources

SITE = "https://ansettr.no"
ACCEPT_ALL = {
    "choices": {"analytics": True, "marketing": True},
    "method": "accept_all",
    "lang": "nb",
}
REJECT_ALL = {
    "choices": {"analytics": False, "marketing": False},
    "method": "reject_all",
    "lang": "nb",
}


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
    from conftest import make_config

    from consentmgr import create_app

    settings = {
        "MATOMO_URL": url,
        "MATOMO_SITE_ID": 7,
        "MATOMO_TOKEN_AUTH": MATOMO_TOKEN,
        "UPSTREAM_CONNECT_TIMEOUT": 0.5,
        "UPSTREAM_READ_TIMEOUT": 1.0,
    }
    return create_app(make_config(tmp_path, **{**settings, **overrides}))


def deliver(app):
    """One delivery pass, as ``consentmgr deliver --once`` runs it; returns its output."""
    result = app.test_cli_runner().invoke(args=["deliver", "--once"])
    assert result.exit_code == 0, result.output
    return result.output


def shipped_policy() -> dict:
    """The shipped policy as JSON, for tests that write a changed copy of it."""
    return json.loads(resources.files("consentmgr.consent").joinpath("policy.json").read_text())
