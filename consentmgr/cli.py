"""The ``consentmgr`` command line: our commands and nothing else.

``consentmgr --help`` lists these commands, each with one line; ``--version``
prints the installed distribution's version, whose one source is setup.cfg.
Every command except ``init`` needs the app, and the app needs the config, so
the app is made from instance/config.toml only when a command asks for it
(``with_appcontext``); ``--help`` works before any config exists.

The same commands are registered on each app's ``app.cli`` too, so
``app.test_cli_runner()`` runs them against a test app.
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
from flask.cli import ScriptInfo, with_appcontext

from . import config, db, migrations
from .admin import cli as admin_cli
from .admin.formatting import plural
from .gateway import counters as gateway_stats
from .gateway import deliver, outbox
from .proof import backup, checkpoints
from .proof import cli as privacy_cli
from .scan import cli as scan_cli


@click.command("init")
def init_command() -> None:
    """Create instance/config.toml with a new SECRET_KEY.

    An existing file is never overwritten.
    """
    from . import instance_path

    folder = Path(current_app.instance_path if _has_app() else instance_path())
    # Only the service's user may read the instance folder: it holds the keys and the log.
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
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
    """Apply pending schema migrations (start-up does too)."""
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
    """Check the consent log's hash chain and checkpoints.

    Exits 1 at the first break, naming the row or checkpoint.
    """
    app = current_app._get_current_object()  # noqa: SLF001
    database = db.get_db()
    verdict = checkpoints.verify(app, database, [f.read() for f in heads])
    if verdict.ok:
        anchored = database.execute("select count(*) from checkpoints").fetchone()[0]
        decisions = (
            f"{plural(verdict.count, 'decision')} verified"
            if verdict.count
            else "the consent log is empty (no decisions yet)"
        )
        click.echo(f"ok: {decisions}; {_checkpoints(anchored, 'match', 'matches')}")
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


def _checkpoints(n: int, verb: str, verb_singular: str) -> str:
    """``no checkpoint signed yet``, ``1 signed checkpoint matches``, ``2 ... match``."""
    if n == 0:
        return "no checkpoint signed yet"
    return f"{plural(n, 'signed checkpoint')} {verb_singular if n == 1 else verb}"


@click.command("backup")
@click.argument("dest", type=click.Path(dir_okay=False))
@with_appcontext
def backup_command(dest: str) -> None:
    """Copy the database to the new file DEST and check it."""
    try:
        done = backup.write(current_app._get_current_object(), db.get_db(), dest)  # noqa: SLF001
    except backup.BackupError as e:
        raise click.ClickException(str(e)) from None
    decisions = (
        f"{plural(done.decisions, 'decision')}, chain verified"
        if done.decisions
        else "no decisions yet"
    )
    click.echo(
        f"wrote {done.path} ({done.size / 1e6:.1f} MB): {decisions};"
        f" {_checkpoints(done.checkpoints, 'verified', 'verified')};"
        f" {plural(done.outbox_items, 'outbox item')}"
    )
    click.echo("keep SECRET_KEY and OLD_SECRET_KEYS too: the checks and sealed items need them")


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--demo", is_flag=True, help="Serve the demo site at /demo whatever DEMO says.")
@click.option("--reload", is_flag=True, help="Restart when a source file changes.")
def run_command(host: str, port: int, demo: bool, reload: bool) -> None:
    """Serve for development, on plain http.

    In production use serve.
    """
    from werkzeug.serving import run_simple

    from . import create_app
    from .web.access_log import DevRequestHandler

    app = create_app(overrides={"DEMO": True} if demo else None)
    if app.config["DEMO"]:
        click.echo(f"the demo site is at http://{host}:{port}/demo")
    run_simple(
        host, port, app, use_reloader=reload, threaded=True, request_handler=DevRequestHandler
    )


def startup_warnings(app: Flask) -> list[str]:
    """What ``serve`` says before it starts: settings a production instance should not have."""
    source = app.extensions["consentmgr.config_source"]
    warnings = []
    if app.config["DEMO"]:
        warnings.append(
            f"DEMO = true in {source}: /demo is served, and decisions made there go into"
            " the real consent log and dashboard"
        )
    if not app.config["PUBLIC_URL"]:
        warnings.append(
            f"PUBLIC_URL is not set in {source}: the service's own pages (/personvern,"
            " /mine-data) can record decisions only when opened on this machine"
            ' (http://127.0.0.1); set it to the URL visitors use, e.g. "https://consent.ansettr.no"'
        )
    return warnings


def gunicorn_args(
    bind: str, workers: int = 2, threads: int = 1, *, access_log: bool = False
) -> list[str]:
    """gunicorn's command line for the service, after the program name.

    Sync workers by default: on a local disk they answer hits and decisions
    about twice as fast as threaded ones on the same cores (``bench/``).
    ``threads`` > 1 runs gthread workers, whose threads answer while another
    waits for a flush; that pays only where a flush takes long (a network
    disk), so measure before choosing it.
    """
    from gunicorn import version_info as gunicorn_version

    from .web.access_log import GUNICORN_ARGS

    args = ["--bind", bind, "--workers", str(workers)]
    args += ["--worker-class", "gthread", "--threads", str(threads)] if threads > 1 else []
    args += ["--timeout", "30", "--graceful-timeout", "20"]
    # Workers are recycled as a guard against a slow leak, but rarely: each restart
    # holds some requests for up to a few hundred milliseconds (bench/gateway.py's
    # p99 at 2 connections: 181 ms recycling every 10,000 requests, 2.9 ms without).
    args += ["--max-requests", "1000000", "--max-requests-jitter", "50000"]
    if gunicorn_version >= (25, 1):
        # No control socket in the home folder, shared by every gunicorn of this user.
        args.append("--no-control-socket")
    if access_log:
        args += ["--access-logfile", "-", *GUNICORN_ARGS]
    return [*args, "consentmgr:create_app()"]


@click.command("serve")
@click.option("--bind", default="127.0.0.1:8000", show_default=True, help="host:port to listen on")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--threads",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="threads per worker (more than 1: gthread workers)",
)
@with_appcontext
def serve_command(bind: str, workers: int, threads: int) -> None:
    """Serve with gunicorn, for production behind nginx."""
    app = current_app._get_current_object()  # noqa: SLF001
    for warning in startup_warnings(app):
        click.echo(f"warning: {warning}", err=True)
    gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or "gunicorn"
    args = [gunicorn, *gunicorn_args(bind, workers, threads, access_log=app.config["ACCESS_LOG"])]
    # Whatever the service creates (database, WAL, lock files, backups) is its user's alone.
    os.umask(0o077)
    os.execv(gunicorn, args)  # noqa: S606


@click.command("deliver")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@with_appcontext
def deliver_command(once: bool) -> None:
    """Send queued gateway items upstream.

    Runs until stopped; --once sends what is due and exits.
    """
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
    """Show the outbox: pending, delivered and dead items."""
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
    database = db.get_db()
    if ids:
        marks = ", ".join("?" * len(ids))
        status = dict(
            database.execute(f"select id, status from outbox where id in ({marks})", ids)  # noqa: S608
        )
        missing = [str(i) for i in ids if i not in status]
        if missing:
            raise click.ClickException(
                f"there is no outbox item {', '.join(missing)}"
                if len(missing) == 1
                else f"there are no outbox items {', '.join(missing)}"
            )
        alive = [f"{i} is {status[i]}" for i in ids if status[i] != "dead"]
        if alive:
            raise click.ClickException(
                f"only dead items can be retried: outbox item {'; '.join(alive)}"
            )
    n = outbox.retry_dead(database, time.time(), list(ids) if ids else None)
    click.echo(f"re-queued {plural(n, 'dead item')}" if n else "no dead items to re-queue")


@click.command("copy-db")
@click.argument("source")
@click.argument("dest")
@with_appcontext
def copy_db_command(source: str, dest: str) -> None:
    """Copy the whole installation into an empty database.

    SOURCE and DEST are each a SQLite file or a postgresql:// URL. The target
    gets the current schema and must hold no data; the consent log is verified
    there afterwards, with this installation's SECRET_KEY.
    """
    from . import copy_db

    app = current_app._get_current_object()  # noqa: SLF001
    src, dst = copy_db.open_target(source), copy_db.open_target(dest)
    try:
        verdict = copy_db.copy(
            app, src, dst, lambda table, n: click.echo(f"{table}: {plural(n, 'row')}")
        )
    except copy_db.CopyError as e:
        raise click.ClickException(str(e)) from None
    finally:
        src.close()
        dst.close()
    if not verdict.ok:
        raise click.ClickException(f"the copy's consent log does not verify: {verdict.reason}")
    click.echo(f"ok: {plural(verdict.count, 'decision')} copied and verified")


COMMANDS = (
    init_command,
    run_command,
    serve_command,
    deliver_command,
    migrate_command,
    verify_log_command,
    backup_command,
    copy_db_command,
    outbox_command,
    *admin_cli.COMMANDS,
    *privacy_cli.COMMANDS,
    *scan_cli.COMMANDS,
)


def init_app(app: Flask) -> None:
    """Register the commands on ``app.cli``, for ``app.test_cli_runner()``."""
    for command in COMMANDS:
        app.cli.add_command(command)


class Group(click.Group):
    """The console script's group: a config or policy error is a message, not a traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        from .consent.policy import PolicyError

        try:
            return super().invoke(ctx)
        except (config.ConfigError, PolicyError) as e:
            raise click.ClickException(str(e)) from None


def main_group() -> click.Group:
    """The ``consentmgr`` command with every subcommand, ``--version`` and ``--help``."""

    @click.group("consentmgr", cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(
        package_name="consentmgr", prog_name="consentmgr", message="%(prog)s %(version)s"
    )
    @click.pass_context
    def group(ctx: click.Context) -> None:
        """consentmgr: self-hosted consent management.

        Config, keys and database live in the instance folder: ./instance, or
        $CONSENTMGR_INSTANCE.
        """
        from . import create_app

        # Commands that need the app make it through this, from the config file, on demand.
        if ctx.obj is None:
            ctx.obj = ScriptInfo(create_app=create_app, set_debug_flag=False)

    for command in COMMANDS:
        group.add_command(command)
    return group


def main() -> None:
    main_group().main(prog_name="consentmgr")
