"""The access log ``consentmgr serve`` writes: what operations need, nothing personal.

gunicorn's own access log records the client's address, the whole request line
with its query string, the referrer and the user agent. Behind the gateway
that is exactly what the service exists to withhold: a hit dropped for lack of
consent would still leave the visitor's address, search terms and ids in a log
file. This log keeps the time, the client's /24 (IPv4) or /48 (IPv6) network,
the method, the route (``/receipt/<consent_id>``, never the id itself), the
status, the size and the duration. A request that matched no route is logged
as ``-``.

The network is that of the address the app uses, so behind a proxy it is the
visitor's (``TRUSTED_PROXIES``), not the proxy's: ``ProxyFix`` rewrites the
WSGI environ the log line is made from.
"""

from __future__ import annotations

import logging
from typing import Any

from gunicorn import glogging
from werkzeug.serving import WSGIRequestHandler

from ..consent.visitor import ip_prefix
from .direct_views import ROUTE

FORMAT = '%(t)s %(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
GUNICORN_ARGS = (
    "--logger-class",
    "consentmgr.web.access_log.Logger",
    "--access-logformat",
    FORMAT,
)


class Logger(glogging.Logger):
    """gunicorn's logger with only harmless atoms: any other atom in a format logs as ``-``."""

    def atoms(self, resp: Any, req: Any, environ: dict, request_time: Any) -> dict[str, Any]:
        full = super().atoms(resp, req, environ, request_time)
        return {
            "t": full["t"],
            "h": ip_prefix(environ.get("REMOTE_ADDR")) or "-",
            "m": full["m"],
            "U": route(environ) or "-",
            "H": full["H"],
            "s": full["s"],
            "B": full["B"],
            "b": full["b"],
            "M": full["M"],
            "D": full["D"],
            "L": full["L"],
            "T": full["T"],
            "p": full["p"],
        }


class DevRequestHandler(WSGIRequestHandler):
    """``consentmgr run``'s request lines, with what the production log keeps.

    werkzeug's development server would log each client's address and the
    whole path with its query string; these lines have the client's network
    and the route instead.
    """

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        environ = getattr(self, "environ", None) or {}
        line = f"{getattr(self, 'command', '-')} {route(environ) or '-'}"
        self.log("info", '"%s %s" %s %s', line, getattr(self, "request_version", "-"), code, size)

    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 (werkzeug's name)
        environ = getattr(self, "environ", None) or {}
        address = environ.get("REMOTE_ADDR") or (self.client_address or ("",))[0]
        network = ip_prefix(address) or "-"
        logging.getLogger("werkzeug").log(
            logging.getLevelName(type.upper()),
            f"{network} - - [{self.log_date_time_string()}] {message}",
            *args,
        )


def route(environ: dict) -> str | None:
    """The route the request matched (``/receipt/<consent_id>``), noted by the app."""
    return environ.get(ROUTE)
