"""Direct views: the gateway's hit endpoints answered without Flask's hooks.

A tracker hit is the most frequent request by far, and Flask's full request
cycle around it (the app's ``before_request`` and ``after_request`` hooks,
request signals, session saving) cost as much CPU as the hit's own work:
rate limit, cookie, consent check, sealing and the outbox commit. An endpoint
marked with :meth:`App.direct` gets the request context (so ``request``,
``g``, ``get_db()`` and the error handlers work as in any view) and nothing
else: its view is called, its errors go through the app's error handlers,
and the context is torn down as usual (the database connection goes back).

What such a view gives up is written here once: the app's hooks do not run
for it. None of them concerns a hit: CSRF exempts the gateway, the access
log's route is noted here for every request, the deliverer starts when the
first hit is queued (``deliver.wake``), and the plain-http cookie warning is
for pages that set cookies. A direct endpoint's blueprint must have no hooks
of its own (:meth:`App.direct` refuses one that does, at start-up), so no
hook can be added there and silently skipped.
"""

from __future__ import annotations

from flask import Flask, request
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

ROUTE = "consentmgr.route"  # the WSGI environ's key of the matched rule (``/receipt/<consent_id>``)


class App(Flask):
    """Flask, with direct views for the endpoints named by :meth:`direct`."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.direct_endpoints: set[str] = set()

    def direct(self, endpoint: str) -> None:
        """Answer ``endpoint`` without the app's hooks; see the module notes."""
        blueprint = endpoint.rpartition(".")[0]
        for hooks in (self.before_request_funcs, self.after_request_funcs):
            if hooks.get(blueprint):
                raise RuntimeError(f"{endpoint} cannot be direct: its blueprint has request hooks")
        self.direct_endpoints.add(endpoint)

    def full_dispatch_request(self) -> Response:
        rule = request.url_rule
        # For the access log: Flask clears the environ's request object at teardown.
        request.environ[ROUTE] = rule.rule if rule is not None else None
        if rule is None or rule.endpoint not in self.direct_endpoints:
            return super().full_dispatch_request()
        try:
            rv: ResponseReturnValue = self.view_functions[rule.endpoint](**request.view_args)
        except Exception as e:  # the error handlers' answer, as for any view
            rv = self.handle_user_exception(e)
        return self.make_response(rv)
