"""Advanced matching: every key the pixel takes, normalised and hashed as Meta specifies.

Each key goes through the real endpoint to a Graph API stand-in on 127.0.0.1;
the expected hashes are Meta's published examples where Meta gives one
(customer information parameters of the Conversions API), else the SHA-256 of
the normalised form Meta's rule describes.
"""

import hashlib
import json

import pytest
from helpers import ACCEPT_ALL, count, deliver, post_decision
from test_meta_gateway import PIXEL, batches, event, meta_app
from werkzeug import Response

from consentmgr.gateway.meta import event as meta_event
from consentmgr.gateway.meta import matching


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


US = "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621"
# One example per key, Meta's own where it publishes one: (key, as the site gives it, hash).
MATCHING_EXAMPLES = [
    ("em", " John_Smith@gmail.com ", sha("john_smith@gmail.com")),
    ("ph", "+1 (650)555-1212", "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"),
    ("fn", "Mary", "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec"),
    ("ln", "Valéry", "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c"),
    ("ge", "Female", sha("f")),
    ("db", "2/16/1997", "01acdbf6ec7b4f478a225f1a246e5d6767eeab1a7ffa17f025265b5b94f40f0c"),
    ("ct", "Menlo Park", sha("menlopark")),
    ("st", "California", sha("ca")),
    ("zp", "94025-1234", sha("94025")),
    (
        "country",
        "United States",
        "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621",
    ),
    ("external_id", " ansettr-user-4711 ", sha("ansettr-user-4711")),
]
assert [key for key, _, _ in MATCHING_EXAMPLES] == list(matching.KEYS)

# More forms per key: (key, raw, normalised).
NORMALISED = [
    ("em", "Kari.Nordmann@Example.NO", "kari.nordmann@example.no"),
    ("fn", "정", "정"),
    ("fn", "Kari-Anne", "karianne"),
    ("fn", "  O'Brien ", "obrien"),
    ("ln", "Ødegård", "ødegård"),
    ("ln", "Vale\u0301ry", "valéry"),  # a combining accent hashes like the composed letter
    ("ge", "m", "m"),
    ("ge", " MALE ", "m"),
    ("db", "19970216", "19970216"),
    ("db", "1997-02-16", "19970216"),
    ("db", "16.02.1997", "19970216"),
    ("ct", "Oslo", "oslo"),
    ("ct", "St. Louis", "stlouis"),
    ("ct", "Bærum", "bærum"),
    ("st", "CA", "ca"),
    ("st", "New York", "ny"),
    ("st", "Viken", "viken"),
    ("zp", "0150", "0150"),
    ("zp", "SW1A 1AA", "sw1a1aa"),
    ("zp", "94025", "94025"),
    ("country", "NO", "no"),
    ("country", "Norge", "no"),
    ("external_id", "12345", "12345"),
]


@pytest.fixture
def graph(httpserver):
    def ok(request):
        n = len(request.get_json(force=True)["data"])
        return Response(json.dumps({"events_received": n}), content_type="application/json")

    httpserver.expect_request(f"/v23.0/{PIXEL}/events", method="POST").respond_with_handler(ok)
    return httpserver


@pytest.fixture
def app_(tmp_path, graph):
    return meta_app(tmp_path, graph.url_for("/").rstrip("/"))


def delivered_user_data(app, graph, user_data):
    """Post one Lead with ``user_data``; the user_data Meta's stand-in receives."""
    client = app.test_client()
    post_decision(client, ACCEPT_ALL)
    r = event(client, user_data=user_data)
    assert r.status_code == 204, r.get_data(as_text=True)
    assert "delivered 1" in deliver(app)
    [batch] = batches(graph)
    [sent] = batch["data"]
    return sent["user_data"], client.get("/api/consent").get_json()["id"]


@pytest.mark.parametrize(
    ("key", "raw", "expected"), MATCHING_EXAMPLES, ids=[k for k, _, _ in MATCHING_EXAMPLES]
)
def test_each_matching_key_reaches_meta_normalised_and_hashed(app_, graph, key, raw, expected):
    user, consent_id = delivered_user_data(app_, graph, {key: raw})
    if key == "external_id":
        assert user["external_id"] == [expected, meta_event.sha256(consent_id)]
    else:
        assert user[key] == [expected]
        assert user["external_id"] == [meta_event.sha256(consent_id)]


@pytest.mark.parametrize(("key", "raw", "normalised"), NORMALISED)
def test_normalisation_forms(key, raw, normalised):
    assert matching.RULES[key](raw) == normalised
    assert matching.hashed(key, raw) == sha(normalised)


def test_numbers_are_taken_as_text(app_, graph):
    """Meta's own example passes ``external_id`` as a number; phone numbers come so too."""
    user, _ = delivered_user_data(app_, graph, {"external_id": 12345, "ph": 4791234567})
    assert user["external_id"][0] == sha("12345")
    assert user["ph"] == [sha("4791234567")]


