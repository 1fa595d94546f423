"""The banner check: are *Godta alle*, *Avvis alle* and *Tilpass* there, and do they look alike?

The buttons are found by their accessible names in every language of the
policy, inside the banner's shadow root too. "Alike" is the same size (within
2 px), text and background colour, font size and weight, and border.
"""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from ..consent.policy import LANGS, Policy

BUTTON_STYLE_JS = """(el) => {
  const r = el.getBoundingClientRect();
  const s = getComputedStyle(el);
  return {width: Math.round(r.width), height: Math.round(r.height), color: s.color,
          background: s.backgroundColor, font_size: s.fontSize, font_weight: s.fontWeight,
          border: `${s.borderTopWidth} ${s.borderTopStyle} ${s.borderTopColor}`};
}"""


@dataclass(frozen=True)
class Labels:
    """The banner's button names, in every language of the policy."""

    accept: tuple[str, ...]
    reject: tuple[str, ...]
    customise: tuple[str, ...]

    @classmethod
    def of(cls, policy: Policy) -> Labels:
        def texts(key: str) -> tuple[str, ...]:
            return tuple(dict.fromkeys(policy.content["texts"][lang][key] for lang in LANGS))

        return cls(texts("accept_all"), texts("reject_all"), texts("customise"))


def button(page: Any, names: tuple[str, ...]) -> Any:
    pattern = re.compile("^(?:" + "|".join(re.escape(n) for n in names) + ")$")
    return page.get_by_role("button", name=pattern).first


def check_banner(page: Any, labels: Labels, wait: float) -> dict[str, Any]:
    """Whether the banner shows its three buttons, and whether they look the same."""
    from playwright.sync_api import Error

    buttons = {
        "accept_all": button(page, labels.accept),
        "reject_all": button(page, labels.reject),
        "customise": button(page, labels.customise),
    }
    with suppress(Error):
        buttons["accept_all"].wait_for(state="visible", timeout=wait * 1000)
    found: dict[str, Any] = {}
    for key, locator in buttons.items():
        try:
            if locator.is_visible():
                found[key] = {"name": locator.inner_text().strip()} | locator.evaluate(
                    BUTTON_STYLE_JS
                )
        except Error:
            continue
    missing = [k for k in buttons if k not in found]
    unequal: list[str] = []
    if not missing:
        first, *others = found.values()
        for prop in ("width", "height"):
            if any(abs(b[prop] - first[prop]) > 2 for b in others):
                unequal.append(prop)
        for prop in ("color", "background", "font_size", "font_weight", "border"):
            if any(b[prop] != first[prop] for b in others):
                unequal.append(prop.replace("_", " "))
    return {
        "found": bool(found),
        "buttons": found,
        "missing": missing,
        "unequal": unequal,
    }
