"""Tests for proof.retention: purging personal fields after RETENTION_DAYS."""

from datetime import UTC, datetime, timedelta

from helpers import aggregates, db_rows

from consentmgr.consent import log as consent_log
from consentmgr.gateway import deliver, outbox
from consentmgr.proof import checkpoints, retention


def decision(consent_id, page="https://ansettr.no/"):
    return consent_log.Decision(
        consent_id=consent_id,
        version="v1",
        revision=1,
        choices={"analytics": True, "marketing": False},
        method="custom",
        lang="nb",
        page=page,
        ua_family="Firefox",
        ip_prefix="192.0.2.0/24",
    )


def test_purge_with_the_clock_moved_forward(app, database, runner):
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    for day in (0, 10, 200, 390):
        consent_log.append(database, decision(f"id-{day}"), start + timedelta(days=day))
    outbox.enqueue(database, "matomo", "id-390", ["sealed-a", "sealed-b"], start.timestamp())
    items = outbox.claim(database, "matomo", 10, "me", start.timestamp())
    outbox.delivered(database, items[:1], "me", start.timestamp(), "2026-01-01")
    before = aggregates(database)

    # 405 days after the start: retention (400 days) has passed for days 0 and 2 only
    now = start + timedelta(days=405)
    dry = retention.purge(app, database, now, dry_run=True)
    assert (dry.decisions, dry.outbox_items) == (1, 1)
    assert all(r["consent_id"] for r in db_rows(database))

    done = retention.purge(app, database, now)
    assert (done.decisions, done.outbox_items) == (1, 1)
    by_id = {r["seq"]: r for r in db_rows(database)}
    assert by_id[1]["consent_id"] is None and by_id[1]["erased_at"]
    assert [by_id[s]["consent_id"] for s in (2, 3, 4)] == ["id-10", "id-200", "id-390"]
    assert [r["status"] for r in db_rows(database, "outbox")] == ["pending"]
    assert aggregates(database) == before
    assert runner.invoke(args=["verify-log"]).exit_code == 0

    # A year later everything but the last decision is past retention.
    assert retention.purge(app, database, start + timedelta(days=700)).decisions == 2
    assert [r["consent_id"] for r in db_rows(database)] == [None, None, None, "id-390"]
    assert aggregates(database) == before
    result = runner.invoke(args=["verify-log"])
    assert result.exit_code == 0 and "4 decisions verified" in result.output

    # ...and still fails on tampering after erasures and purges.
    database.execute("update decisions set method = 'accept_all' where seq = 2")
    result = runner.invoke(args=["verify-log"])
    assert result.exit_code == 1 and "seq 2" in result.output


def test_purge_command_and_dry_run(app, database, runner):
    old = datetime.now(UTC) - timedelta(days=500)
    consent_log.append(database, decision("old"), old)
    consent_log.append(database, decision("new"), datetime.now(UTC))
    result = runner.invoke(args=["purge", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "would blank the personal details of 1 decision from" in result.output
    assert [r["consent_id"] for r in db_rows(database)] == ["old", "new"]
    result = runner.invoke(args=["purge"])
    assert "blanked the personal details of 1 decision from" in result.output
    assert [r["consent_id"] for r in db_rows(database)] == [None, "new"]


def test_background_thread_purges_and_checkpoints(app, database):
    consent_log.append(database, decision("old"), datetime.now(UTC) - timedelta(days=500))
    consent_log.append(database, decision("new"), datetime.now(UTC))
    thread = deliver.Deliverer(app)  # its hourly chores, run once without starting the thread
    thread.prune(database)
    assert [r["consent_id"] for r in db_rows(database)] == [None, "new"]
    assert [c.seq for c in checkpoints.all_checkpoints(database)] == [2]
    # A second pass within the hour does nothing; a day later a new head is signed.
    consent_log.append(database, decision("later"), datetime.now(UTC))
    thread.prune(database)
    assert [c.seq for c in checkpoints.all_checkpoints(database)] == [2]
    retention.housekeeping(app, database, datetime.now(UTC) + timedelta(days=1, minutes=1))
    assert [c.seq for c in checkpoints.all_checkpoints(database)] == [2, 3]


# -- checkpoints and the attacker -----------------------------------------------------------
