"""The gate honours the visitor's latest decision, not only the cookie's signature."""

import time

import pytest
from hardening_support import event, hit
from helpers import ACCEPT_ALL, SITE, deliver, erase_token, post_decision

from consentmgr.gateway import counters as gateway_stats
from consentmgr.gateway import forwarding_check

ANALYTICS_ONLY = {"choices": {"analytics": True, "marketing": False}, "method": "custom"}


def without_consent(app, database):
    """The dashboard's "Forwarded without consent", checking every item delivered so far."""
    max_age = app.config["CONSENT_MAX_AGE_DAYS"]
    return forwarding_check.refresh(database, max_age, time.time() + 120).without_consent


def replay(client, old_cookie):
    client.set_cookie("consent", old_cookie)
    assert hit(client, action_name="replayed").status_code == 204
    assert event(client, event_id="replayed").status_code == 204


def withdraw(client):
    return client.delete("/api/consent", headers={"Origin": SITE})


def erase(client):
    token = erase_token(client)
    r = client.post("/mine-data/slett", data={"token": token}, headers={"Origin": SITE})
    assert r.status_code == 200


def decided(client):
    return client.get("/api/consent").get_json()["decided"]


@pytest.mark.parametrize("take_back", [withdraw, erase, lambda c: post_decision(c, ANALYTICS_ONLY)])
def test_an_old_cookie_replayed_after_the_visitor_changed_their_mind_sends_nothing(
    gw, upstreams, database, take_back
):
    """Acceptance 2: accept, keep the cookie, withdraw (or erase, or change), replay it."""
    client = gw.test_client()
    post_decision(client, ACCEPT_ALL)
    old = client.get_cookie("consent").value
    assert hit(client, action_name="before").status_code == 204
    deliver(gw)
    assert len(upstreams.log) == 1

    take_back(client)
    replay(client, old)
    deliver(gw)
    assert len(upstreams.log) == 1, "nothing more reached an upstream"
    totals = gateway_stats.totals(database)
    assert totals["forwarded"] == 1 and totals["dropped_no_consent"] == 2
    assert without_consent(gw, database) == 0
    assert decided(client) is False, "an old cookie reads as undecided"


def test_the_latest_cookie_still_works_and_reads_as_decided(gw, upstreams, database):
    client = gw.test_client()
    post_decision(client, ACCEPT_ALL)
    withdraw(client)
    post_decision(client, ACCEPT_ALL)  # changed their mind again: this cookie is the latest
    assert decided(client) is True
    assert hit(client, action_name="now").status_code == 204
    deliver(gw)
    assert len(upstreams.log) == 1
    assert without_consent(gw, database) == 0


def test_a_superseded_cookie_reads_as_undecided_and_stale(gw):
    client = gw.test_client()
    post_decision(client, ACCEPT_ALL)
    old = client.get_cookie("consent").value
    withdraw(client)
    client.set_cookie("consent", old)
    state = client.get("/api/consent").get_json()
    assert state["decided"] is False and state["stale"] is True and state["id"] is None
    assert state["choices"] == {"analytics": False, "marketing": False}


@pytest.mark.sqlite_only
def test_the_latest_decision_is_found_through_the_index(database, gw):
    plan = database.execute(
        "explain query plan select ts, version, choices from decisions"
        " where consent_id = ? order by seq desc limit 1",
        ["x"],
    ).fetchall()
    text = " ".join(str(row[-1]) for row in plan)
    assert "USING INDEX" in text and "SCAN decisions" not in text, text
    assert "TEMP B-TREE" not in text, text
