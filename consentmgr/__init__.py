"""consentmgr: self-hosted consent management for Ansettr's sites."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix

from . import admin, cli, config, db, gateway, migrations
from .consent import api as consent_api
from .consent import banner, policy
from .proof import privacy_page, receipts, self_service
from .web import csrf, demo, errors, health, i18n, security_headers
from .web.direct_views import App


def instance_path() -> str:
    """Where config, secrets and the database live: ``$CONSENTMGR_INSTANCE`` or ./instance.

    ./instance is in the current folder, never beside the code, which may be a
    read-only virtualenv; ``./dev`` runs from the checkout, so there it is the
    checkout's instance/.
    """
    return os.path.abspath(os.environ.get("CONSENTMGR_INSTANCE") or "instance")


def create_app(
    test_config: Mapping[str, Any] | None = None, overrides: Mapping[str, Any] | None = None
) -> App:
    """Build the app from ``instance/config.toml``, or from ``test_config`` when given.

    ``overrides`` are settings that win over the file's (``consentmgr run --demo``).
    """
    app = App(
        __name__,
        instance_path=instance_path(),
        # Package data: links to the repository's templates/ and static/ (setup.cfg).
        template_folder="_templates",
        static_folder="_static",
        static_url_path="/static",
    )
    if test_config is None:
        path = Path(os.environ.get("CONSENTMGR_CONFIG") or Path(app.instance_path) / "config.toml")
        source = str(path)
        settings = config.validate({**config.read_file(path), **(overrides or {})}, source)
    else:
        source = "test_config"
        settings = config.validate({**test_config, **(overrides or {})}, source, testing=True)
    app.config.update(settings)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    app.extensions["consentmgr.config_source"] = source
    # Private to the service's user: it holds the config, the keys and the consent log.
    os.makedirs(app.instance_path, mode=0o700, exist_ok=True)

    if app.config["TRUSTED_PROXIES"]:
        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    policy_file = app.config["POLICY_FILE"]
    loaded = policy.load(Path(app.instance_path) / policy_file if policy_file else None, app.config)
    try:
        database = db.open_for(app)
    except sqlite3.OperationalError as e:
        if "unable to open" not in str(e):  # a folder that does not exist, or is not ours
            raise
        raise config.ConfigError(
            source, "DATABASE", f"names a file that cannot be opened: {db.database_path(app)} ({e})"
        ) from None
    try:
        migrations.migrate(database)
        app.extensions["consentmgr.policy"] = policy.register(database, loaded)
    finally:
        database.close()

    db.init_app(app)
    errors.init_app(app)
    errors.init_visitor_pages(app)
    i18n.init_app(app)
    security_headers.init_app(app)
    cli.init_app(app)
    csrf.init_app(app)
    admin.init_app(app)
    app.register_blueprint(banner.bp)
    if app.config["DEMO"]:
        app.register_blueprint(demo.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(privacy_page.bp)
    app.register_blueprint(receipts.bp)
    # Their own guard instead of a session token: an Origin check (consent API),
    # a token bound to the consent id (/mine-data's erase form).
    for guarded in (consent_api.bp, self_service.bp):
        csrf.register_exempt(app, guarded)
    gateway.init_app(app)
    return app
