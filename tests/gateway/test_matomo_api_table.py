"""README's table of the _paq API and the tracker say the same thing."""

import re

from helpers import ROOT

JS = ROOT / "static" / "js"
TRACKER = (JS / "matomo.js").read_text(encoding="utf-8")
EXTRA = (JS / "matomo-extra.js").read_text(encoding="utf-8")
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


def methods(script: str) -> set[str]:
    """The names in a script's ``const api = {...}``."""
    start = script.index("const api = {")
    indent = script[script.rindex("\n", 0, start) + 1 : start]
    body = script[start : script.index(f"\n{indent}}};", start)]
    return set(re.findall(rf"^{indent}  (\w+)[:(]", body, re.M))


def implemented() -> set[str]:
    return methods(TRACKER) | methods(EXTRA)


def later() -> set[str]:
    """The names the tracker leaves to matomo-extra.js."""
    return set(TRACKER[TRACKER.index("const LATER = new Set(") :].split("`")[1].split())


def no_effect() -> set[str]:
    listed = TRACKER[TRACKER.index("const NO_EFFECT = new Set(") :].split("`")[1]
    return set(listed.split())


def test_readme_table_matches_the_tracker():
    rows = table()
    assert rows["works"] == implemented()
    assert rows["accepted, no effect"] == no_effect()
    assert not rows["not supported"] & (implemented() | no_effect())
    assert later() == methods(EXTRA), "the tracker loads matomo-extra.js for exactly its methods"
