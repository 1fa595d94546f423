"""``consentmgr copy-db``: a populated SQLite installation moved to the suite's backend."""

from helpers import (
    ACCEPT_ALL,
    CUSTOM,
    database_setting,
    gateway_app,
    make_config,
    open_db,
    post_decision,
    receipt_json,
)

from consentmgr import create_app
from consentmgr.copy_db import TABLES
from consentmgr.proof import receipts

FIGURES = (
    "select day, version, lang, method, count from daily_decisions order by 1, 2, 3, 4",
    "select day, version, lang, method, category, granted, count from daily_consent"
    " order by 1, 2, 3, 4, 5, 6",
    "select day, page, count from daily_pages order by 1, 2",
    "select day, target, category, outcome, count from gateway_daily order by 1, 2, 3, 4",
)


def populated(tmp_path):
    """A SQLite installation with decisions, a checkpoint, queued hits and a receipt."""
    app = gateway_app(
        tmp_path / "src", "http://127.0.0.1:9/", DATABASE=str(tmp_path / "src" / "c.sqlite")
    )
    client = app.test_client()
    for body in (ACCEPT_ALL, CUSTOM, ACCEPT_ALL):
        assert post_decision(client, body).status_code == 201
    for n in range(3):
        assert client.get(f"/matomo.php?idsite=1&rec=1&action_name=p{n}").status_code == 204
    consent_id = client.get("/api/consent").get_json()["id"]
    receipt = receipt_json(client, f"/receipt/{consent_id}").get_json()
    assert app.test_cli_runner().invoke(args=["checkpoint"]).exit_code == 0
    return app, receipt


def test_copy_db_moves_everything_and_the_log_still_verifies(tmp_path):
    source, receipt = populated(tmp_path)
    target = database_setting(tmp_path / "dest" / "c.sqlite")
    (tmp_path / "dest").mkdir()
    result = source.test_cli_runner().invoke(args=["copy-db", source.config["DATABASE"], target])
    assert result.exit_code == 0, result.output
    assert "ok: 3 decisions copied and verified" in result.output

    moved = create_app(make_config(tmp_path / "moved", DATABASE=target))
    check = moved.test_cli_runner().invoke(args=["verify-log"])
    assert check.exit_code == 0 and "ok: 3 decisions verified" in check.output
    before, after = open_db(source.config), open_db(moved.config)
    try:
        for table, _ in TABLES:
            sql = f"select count(*) from {table}"  # noqa: S608
            assert after.execute(sql).fetchone() == before.execute(sql).fetchone(), table
        assert after.execute("select count(*) from outbox").fetchone()[0] == 3
        for sql in FIGURES:
            assert [tuple(r) for r in after.execute(sql)] == [tuple(r) for r in before.execute(sql)]
        assert receipts.verify(moved, after, receipt) == []
        # New rows continue after the copied ones.
        assert post_decision(moved.test_client(), ACCEPT_ALL).status_code == 201
        assert after.execute("select max(seq) from decisions").fetchone()[0] == 4
    finally:
        before.close()
        after.close()


def test_copy_db_refuses_a_target_with_data(tmp_path):
    source, _ = populated(tmp_path)
    target_app = create_app(make_config(tmp_path / "dest"))
    assert post_decision(target_app.test_client(), ACCEPT_ALL).status_code == 201
    result = source.test_cli_runner().invoke(
        args=["copy-db", source.config["DATABASE"], target_app.config["DATABASE"]]
    )
    assert result.exit_code != 0
    assert "already holds data" in result.output
