"""The ``consentmgr`` command line: Flask CLI commands registered on the app.

``init`` is also on the top-level group itself, so it works before a config
file exists (every other command needs the app, and the app needs the config).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from . import config, db, migrations
from .admin import cli as admin_cli
from .gateway import counters as gateway_stats
from .gateway import deliver, outbox
from .proof import backup, checkpoints
from .proof import cli as privacy_cli
from .scan import cli as scan_cli


@click.command("init")
def init_command() -> None:
    """Create instance/config.toml with a fresh SECRET_KEY (never overwrites)."""
    from . import instance_path

    folder = Path(current_app.instance_path if _has_app() else instance_path())
    folder.mkdir(parents=True, exist_ok=True)
    path = Path(os.environ.get("CONSENTMGR_CONFIG") or folder / "config.toml")
    if path.exists():
        click.echo(f"{path} already exists; left unchanged.")
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(config.template())
    click.echo(f"Created {path} with a new SECRET_KEY.")


def _has_app() -> bool:
    try:
        current_app._get_current_object()  # noqa: SLF001
    except RuntimeError:
        return False
    return True


@click.command("migrate")
@with_appcontext
def migrate_command() -> None:
    """Apply pending schema migrations (start-up also does this)."""
    applied = migrations.migrate(db.get_db())
    click.echo("\n".join(f"applied {name}" for name in applied) or "database is up to date")


@click.command("verify-log")
@click.option(
    "--head",
    "heads",
    multiple=True,
    type=click.File("r", encoding="utf-8"),
    help="A signed head kept elsewhere (`checkpoint --export` output) to check too; repeatable.",
)
@with_appcontext
def verify_log_command(heads) -> None:
    """Recompute the log's hash chain and check its signed checkpoints; exit 1 at a break."""
    app = current_app._get_current_object()  # noqa: SLF001
    database = db.get_db()
    verdict = checkpoints.verify(app, database, [f.read() for f in heads])
    if verdict.ok:
        anchored = database.execute("select count(*) from checkpoints").fetchone()[0]
        click.echo(
            f"ok: {verdict.count} decisions verified;"
            f" {anchored} signed checkpoint{'s' if anchored != 1 else ''} match"
        )
        for seq in checkpoints.missing(app, database)[:5]:
            click.echo(f"note: no checkpoint at seq {seq}", err=True)
        return
    where = (
        f"checkpoint seq {verdict.checkpoint}"
        if verdict.checkpoint is not None
        else f"seq {verdict.broken_seq}"
    )
    click.echo(
        f"BROKEN at {where}: {verdict.reason} ({verdict.count} rows verified before it)",
        err=True,
    )
    sys.exit(1)


@click.command("backup")
@click.argument("dest", type=click.Path(dir_okay=False))
@with_appcontext
def backup_command(dest: str) -> None:
    """Write a consistent, checked copy of the database to the new file DEST, while serving."""
    try:
        done = backup.write(current_app._get_current_object(), db.get_db(), dest)  # noqa: SLF001
    except backup.BackupError as e:
        raise click.ClickException(str(e)) from None
    click.echo(
        f"wrote {done.path} ({done.size / 1e6:.1f} MB): {done.decisions} decisions, chain and"
        f" {done.checkpoints} signed checkpoints verified; {done.outbox_items} outbox items"
    )
    click.echo("keep SECRET_KEY and OLD_SECRET_KEYS too: the checks and sealed items need them")


@click.command("serve")
@click.option("--bind", default="127.0.0.1:8000", show_default=True, help="host:port to listen on")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@with_appcontext
def serve_command(bind: str, workers: int) -> None:
    """Serve with gunicorn, production defaults (use behind a TLS reverse proxy)."""
    gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or "gunicorn"
    args = [
        gunicorn,
        "--bind",
        bind,
        "--workers",
        str(workers),
        "--timeout",
        "30",
        "--graceful-timeout",
        "20",
        "--max-requests",
        "10000",
        "--max-requests-jitter",
        "1000",
        "--access-logfile",
        "-",
        "consentmgr:create_app()",
    ]
    os.execv(gunicorn, args)  # noqa: S606


@click.command("deliver")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@with_appcontext
def deliver_command(once: bool) -> None:
    """Send queued gateway items upstream (a loop; --once to drain and exit)."""
    app = current_app._get_current_object()  # noqa: SLF001
    if once:
        report = deliver.deliver_once(app)
        delivered, retried = sum(report.delivered.values()), sum(report.retried.values())
        click.echo(
            f"delivered {delivered}; retrying later {retried}; dead {sum(report.dead.values())}"
        )
        for error in report.errors:
            click.echo(f"  {error}", err=True)
        return
    thread = deliver.Deliverer(app)
    click.echo("delivering; Ctrl-C to stop")
    thread.start()
    try:
        while thread.is_alive():
            thread.join(1)
    except KeyboardInterrupt:
        thread.stop()
        thread.join(30)


@click.group("outbox", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.pass_context
@with_appcontext
def outbox_command(ctx: click.Context, as_json: bool) -> None:
    """Show pending / delivered / dead counts and dead items' errors."""
    if ctx.invoked_subcommand:
        return
    database = db.get_db()
    stats = outbox.stats(database, time.time())
    dead = outbox.dead_items(database)
    if as_json:
        click.echo(
            json.dumps({**stats, "counters": gateway_stats.totals(database), "dead_items": dead})
        )
        return
    age = stats["oldest_pending_seconds"]
    click.echo(f"pending   {stats['pending']}")
    click.echo(f"delivered {stats['delivered']}")
    click.echo(f"dead      {stats['dead']}")
    click.echo("oldest pending: " + (f"{age:.0f} s" if age is not None else "none"))
    for item in dead:
        click.echo(
            f"dead #{item['id']} {item['target']} after {item['attempts']} attempts:"
            f" {item['last_error']}"
        )


@outbox_command.command("retry")
@click.argument("ids", nargs=-1, type=int)
@with_appcontext
def outbox_retry_command(ids: tuple[int, ...]) -> None:
    """Put dead items (all, or the given ids) back in the queue."""
    n = outbox.retry_dead(db.get_db(), time.time(), list(ids) if ids else None)
    click.echo(f"re-queued {n} dead item{'s' if n != 1 else ''}")


def init_app(app: Flask) -> None:
    for command in (
        init_command,
        migrate_command,
        verify_log_command,
        backup_command,
        serve_command,
        deliver_command,
        outbox_command,
        *admin_cli.COMMANDS,
        *privacy_cli.COMMANDS,
        *scan_cli.COMMANDS,
    ):
        app.cli.add_command(command)


class _Group(FlaskGroup):
    """The console script's group: a config or policy error is a message, not a traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        from .consent.policy import PolicyError

        try:
            return super().invoke(ctx)
        except (config.ConfigError, PolicyError) as e:
            raise click.ClickException(str(e)) from None

    def get_command(self, ctx: click.Context, name: str):  # type: ignore[override]
        from .consent.policy import PolicyError

        try:
            return super().get_command(ctx, name)
        except (config.ConfigError, PolicyError) as e:
            raise click.ClickException(str(e)) from None


def main_group() -> FlaskGroup:
    from . import create_app

    group = _Group(create_app=create_app, help="consentmgr: self-hosted consent management.")
    group.add_command(init_command)
    return group


def main() -> None:
    main_group().main(prog_name="consentmgr")
