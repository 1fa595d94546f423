"""``consentmgr backup`` on PostgreSQL: pg_dump's custom format, restored and verified."""

import shutil
import subprocess

import postgres_support
import pytest
from helpers import ACCEPT_ALL, CUSTOM, make_config, on_postgres, post_decision

from consentmgr import create_app


@pytest.fixture
def pg_app(app):
    if not on_postgres():
        pytest.skip("PostgreSQL pass only")
    return app


def test_backup_restores_into_an_empty_database_that_verify_log_accepts(pg_app, tmp_path):
    client = pg_app.test_client()
    for body in (ACCEPT_ALL, CUSTOM):
        assert post_decision(client, body).status_code == 201
    runner = pg_app.test_cli_runner()
    assert runner.invoke(args=["checkpoint"]).exit_code == 0
    dest = tmp_path / "backup.dump"
    result = runner.invoke(args=["backup", str(dest)])
    assert result.exit_code == 0, result.output
    assert "2 decisions, chain verified; 1 signed checkpoint verified" in result.output
    assert (dest.stat().st_mode & 0o777) == 0o600
    assert runner.invoke(args=["backup", str(dest)]).exit_code != 0, "never overwrites"

    restored = postgres_support.CURRENT.create_database(f"restored_{tmp_path.name[-20:]}")
    pg_restore = shutil.which("pg_restore") or str(postgres_support.bindir() / "pg_restore")
    subprocess.run(  # noqa: S603
        [pg_restore, "--no-owner", "--exit-on-error", "-d", restored, str(dest)], check=True
    )
    again = create_app(make_config(tmp_path / "restored", DATABASE=restored))
    check = again.test_cli_runner().invoke(args=["verify-log"])
    assert check.exit_code == 0 and "ok: 2 decisions verified; 1 signed checkpoint matches" in (
        check.output
    )
    assert post_decision(again.test_client(), ACCEPT_ALL).status_code == 201
