"""Cookie names in the policy: plain patterns or ``{"name", "when"}``, outside the version."""

from __future__ import annotations

import json
import re

import pytest
from helpers import make_config, shipped_policy

from consentmgr import create_app
from consentmgr.consent import banner, policy


def write(tmp_path, content) -> str:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    return str(path)


def test_cookie_names_and_conditions_change_the_revision_not_the_version(tmp_path):
    shipped = policy.load()
    changed = shipped_policy()
    changed["categories"][2]["cookies"] = ["_fbp", {"name": "_gcl_*", "when": "an ad click"}]
    loaded = policy.load(write(tmp_path, changed))
    assert loaded.version == shipped.version
    assert loaded.digest != shipped.digest
    assert policy.cookie_patterns(loaded.categories[2]) == [
        policy.CookiePattern("_fbp"),
        policy.CookiePattern("_gcl_*", "an ad click"),
    ]


def test_the_shipped_policy_marks_conditional_cookies():
    marketing = policy.load().categories[2]
    fbc = {p.name: p for p in policy.cookie_patterns(marketing)}["_fbc"]
    assert fbc.when == marketing["cookies"][1]["when"] and fbc.max_age == "90 days"


@pytest.mark.parametrize(
    "cookies",
    [
        "_fbp",
        [""],
        [{"when": "no name"}],
        [{"name": "_fbp", "when": 3}],
        [{"name": "_fbp", "domain": "x"}],
    ],
)
def test_a_malformed_cookie_list_stops_start_up_naming_the_place(tmp_path, cookies):
    content = shipped_policy()
    content["categories"][1]["cookies"] = cookies
    with pytest.raises(policy.PolicyError, match=re.escape("categories[1].cookies must be a list")):
        create_app(make_config(tmp_path, POLICY_FILE=write(tmp_path, content)))


def test_banner_deletes_conditional_cookies_too():
    """The banner's withdrawal regexp covers every declared name, conditional or not."""
    p = policy.load()
    config = {"COOKIE_NAME": "consent", "HONOR_GPC": True, "SHOW_REOPEN_BUTTON": False}
    data = banner.embedded(p, config | {"PRIVACY_URL": "/personvern"})
    marketing = re.compile(data["k"][2]["c"])
    assert marketing.match("_fbp") and marketing.match("_fbc") and not marketing.match("_fbx")
