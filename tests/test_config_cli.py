import re
import tomllib

import pytest
from click.testing import CliRunner
from helpers import make_config

from consentmgr import cli, config, create_app
from consentmgr.config import ConfigError


def run_main(*args):
    return CliRunner().invoke(cli.main_group(), list(args))


def test_init_writes_every_key_and_never_overwrites(instance_folder):
    result = run_main("init")
    assert result.exit_code == 0, result.output
    path = instance_folder / "config.toml"
    text = path.read_text()
    values = tomllib.loads(text)
    assert len(values["SECRET_KEY"]) >= 48
    assert values["DATABASE"] == "consentmgr.sqlite"
    assert values["CONSENT_MAX_AGE_DAYS"] == 180 and values["HONOR_GPC"] is True
    assert "COOKIE_DOMAIN" in text and "# Cookie domain" in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"

    again = run_main("init")
    assert "left unchanged" in again.output
    assert path.read_text() == text

    app = create_app()
    assert app.config["SECRET_KEY"] == values["SECRET_KEY"]


def test_init_is_registered_on_the_app(runner, instance_folder):
    result = runner.invoke(args=["init"])
    assert result.exit_code == 0
    assert (instance_folder / "config.toml").exists()


def test_missing_config_file_is_an_error(instance_folder):
    with pytest.raises(ConfigError) as e:
        create_app()
    assert "config.toml" in str(e.value) and "SECRET_KEY" in str(e.value)
    result = run_main("verify-log")
    assert result.exit_code == 1
    assert "SECRET_KEY" in result.output and "consentmgr init" in result.output


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("DATABASE = 'x.sqlite'", "SECRET_KEY", "is missing"),
        ("SECRET_KEY = 'short'", "SECRET_KEY", "at least 32"),
        ("SECRET_KEY = '%s'\nCOOKIE_SECURE = 'yes'", "COOKIE_SECURE", "true or false"),
        ("SECRET_KEY = '%s'\nSITE_ORIGINS = 'https://a.no'", "SITE_ORIGINS", "list of origins"),
        ("SECRET_KEY = '%s'\nSITE_ORIGINS = ['https://a.no/path']", "SITE_ORIGINS", "origins"),
        ("SECRET_KEY = '%s'\nCONSENT_MAX_AGE_DAYS = 0", "CONSENT_MAX_AGE_DAYS", "between"),
        ("SECRET_KEY = '%s'\nCOOKIE_SECUR = true", "COOKIE_SECUR", "not a known setting"),
        ("SECRET_KEY = '%s'\nOLD_SECRET_KEYS = ['x']", "OLD_SECRET_KEYS", "at least 32"),
        ("SECRET_KEY = '%s'\nBUNDLE_SCRIPTS = ['ga']", "BUNDLE_SCRIPTS", '"matomo" and/or'),
        ("SECRET_KEY = '%s'\nBUNDLE_SCRIPTS = 'fbq'", "BUNDLE_SCRIPTS", '"matomo" and/or'),
        (
            "SECRET_KEY = '%s'\nOUTBOX_LEASE_SECONDS = 10\nUPSTREAM_READ_TIMEOUT = 10",
            "OUTBOX_LEASE_SECONDS",
            "longer than one upstream call may take (13.05 s",
        ),
        (
            "SECRET_KEY = '%s'\nDATABASE_URL = 'postgressql://c@db/c'",
            "DATABASE_URL",
            "postgresql://",
        ),
        ("SECRET_KEY = '%s'\nDATABASE = 'POSTGRESQL://c@db/c'", "DATABASE", "postgresql:// URL"),
        ("TESTING = 'false'", "TESTING", "not a known setting"),
        ("SECRET_KEY = '%s'\nDATABASE = '/nonexistent/x.sqlite'", "DATABASE", "cannot be opened"),
        ("SECRET_KEY = = 1", "(syntax)", "not valid TOML"),
    ],
)
def test_bad_config_names_file_and_key(instance_folder, text, key, expected):
    instance_folder.mkdir(parents=True, exist_ok=True)
    path = instance_folder / "config.toml"
    path.write_text(text.replace("%s", "k" * 40))
    with pytest.raises(ConfigError) as e:
        create_app()
    message = str(e.value)
    assert str(path) in message and key in message and expected in message
    result = run_main("verify-log")
    assert result.exit_code == 1 and key in result.output


def test_test_config_is_validated_too(tmp_path):
    with pytest.raises(ConfigError, match="COOKIE_NAME"):
        create_app(make_config(tmp_path, COOKIE_NAME=5))


def test_bad_policy_file_is_reported(tmp_path):
    bad = tmp_path / "policy.json"
    bad.write_text('{"categories": []}')
    from consentmgr.consent.policy import PolicyError

    with pytest.raises(PolicyError, match="texts"):
        create_app(make_config(tmp_path, POLICY_FILE=str(bad)))


def test_migrate_command_is_idempotent(runner):
    result = runner.invoke(args=["migrate"])
    assert result.exit_code == 0 and "up to date" in result.output


def test_every_range_message_states_the_range_its_check_enforces():
    ranged = 0
    for name, key in config.KEYS.items():
        m = re.search(r"between (\S+) and (\S+)$", key.check.expected)
        if not m:
            continue
        ranged += 1
        lo, hi = (float(x) for x in m.groups())
        for inside in (lo, hi):
            key.check.convert(int(inside) if inside.is_integer() else inside)
        for outside in (lo - 1, hi + 1):
            with pytest.raises(ValueError):
                key.check.convert(int(outside))
        with pytest.raises(ConfigError, match=f"{name} must be .* between"):
            config.validate({name: int(hi + 1)}, "config.toml", testing=True)
    assert ranged >= 10
