"""``consentmgr create-admin``, ``delete-admin`` and ``list-admins``.

Accounts are made on the command line only, so the console has no sign-up
page to attack. The password is typed twice at a hidden prompt, or read from
standard input with ``--password-stdin`` for provisioning scripts; it never
appears as an argument, where ``ps`` and shell history would show it.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import with_appcontext

from ..db import get_db
from . import accounts as admins


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt="Repeat password")


@click.command("create-admin")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def create_admin_command(username: str, password_stdin: bool) -> None:
    """Create an admin console account.

    Asks for the password twice, or reads it from standard input.
    """
    min_length = current_app.config["ADMIN_MIN_PASSWORD_LENGTH"]
    try:
        admins.check_username(username)
        if admins.exists(get_db(), username):
            raise admins.AdminError(f"admin {username!r} already exists")
        password = _read_password(password_stdin)
        admins.create(get_db(), username, password, min_length, datetime.now(UTC))
    except admins.AdminError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"created admin {username}")


@click.command("delete-admin")
@click.argument("username")
@with_appcontext
def delete_admin_command(username: str) -> None:
    """Delete an admin account and end its sessions."""
    if not admins.delete(get_db(), username):
        raise click.ClickException(f"there is no admin {username!r}")
    click.echo(f"deleted admin {username}")


@click.command("list-admins")
@with_appcontext
def list_admins_command() -> None:
    """List admin console accounts."""
    accounts = admins.listing(get_db())
    if not accounts:
        click.echo("no admins yet: create one with `consentmgr create-admin USERNAME`")
    for account in accounts:
        click.echo(f"{account['username']}\tcreated {account['created']}")


COMMANDS = (create_admin_command, delete_admin_command, list_admins_command)
