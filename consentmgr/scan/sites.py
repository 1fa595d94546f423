"""Registrable domains ("sites"), to tell first parties from third parties.

Browsers treat ``ansettr.no`` and ``consent.ansettr.no`` as one site and
``facebook.com`` as another: what decides is the *registrable domain*, one
label more than the public suffix the host ends in (``no``, ``co.uk``,
``github.io``). The suffixes come from the Public Suffix List as Debian ships
it (package ``publicsuffix``, installed with ``libpsl5``); without the file,
the last two labels are used, except after a few well-known two-label
suffixes. An IP address or a single-label host such as ``localhost`` is its
own site.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

LIST_FILES = (
    Path("/usr/share/publicsuffix/public_suffix_list.dat"),
    Path("/usr/share/publicsuffix/effective_tld_names.dat"),
)
# Used only when no list file is installed.
FALLBACK = frozenset(
    "co.uk org.uk ac.uk gov.uk com.au net.au org.au co.nz co.jp co.kr com.br com.cn"
    " com.tr co.za com.mx github.io".split()
)


@dataclass(frozen=True)
class Rules:
    normal: frozenset[str]
    wildcard: frozenset[str]  # "*.ck" is stored as "ck"
    exception: frozenset[str]  # "!www.ck" is stored as "www.ck"


def _ascii(rule: str) -> str:
    try:
        return ".".join(label.encode("idna").decode("ascii") for label in rule.split("."))
    except UnicodeError:
        return rule


def parse(text: str) -> Rules:
    normal, wildcard, exception = set(), set(), set()
    for line in text.splitlines():
        rule = line.strip().split(" ")[0].lower()
        if not rule or rule.startswith("//"):
            continue
        if rule.startswith("!"):
            exception.add(_ascii(rule[1:]))
        elif rule.startswith("*."):
            wildcard.add(_ascii(rule[2:]))
        else:
            normal.add(_ascii(rule))
    return Rules(frozenset(normal), frozenset(wildcard), frozenset(exception))


@functools.cache
def rules() -> Rules:
    for path in LIST_FILES:
        try:
            return parse(path.read_text(encoding="utf-8"))
        except OSError:
            continue
    return Rules(FALLBACK, frozenset(), frozenset())


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def registrable_domain(host: str, table: Rules | None = None) -> str:
    """The site a host belongs to: ``consent.ansettr.no`` -> ``ansettr.no``."""
    host = host.strip().lower().rstrip(".").lstrip(".")
    if not host or "." not in host or _is_ip(host):
        return host
    table = table or rules()
    labels = host.split(".")
    for i in range(len(labels)):
        candidate = ".".join(labels[i:])
        if candidate in table.exception:
            suffix_at = i + 1
            break
        if candidate in table.normal or ".".join(labels[i + 1 :]) in table.wildcard:
            suffix_at = i
            break
    else:
        suffix_at = len(labels) - 1  # the implicit rule "*": the last label
    return host if suffix_at == 0 else ".".join(labels[suffix_at - 1 :])


def site_of(url: str) -> str:
    """The registrable domain of a URL's host ('' for data:, about:, blob: and the like)."""
    return registrable_domain(urlsplit(url).hostname or "")
