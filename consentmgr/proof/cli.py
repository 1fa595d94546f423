"""Commands for proof: ``checkpoint``, ``purge``, ``verify-receipt``, ``check-statement``.

They are registered on the app by ``cli.init_app`` like every other command,
so ``app.test_cli_runner()`` can run them. ``verify-log`` itself lives in
``cli`` and checks the checkpoints these commands make.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import with_appcontext

from .. import db
from ..admin.formatting import plural
from ..consent.policy import LANGS
from . import checkpoints, privacy_page, receipts, retention, statement


def _app():
    return current_app._get_current_object()  # noqa: SLF001


@click.command("checkpoint")
@click.option(
    "--export",
    is_flag=True,
    help="Print the latest signed head as JSON, to keep outside the database.",
)
@with_appcontext
def checkpoint_command(export: bool) -> None:
    """Sign a checkpoint of the consent log's head.

    The deliverer makes one too, every CHECKPOINT_EVERY decisions and daily.
    """
    database = db.get_db()
    made = checkpoints.make(_app(), database, datetime.now(UTC))
    if made is None:
        # A fresh install: nothing is wrong, there is just no head yet (exporting one is an error).
        if export:
            raise click.ClickException("no decisions yet: there is no signed head to export")
        click.echo("no decisions yet: nothing to checkpoint")
        return
    if export:
        click.echo(json.dumps(checkpoints.export(made), separators=(", ", ": ")))
        return
    click.echo(f"checkpoint at seq {made.seq}: {made.chain_hash} (signed {made.ts})")


@click.command("purge")
@click.option(
    "--dry-run", is_flag=True, help="Say what would be blanked and deleted; change nothing."
)
@with_appcontext
def purge_command(dry_run: bool) -> None:
    """Blank and delete what is past its retention period.

    Decisions' personal details past RETENTION_DAYS; finished outbox items and
    audit entries past OUTBOX_KEEP_DAYS and AUDIT_KEEP_DAYS.
    """
    app = _app()
    done = retention.purge(app, db.get_db(), datetime.now(UTC), dry_run=dry_run)
    blank, delete = ("would blank", "would delete") if dry_run else ("blanked", "deleted")
    click.echo(
        f"{blank} the personal details of {plural(done.decisions, 'decision')} from before"
        f" {done.decisions_before:%Y-%m-%d %H:%M} UTC"
        f" (RETENTION_DAYS = {app.config['RETENTION_DAYS']})"
    )
    click.echo(
        f"{delete} {plural(done.outbox_items, 'delivered or dead outbox item')} finished before"
        f" {done.outbox_before:%Y-%m-%d %H:%M} UTC"
        f" (OUTBOX_KEEP_DAYS = {app.config['OUTBOX_KEEP_DAYS']})"
    )
    click.echo(
        f"{delete} {done.audit_entries} audit entries from before"
        f" {done.audit_before:%Y-%m-%d %H:%M} UTC"
        f" (AUDIT_KEEP_DAYS = {app.config['AUDIT_KEEP_DAYS']})"
    )


@click.command("verify-receipt")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@with_appcontext
def verify_receipt_command(file) -> None:
    """Check a consent receipt against the consent log.

    FILE is the JSON a visitor downloads from /receipt/<id>.
    """
    try:
        receipt = json.load(file)
    except ValueError as e:
        raise click.ClickException(f"{file.name} is not JSON: {e}") from None
    problems = receipts.verify(_app(), db.get_db(), receipt)
    if problems:
        for problem in problems:
            click.echo(f"FAILED: {problem}", err=True)
        sys.exit(1)
    n = len(receipt["decisions"])
    click.echo(
        f"ok: the receipt for {receipt['consent_id']} ({plural(n, 'decision')}) matches the log"
    )


@click.command("check-statement")
@with_appcontext
def check_statement_command() -> None:
    """Check the privacy statement's vendors against the policy.

    Names the policy's vendors a statement does not mention, and tracking
    vendors it names that the policy lacks. Exits 1 if there are any.
    """
    app = _app()
    own = app.config["PRIVACY_STATEMENT_FILE"]
    if own:
        problems = privacy_page.own_statement_problems(app)
        what = f"PRIVACY_STATEMENT_FILE ({own})"
    else:
        policy = app.extensions["consentmgr.policy"]
        problems = []
        for lang in LANGS:
            with app.test_request_context(f"/personvern?lang={lang}"):
                text = privacy_page.page_text(privacy_page.render_page(lang))
            problems += [f"{lang}: {p}" for p in statement.check_vendors(text, policy)]
        what = "the shipped statement, generated from the policy,"
    for problem in problems:
        click.echo(f"problem: {problem}")
    if problems:
        sys.exit(1)
    click.echo(f"ok: {what} names every vendor of the policy and no tracking vendor it lacks")


COMMANDS = (checkpoint_command, purge_command, verify_receipt_command, check_statement_command)