def test_a_us_zip_code_is_cut_to_five_digits_only_in_the_us():
    assert matching.hash_all({"zp": "940251234", "country": "US"})["zp"] == sha("94025")
    assert matching.hash_all({"zp": "940251234"})["zp"] == sha("940251234")
    assert matching.hash_all({"zp": "0150", "country": "no"})["zp"] == sha("0150")


def test_values_sent_already_hashed_arrive_unchanged(app_, graph):
    """A site that hashes in the browser (as Meta's pixel does) is not hashed twice."""
    given = {key: sha(f"value of {key}") for key in matching.KEYS}
    given["em"] = given["em"].upper()  # hex in capitals is the same digest
    user, consent_id = delivered_user_data(app_, graph, given)
    for key in matching.KEYS:
        if key == "external_id":
            assert user[key] == [given[key], meta_event.sha256(consent_id)]
        else:
            assert user[key] == [given[key].lower()]


def test_all_keys_together(app_, graph):
    given = {key: raw for key, raw, _ in MATCHING_EXAMPLES}
    user, _ = delivered_user_data(app_, graph, given)
    for key, _, expected in MATCHING_EXAMPLES:
        assert user[key][0] == expected


def test_empty_values_are_left_out(app_, graph):
    user, _ = delivered_user_data(app_, graph, {"em": "", "fn": None, "ct": "Oslo"})
    assert "em" not in user and "fn" not in user
    assert user["ct"] == [sha("oslo")]


@pytest.mark.parametrize(
    ("user_data", "message"),
    [
        ({"em": ["kari@example.no"]}, "user_data.em must be a string"),
        ({"fn": {"first": "Kari"}}, "user_data.fn must be a string"),
        ({"ge": True}, "user_data.ge must be a string"),
        ({"zp": 1.5}, "user_data.zp must be a string"),
        ({"ln": "a" * 257}, "user_data.ln must be at most 256 characters"),
        ({"external_id": "1" * 300}, "user_data.external_id must be at most 256"),
        ({"em": "kari@"}, "user_data.em must be an email address"),
        ({"ph": "12"}, "user_data.ph must be a phone number"),
        ({"fn": "..."}, "user_data.fn must hold letters"),
        ({"ln": "123"}, "user_data.ln must hold letters"),
        ({"ge": "x"}, "user_data.ge must be f or m"),
        ({"db": "1899-12-31"}, "user_data.db must be a date of birth"),
        ({"db": "31.02.1997"}, "user_data.db must be a date of birth"),
        ({"db": "tomorrow"}, "user_data.db must be a date of birth"),
        ({"ct": "1234"}, "user_data.ct must hold letters"),
        ({"st": "--"}, "user_data.st must hold letters"),
        ({"zp": "!"}, "user_data.zp must be a postcode"),
        ({"country": "Narnia"}, "user_data.country must be a 2-letter"),
        ({"country": "xx"}, "user_data.country must be a 2-letter"),
        ({"external_id": "   "}, "user_data.external_id must not be blank"),
        ({"address": "Storgata 1"}, "user_data may only hold em, ph, fn"),
    ],
)
def test_bad_matching_values_are_400_and_write_nothing(app_, graph, database, user_data, message):
    client = app_.test_client()
    post_decision(client, ACCEPT_ALL)
    r = event(client, user_data=user_data)
    assert r.status_code == 400
    assert message in r.get_json()["error"]
    assert count(database, "outbox") == 0
    deliver(app_)
    assert graph.log == []


def test_referrer_and_page_are_sent_as_meta_names_them(app_, graph):
    client = app_.test_client()
    post_decision(client, ACCEPT_ALL)
    r = event(client, page="https://ansettr.no/stilling/1", referrer="https://www.google.com/")
    assert r.status_code == 204
    deliver(app_)
    [sent] = batches(graph)[0]["data"]
    assert sent["event_source_url"] == "https://ansettr.no/stilling/1"
    assert sent["referrer_url"] == "https://www.google.com/"
    assert sent["action_source"] == "website"


def test_no_referrer_means_no_referrer_url(app_, graph):
    client = app_.test_client()
    post_decision(client, ACCEPT_ALL)
    event(client, referrer="")
    deliver(app_)
    [sent] = batches(graph)[0]["data"]
    assert "referrer_url" not in sent


def test_no_raw_matching_value_in_the_database(app_, database):
    from helpers import database_bytes

    client = app_.test_client()
    post_decision(client, ACCEPT_ALL)
    given = {key: raw for key, raw, _ in MATCHING_EXAMPLES}
    assert event(client, user_data=given).status_code == 204
    raw = database_bytes(app_.config["DATABASE"])
    for secret in ("John_Smith", "Menlo Park", "menlopark", "ansettr-user-4711", "Valéry"):
        assert secret.encode() not in raw
