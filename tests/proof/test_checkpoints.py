"""Tests for proof.checkpoints: signed heads, and an attacker who recomputes hashes."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from helpers import (
    ACCEPT_ALL,
    CUSTOM,
    REJECT_ALL,
    db_rows,
    make_config,
    open_db,
    post_decision,
    receipt_json,
)

from consentmgr import create_app
from consentmgr.consent import log as consent_log
from consentmgr.proof import checkpoints, receipts, retention


@pytest.fixture
def anchored(tmp_path):
    """An app that signs a checkpoint every 3 decisions."""
    return create_app(make_config(tmp_path, CHECKPOINT_EVERY=3))


def test_checkpoints_every_n_decisions_and_export(anchored, tmp_path):
    client, runner = anchored.test_client(), anchored.test_cli_runner()
    for _ in range(7):
        post_decision(client, ACCEPT_ALL)
    database = open_db(anchored.config)
    assert [c.seq for c in checkpoints.all_checkpoints(database)] == [3, 6]
    for c in checkpoints.all_checkpoints(database):
        signed = checkpoints.open_signed(anchored, c.signed)
        row = database.execute("select chain_hash from decisions where seq = ?", [c.seq])
        assert signed.chain_hash == row.fetchone()[0]

    result = runner.invoke(args=["verify-log"])
    assert result.exit_code == 0, result.output
    assert "7 decisions verified; 2 signed checkpoints match" in result.output

    result = runner.invoke(args=["checkpoint", "--export"])
    assert result.exit_code == 0, result.output
    exported = json.loads(result.output)
    assert exported["seq"] == 7
    assert checkpoints.open_signed(anchored, exported["signed"]).seq == 7

    # Rotation: the old key still verifies; an unrelated key does not.
    rotated = make_config(
        tmp_path,
        CHECKPOINT_EVERY=3,
        SECRET_KEY="another-secret-key-that-is-long-enough-0123456789",
        OLD_SECRET_KEYS=[anchored.config["SECRET_KEY"]],
    )
    assert create_app(rotated).test_cli_runner().invoke(args=["verify-log"]).exit_code == 0
    foreign = {**rotated, "OLD_SECRET_KEYS": []}
    result = create_app(foreign).test_cli_runner().invoke(args=["verify-log"])
    assert result.exit_code == 1
    assert "checkpoint seq 3" in result.output and "signature" in result.output
    database.close()


def recompute_chain_from(database, seq):
    """What an attacker with write access but no key can do: make the chain consistent again."""
    previous = database.execute(
        "select chain_hash from decisions where seq = ?", [seq - 1]
    ).fetchone()
    previous = previous[0] if previous else consent_log.GENESIS
    for row in list(database.query("select * from decisions order by seq")):
        if row["seq"] < seq:
            continue
        previous = consent_log.chain(previous, consent_log.content_digest(row))
        database.execute(
            "update decisions set chain_hash = ? where seq = ?", [previous, row["seq"]]
        )


def test_attacker_edit_with_recomputed_hashes_is_caught(anchored, tmp_path):
    runner = anchored.test_cli_runner()
    first, visitor = anchored.test_client(), anchored.test_client()
    post_decision(first, ACCEPT_ALL)  # seq 1
    path = post_decision(visitor, REJECT_ALL).get_json()["receipt"]  # seq 2: the visitor refuses
    post_decision(anchored.test_client(), ACCEPT_ALL)  # seq 3: checkpoint
    post_decision(visitor, CUSTOM)  # seq 4: the visitor changes their mind
    for _ in range(3):  # seq 5..7: checkpoint at 6
        post_decision(anchored.test_client(), ACCEPT_ALL)
    receipt_file = tmp_path / "kvittering.json"
    receipt_file.write_text(receipt_json(visitor, path).get_data(as_text=True))
    other_file = tmp_path / "annen.json"
    first_id = first.get("/api/consent").get_json()["id"]
    other_file.write_text(receipt_json(first, f"/receipt/{first_id}").get_data(as_text=True))
    head_file = tmp_path / "head.json"
    head_file.write_text(runner.invoke(args=["checkpoint", "--export"]).output)
    assert runner.invoke(args=["verify-receipt", str(receipt_file)]).exit_code == 0

    # The attacker turns the refusal into consent and recomputes every later hash.
    database = open_db(anchored.config)
    database.execute(
        """update decisions set choices = '{"analytics":true,"marketing":true}',"""
        " method = 'accept_all' where seq = 2"
    )
    recompute_chain_from(database, 2)
    assert consent_log.verify(database).ok  # the bare chain is fooled

    result = runner.invoke(args=["verify-log"])
    assert result.exit_code == 1
    assert "BROKEN at checkpoint seq 3" in result.output

    result = runner.invoke(args=["verify-receipt", str(receipt_file)])
    assert result.exit_code == 1
    assert "decision seq 2: the log now says something else (choices, method)" in result.output
    # seq 4 itself was not touched, but the chain through it was rewritten
    assert "decision seq 4: the log's chain hash differs" in result.output
    # The receipt of a decision before the edit still verifies: that row is intact.
    assert runner.invoke(args=["verify-receipt", str(other_file)]).exit_code == 0

    # Deleting the stored checkpoints does not help against a head kept elsewhere.
    database.execute("delete from checkpoints")
    assert runner.invoke(args=["verify-log"]).exit_code == 0
    result = runner.invoke(args=["verify-log", "--head", str(head_file)])
    assert result.exit_code == 1
    assert "BROKEN at checkpoint seq 7" in result.output
    database.close()


def test_verify_log_passes_after_erasure_and_purge_with_checkpoints(anchored):
    runner = anchored.test_cli_runner()
    clients = [anchored.test_client() for _ in range(4)]
    for c in clients:
        post_decision(c, ACCEPT_ALL)
    database = open_db(anchored.config)
    consent_log.erase(database, clients[1].get("/api/consent").get_json()["id"], datetime.now(UTC))
    retention.purge(anchored, database, datetime.now(UTC) + timedelta(days=401))
    assert all(r["erased_at"] for r in db_rows(database))
    result = runner.invoke(args=["verify-log"])
    assert result.exit_code == 0, result.output
    assert "4 decisions verified; 1 signed checkpoint match" in result.output
    database.execute("delete from decisions where seq >= 3")  # the tail, checkpoint included
    result = runner.invoke(args=["verify-log"])
    assert result.exit_code == 1
    assert "BROKEN at checkpoint seq 3" in result.output
    database.close()


def test_receipt_carries_the_latest_signed_head_of_its_time(anchored):
    client = anchored.test_client()
    for _ in range(4):
        post_decision(client, ACCEPT_ALL)
    receipt = receipt_json(client, "/receipt/" + client.get("/api/consent").get_json()["id"])
    heads = [d["head"] and d["head"]["seq"] for d in receipt.get_json()["decisions"]]
    assert heads == [None, None, 3, 3]
    assert receipts.verify(anchored, open_db(anchored.config), receipt.get_json()) == []
