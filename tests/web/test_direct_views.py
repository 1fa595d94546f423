"""The hit endpoint's direct view: the app's hooks are skipped, nothing else is."""

import json

import pytest

from consentmgr.gateway.matomo import endpoint as matomo_endpoint
from consentmgr.gateway.meta import endpoint as meta_endpoint


@pytest.fixture
def hooked(app):
    """The app with a before_request and an after_request hook that note each request."""
    seen = []
    app.before_request(lambda: seen.append("before") and None)

    @app.after_request
    def _after(response):
        seen.append("after")
        return response

    return seen


def test_hits_skip_the_apps_hooks_other_requests_run_them(app, client, hooked):
    assert client.get("/matomo.php?idsite=1&rec=1").status_code == 204
    assert client.post("/piwik.php", data="idsite=1&rec=1").status_code == 204
    assert hooked == []
    assert client.get("/health").status_code == 200
    assert hooked == ["before", "after"]


def test_a_direct_view_still_gets_security_headers_and_json_errors(client):
    r = client.get("/matomo.php?idsite=1")  # no rec=1: not a tracking request
    assert r.status_code == 400
    assert "rec=1" in json.loads(r.data)["error"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]


def test_other_methods_take_the_full_cycle(client, hooked):
    r = client.put("/matomo.php?idsite=1&rec=1")
    assert r.status_code == 405
    assert hooked == ["before", "after"]


def test_an_endpoint_whose_blueprint_has_hooks_cannot_be_direct(app):
    # A hook added to such a blueprint would be skipped without a word; refuse instead.
    with pytest.raises(RuntimeError, match="has request hooks"):
        app.direct(f"{meta_endpoint.bp.name}.track")
    assert app.direct_endpoints == {f"{matomo_endpoint.bp.name}.track"}
