"""The ``consentmgr`` command line: Flask CLI commands registered on the app.

``init`` is also on the top-level group itself, so it works before a config
file exists (every other command needs the app, and the app needs the config).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from . import config, consent_log, db, migrations


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
@with_appcontext
def verify_log_command() -> None:
    """Recompute the consent log's hash chain; exit 1 naming the first broken row."""
    verdict = consent_log.verify(db.get_db())
    if verdict.ok:
        click.echo(f"ok: {verdict.count} decisions verified")
        return
    click.echo(
        f"BROKEN at seq {verdict.broken_seq}: {verdict.reason} "
        f"({verdict.count} rows verified before it)",
        err=True,
    )
    sys.exit(1)


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


def init_app(app: Flask) -> None:
    for command in (init_command, migrate_command, verify_log_command, serve_command):
        app.cli.add_command(command)


class _Group(FlaskGroup):
    """The console script's group: a config or policy error is a message, not a traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        from .policy import PolicyError

        try:
            return super().invoke(ctx)
        except (config.ConfigError, PolicyError) as e:
            raise click.ClickException(str(e)) from None

    def get_command(self, ctx: click.Context, name: str):  # type: ignore[override]
        from .policy import PolicyError

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
