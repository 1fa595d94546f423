"""The ``consentmgr`` command is ours: its version, its commands, messages a new user reads.

``--version`` and ``--help`` run the real console script, as a user types them,
in a folder without any config.
"""

import configparser
import json
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from helpers import ACCEPT_ALL, on_postgres, post_decision

from consentmgr import cli

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
COMMANDS = {
    "backup",
    "check-statement",
    "copy-db",
    "checkpoint",
    "create-admin",
    "delete-admin",
    "deliver",
    "init",
    "list-admins",
    "migrate",
    "outbox",
    "purge",
    "run",
    "scan",
    "serve",
    "verify-log",
    "verify-receipt",
}


def consentmgr(*args, cwd):
    from serve_support import clean_env

    return subprocess.run(
        [str(BIN / "consentmgr"), *args],
        cwd=cwd,
        env=clean_env(COLUMNS="80"),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_version_is_the_one_in_setup_cfg(tmp_path):
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    result = consentmgr("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"consentmgr {parser['metadata']['version']}\n"


def test_help_lists_our_commands_each_on_one_line_and_nothing_of_flask(tmp_path):
    result = consentmgr("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert result.stderr == ""
    commands = out.split("Commands:\n", 1)[1]
    listed = {}
    for line in commands.splitlines():
        name, _, description = line.strip().partition(" ")
        assert description.strip(), f"{name} has no description"
        listed[name] = description.strip()
    assert set(listed) == COMMANDS
    for name, description in listed.items():
        assert not description.endswith("..."), f"{name}: {description}"
    options = set(re.findall(r"(?m)^\s+(-[-\w, ]+?)\s{2}", out.split("Commands:")[0]))
    assert options == {"--version", "-h, --help"}
    for flask_thing in ("--app", "-A", "--env-file", "-e", "routes", "shell", "dotenv", "FLASK"):
        assert not re.search(rf"(?<![\w-]){re.escape(flask_thing)}(?![\w-])", out), flask_thing
    assert not (tmp_path / "instance").exists(), "--help must not create anything"


def run_main(*args):
    return CliRunner().invoke(cli.main_group(), list(args))


def test_fresh_install_messages_read_as_what_they_are(instance_folder, tmp_path):
    assert run_main("init").exit_code == 0
    result = run_main("verify-log")
    assert result.exit_code == 0, result.output
    assert (
        result.output
        == "ok: the consent log is empty (no decisions yet); no checkpoint signed yet\n"
    )
    result = run_main("checkpoint")
    assert result.exit_code == 0 and result.output == "no decisions yet: nothing to checkpoint\n"
    result = run_main("checkpoint", "--export")
    assert result.exit_code == 1 and "no decisions yet" in result.output
    result = run_main("backup", str(tmp_path / "copy.sqlite"))
    assert result.exit_code == 0, result.output
    assert "no decisions yet; no checkpoint signed yet; 0 outbox items" in result.output
    result = run_main("outbox", "retry")
    assert result.exit_code == 0 and result.output == "no dead items to re-queue\n"


def test_singular_and_plural(app, client, runner, tmp_path):
    assert post_decision(client, ACCEPT_ALL).status_code == 201
    result = runner.invoke(args=["verify-log"])
    assert "ok: 1 decision verified; no checkpoint signed yet" in result.output
    assert runner.invoke(args=["checkpoint"]).exit_code == 0
    result = runner.invoke(args=["verify-log"])
    assert "ok: 1 decision verified; 1 signed checkpoint matches\n" in result.output
    if not on_postgres():
        result = runner.invoke(args=["backup", str(tmp_path / "copy.sqlite")])
        assert ": 1 decision, chain verified; 1 signed checkpoint verified; 0 outbox items" in (
            result.output
        )
    assert post_decision(client, ACCEPT_ALL).status_code == 201
    assert runner.invoke(args=["checkpoint"]).exit_code == 0
    result = runner.invoke(args=["verify-log"])
    assert "ok: 2 decisions verified; 2 signed checkpoints match\n" in result.output
    result = runner.invoke(args=["purge", "--dry-run"])
    assert "would blank the personal details of 0 decisions from" in result.output
    assert "would delete 0 delivered or dead outbox items finished" in result.output


def test_outbox_retry_of_an_unknown_or_live_item_says_so_and_fails(app, runner, database):
    result = runner.invoke(args=["outbox", "retry", "999"])
    assert result.exit_code != 0
    assert "there is no outbox item 999" in result.output
    result = runner.invoke(args=["outbox", "retry", "998", "999"])
    assert result.exit_code != 0 and "there are no outbox items 998, 999" in result.output

    database["outbox"].insert_all(
        [
            {"id": 5, **outbox_row("pending")},
            {"id": 6, **outbox_row("dead")},
        ]
    )
    result = runner.invoke(args=["outbox", "retry", "5", "6"])
    assert result.exit_code != 0 and "outbox item 5 is pending" in result.output
    assert database["outbox"].get(6)["status"] == "dead", "nothing changes when one id is wrong"
    result = runner.invoke(args=["outbox", "retry", "6"])
    assert result.exit_code == 0 and result.output == "re-queued 1 dead item\n"


def outbox_row(status):
    """An outbox row as the gateway writes one (the payload is never opened here)."""
    return {
        "target": "matomo",
        "status": status,
        "payload": json.dumps({}),
        "created": 0.0,
        "next_attempt": 0.0,
        "attempts": 3,
    }


def test_serve_runs_sync_workers_unless_told_otherwise():
    from consentmgr.cli import gunicorn_args

    sync = gunicorn_args("127.0.0.1:8000")
    assert "--worker-class" not in sync and "--threads" not in sync
    assert sync[sync.index("--workers") + 1] == "2"
    assert sync[-1] == "consentmgr:create_app()"
    threaded = gunicorn_args("127.0.0.1:8000", threads=4)
    assert threaded[threaded.index("--worker-class") + 1] == "gthread"
    assert threaded[threaded.index("--threads") + 1] == "4"
    logged = gunicorn_args("127.0.0.1:8000", access_log=True)
    assert "--access-logfile" in logged and "--access-logfile" not in sync
