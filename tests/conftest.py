import os

import postgres_support
import pytest
from helpers import make_config, open_db

from consentmgr import create_app

#: "postgresql" runs the suite on a throwaway PostgreSQL cluster instead of SQLite files.
BACKEND = os.environ.get("CONSENTMGR_TEST_BACKEND", "sqlite")

pytest_plugins = ["browser", "hardening_support"]  # fixtures shared by test folders


def pytest_collection_modifyitems(config, items):
    if BACKEND != "postgresql":
        return
    skip = pytest.mark.skip(reason="SQLite only: files, fdatasync, VACUUM INTO")
    for item in items:
        if item.get_closest_marker("sqlite_only"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def pg_cluster():
    """On PostgreSQL runs: one cluster for the session, a migrated template to copy per test."""
    if BACKEND != "postgresql":
        yield None
        return
    from consentmgr import migrations
    from consentmgr.storage import postgres

    cluster = postgres_support.Cluster().start()
    try:
        url = cluster.create_database(postgres_support.TEMPLATE)
        db = postgres.connect(url)
        migrations.migrate(db)
        db.close()
        postgres.close_pools()  # nobody may be connected to a template while it is copied
        postgres_support.CURRENT = cluster
        yield cluster
    finally:
        postgres_support.CURRENT = None
        cluster.destroy()


@pytest.fixture(autouse=True)
def _pg_connections(pg_cluster):
    yield
    if pg_cluster is not None:
        from consentmgr.storage import postgres

        postgres.close_pools()


@pytest.fixture(autouse=True)
def instance_folder(tmp_path, monkeypatch, pg_cluster):
    """Keep every test's instance folder (config, database) out of the checkout."""
    folder = tmp_path / "instance"
    monkeypatch.setenv("CONSENTMGR_INSTANCE", str(folder))
    monkeypatch.delenv("CONSENTMGR_CONFIG", raising=False)
    return folder


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path)


@pytest.fixture
def app(config):
    return create_app(config)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def database(app):
    db = open_db(app.config)
    yield db
    db.close()
