"""Helpers for the admin console tests: accounts, signing in, reading the pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser

from consentmgr.admin import accounts as admins

PASSWORD = "a long enough password"


def create_admin(db, username="kari", password=PASSWORD):
    admins.create(db, username, password, 12, datetime.now(UTC))


def csrf_token(html):
    match = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def login(client, username="kari", password=PASSWORD, remote_addr="127.0.0.1", next_url=None):
    page = client.get("/admin/login", environ_base={"REMOTE_ADDR": remote_addr})
    url = "/admin/login" + (f"?next={next_url}" if next_url else "")
    return client.post(
        url,
        data={"csrf_token": csrf_token(page.text), "username": username, "password": password},
        environ_base={"REMOTE_ADDR": remote_addr},
    )


def session_cookie(client):
    cookie = client.get_cookie("session")
    return cookie.value if cookie else None


class Page(HTMLParser):
    """Tables by id (rows of cell texts) and ``data-figure`` values of an admin page."""

    def __init__(self, html):
        super().__init__()
        self.tables, self.figures = {}, {}
        self._table = self._row = self._cell = self._figure = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._table = self.tables.setdefault(attrs.get("id") or f"t{len(self.tables)}", [])
        elif tag == "tr" and self._table is not None:
            self._row = []
            self._table.append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        if "data-figure" in attrs:
            self._figure = (attrs["data-figure"], [])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join(" ".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = self._row = None
        elif self._figure and tag in ("dd", "p", "strong"):
            name, text = self._figure
            self.figures[name] = " ".join("".join(text).split())
            self._figure = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._figure:
            self._figure[1].append(data)

    def table(self, table_id):
        """Body rows as dicts keyed by the header row's cells."""
        rows = self.tables[table_id]
        header = rows[0]
        return [dict(zip(header, r, strict=True)) for r in rows[1:]]


def number(text):
    return int(text.replace("\u202f", "").replace(" ", ""))
