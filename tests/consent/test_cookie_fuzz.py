"""Mutating a valid cookie must never be accepted and never crash the server."""

from helpers import ACCEPT_ALL, post_decision
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentmgr.consent import cookie as consent_cookie

ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.="%{}:, '


@st.composite
def mutations(draw, value):
    chars = list(value)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["replace", "insert", "delete", "swap"]))
        i = draw(st.integers(0, max(len(chars) - 1, 0)))
        if kind == "replace" and chars:
            chars[i] = draw(st.sampled_from(ALPHABET))
        elif kind == "insert":
            chars.insert(i, draw(st.sampled_from(ALPHABET)))
        elif kind == "delete" and chars:
            del chars[i]
        elif kind == "swap" and len(chars) > 1:
            j = draw(st.integers(0, len(chars) - 1))
            chars[i], chars[j] = chars[j], chars[i]
    return "".join(chars)


def test_mutated_cookies_are_never_accepted(app, client):
    post_decision(client, ACCEPT_ALL)
    valid = client.get_cookie("consent").value
    seen = {"accepted": 0, "errors": 0, "tried": 0}

    @settings(
        max_examples=10_000,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(mutations(valid))
    def check(mutated):
        if mutated == valid:
            return
        seen["tried"] += 1
        if consent_cookie.decode(app, mutated) is not None:
            seen["accepted"] += 1
        client.set_cookie("consent", mutated)
        r = client.get("/api/consent")
        if r.status_code >= 500:
            seen["errors"] += 1
        elif r.get_json()["decided"]:
            seen["accepted"] += 1

    check()
    assert seen["tried"] > 9_000
    assert seen == {"accepted": 0, "errors": 0, "tried": seen["tried"]}
