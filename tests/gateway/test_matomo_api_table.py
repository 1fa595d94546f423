"""README's table of the _paq API and the tracker say the same thing."""

import re

from helpers import ROOT

TRACKER = (ROOT / "static" / "js" / "matomo.js").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")
METHOD = re.compile(r"`([a-z][a-zA-Z]+)`")


def table() -> dict[str, set[str]]:
    """Method names per status ("works", "accepted, no effect", "not supported")."""
    section = README[README.index("#### The `_paq` API") :]
    rows = section[section.index("| methods | status |") :].split("\n\n", 1)[0].splitlines()[2:]
    names: dict[str, set[str]] = {}
    for row in rows:
        methods, status = row.strip("|").split(" | ", 1)
        methods = re.sub(r"\([^)]*\)", "", methods)  # parameters, in parentheses
        key = next(s for s in ("works", "accepted, no effect", "not supported") if s in status)
        names.setdefault(key, set()).update(METHOD.findall(methods))
    return names


def implemented() -> set[str]:
    body = TRACKER[
        TRACKER.index("const api = {") : TRACKER.index("\n  };", TRACKER.index("const api = {"))
    ]
    return set(re.findall(r"^    (\w+)[:(]", body, re.M))


def no_effect() -> set[str]:
    listed = TRACKER[TRACKER.index("const NO_EFFECT = new Set(") :].split("`")[1]
    return set(listed.split())


def test_readme_table_matches_the_tracker():
    rows = table()
    assert rows["works"] == implemented()
    assert rows["accepted, no effect"] == no_effect()
    assert not rows["not supported"] & (implemented() | no_effect())
