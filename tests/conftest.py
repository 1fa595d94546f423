import pytest
from helpers import make_config

from consentmgr import create_app
from consentmgr.db import connect

pytest_plugins = ["browser", "hardening_support"]  # fixtures shared by test folders


@pytest.fixture(autouse=True)
def instance_folder(tmp_path, monkeypatch):
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
    db = connect(app.config["DATABASE"])
    yield db
    db.close()
