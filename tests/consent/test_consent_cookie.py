import json
from datetime import UTC, datetime, timedelta

from helpers import ACCEPT_ALL, make_config, post_decision, shipped_policy
from itsdangerous import URLSafeTimedSerializer
from itsdangerous.encoding import base64_decode

from consentmgr import create_app
from consentmgr.consent import cookie as consent_cookie
from consentmgr.consent.cookie import Consent

OTHER_KEY = "another-secret-key-that-is-long-enough-987654321"


def decided(client, cookie_value):
    client.set_cookie("consent", cookie_value)
    return client.get("/api/consent").get_json()


def accepted_cookie(client):
    r = post_decision(client, ACCEPT_ALL)
    return client.get_cookie("consent").value, r.get_json()


def test_payload_is_readable_json_without_compression(client):
    value, body = accepted_cookie(client)
    payload = json.loads(base64_decode(value.split(".")[0]))
    assert payload == {"g": ["analytics", "marketing"], "i": body["id"], "v": body["version"]}
    assert not value.startswith("."), "compressed payloads cannot be read by the banner"


def test_tampered_cookie_reads_as_undecided(client):
    value, _ = accepted_cookie(client)
    payload, rest = value.split(".", 1)
    forged = json.dumps({"g": ["analytics"], "i": "x", "v": "y"}).encode()
    from itsdangerous.encoding import base64_encode

    for bad in [
        base64_encode(forged).decode() + "." + rest,
        value[:-2] + ("AA" if not value.endswith("AA") else "BB"),
        value + "x",
        "garbage",
        "",
        "a.b.c",
    ]:
        state = decided(client, bad)
        assert state["decided"] is False and state["id"] is None


def test_foreign_key_cookie_reads_as_undecided(app, client):
    foreign = URLSafeTimedSerializer(OTHER_KEY, salt=consent_cookie.SALT).dumps(
        {"i": "abc", "v": app.extensions["consentmgr.policy"].version, "g": ["analytics"]}
    )
    assert decided(client, foreign)["decided"] is False


def test_other_salt_cookie_reads_as_undecided(app, client):
    """A value signed with the right key for another purpose (e.g. a session) is refused."""
    other = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="something-else").dumps(
        {"i": "abc", "v": app.extensions["consentmgr.policy"].version, "g": ["analytics"]}
    )
    assert decided(client, other)["decided"] is False


def test_expired_cookie_reads_as_undecided_and_stale_but_keeps_id(app, client, database):
    policy = app.extensions["consentmgr.policy"]

    class Past(URLSafeTimedSerializer.default_signer):
        def get_timestamp(self):
            return int((datetime.now(UTC) - timedelta(days=181)).timestamp())

    current = consent_cookie.serializer(app)
    old = type(current)(
        app.config["SECRET_KEY"],
        salt=consent_cookie.SALT,
        signer=Past,
        serializer_kwargs=current.serializer_kwargs,
    ).dumps({"i": "old-id", "v": policy.version, "g": ["analytics"]})
    state = decided(client, old)
    assert state["decided"] is False and state["stale"] is True and state["id"] is None

    r = post_decision(client, ACCEPT_ALL)
    assert r.get_json()["id"] == "old-id", "an expired visitor keeps their consent id"


def test_key_rotation(tmp_path, config):
    old_app = create_app(config)
    old_client = old_app.test_client()
    value, body = accepted_cookie(old_client)

    rotated = create_app(
        make_config(tmp_path, SECRET_KEY=OTHER_KEY, OLD_SECRET_KEYS=[config["SECRET_KEY"]])
    )
    client = rotated.test_client()
    state = decided(client, value)
    assert state["decided"] is True and state["id"] == body["id"], "old key still verifies"

    r = post_decision(client, ACCEPT_ALL)
    new_value = client.get_cookie("consent").value
    new_only = URLSafeTimedSerializer(OTHER_KEY, salt=consent_cookie.SALT)
    assert new_only.loads(new_value)["i"] == body["id"], "new cookies use the new key"
    assert r.get_json()["id"] == body["id"]

    dropped = create_app(make_config(tmp_path, SECRET_KEY=OTHER_KEY)).test_client()
    assert decided(dropped, value)["decided"] is False, "a retired key no longer verifies"


def write_policy(tmp_path, name, change):

    content = shipped_policy()
    change(content)
    path = tmp_path / name
    path.write_text(json.dumps(content, ensure_ascii=False))
    return str(path)


def test_wording_change_is_a_revision_not_a_new_version(tmp_path, config):
    app = create_app(config)
    client = app.test_client()
    value, body = accepted_cookie(client)

    def reword(c):
        c["texts"]["nb"]["intro"] = "Ny tekst."

    reworded = create_app({**config, "POLICY_FILE": write_policy(tmp_path, "p.json", reword)})
    p0, p1 = app.extensions["consentmgr.policy"], reworded.extensions["consentmgr.policy"]
    assert p1.version == p0.version and p1.revision == p0.revision + 1
    state = decided(reworded.test_client(), value)
    assert state["decided"] is True and state["stale"] is False

    again = create_app(config).extensions["consentmgr.policy"]
    assert again.revision == p0.revision, "the same content keeps its revision"


def test_purpose_change_makes_a_new_version_and_stale_cookie(tmp_path, config, database):
    app = create_app(config)
    value, _ = accepted_cookie(app.test_client())

    def add_vendor(c):
        c["categories"][1]["vendors"].append({"id": "hotjar", "name": "Hotjar"})

    changed = create_app({**config, "POLICY_FILE": write_policy(tmp_path, "p.json", add_vendor)})
    assert changed.extensions["consentmgr.policy"].version != (
        app.extensions["consentmgr.policy"].version
    )
    state = decided(changed.test_client(), value)
    assert state["decided"] is True and state["stale"] is True
    versions = {r["version"] for r in database["policies"].rows}
    assert len(versions) == 2, "every version served is kept"


def test_encode_decode_roundtrip(app):
    c = Consent("id1", "v1", frozenset({"analytics"}), datetime.now(UTC))
    back = consent_cookie.decode(app, consent_cookie.encode(app, c))
    assert back.id == "id1" and back.granted == {"analytics"} and back.version == "v1"
