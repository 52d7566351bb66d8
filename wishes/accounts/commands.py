"""`wishes create-user`, and the first administrator that `wishes serve` makes."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlite_utils import Database

from .. import audit
from ..storage import connect, database_path
from . import store
from .permissions import Role

FIRST_ADMIN = "admin"


@click.command("create-user")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice([str(r) for r in Role]))
@click.option("--branch", "branch_code", help="Branch code (required for member and secretary).")
@click.option("--name", "display_name", default="", help="Name shown to colleagues.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input instead of generating one.",
)
@with_appcontext
def create_user_command(
    username: str, role: str, branch_code: str | None, display_name: str, password_stdin: bool
) -> None:
    """Create a staff account; without --password-stdin a random password is printed once."""
    try:
        password = sys.stdin.readline().rstrip("\r\n") if password_stdin else store.new_password()
    except UnicodeDecodeError:
        raise click.ClickException("the password on standard input is not UTF-8 text") from None
    with connect(database_path()) as db:
        try:
            user = store.create_user(
                db,
                username,
                password,
                role,
                branch_code=branch_code,
                display_name=display_name,
                must_change_password=not password_stdin,
            )
        except store.AccountError as error:
            raise click.ClickException(str(error)) from None
        detail = {"username": user["username"], "role": role, "branch": branch_code}
        audit.record(
            db,
            "user_created",
            audit.Who(label="command line"),
            subject_kind="user",
            subject_id=user["id"],
            detail=detail,
        )
    click.echo(f"created {user['username']} ({role}{', ' + branch_code if branch_code else ''})")
    if not password_stdin:
        click.echo(f"password (shown once, must be changed at first login): {password}")


def ensure_first_admin(db: Database) -> str | None:
    """Create `admin` when the hospital has no active administrator; return a generated password.

    The password comes from WISHES_ADMIN_PASSWORD when set (nothing is printed), otherwise
    it is random and returned so the caller can print it once.
    """
    if store.has_active_admin(db):
        return None
    chosen = current_app.config["WISHES_ADMIN_PASSWORD"]
    password = chosen or store.new_password()
    username = FIRST_ADMIN
    if store.find_user(db, username) is not None:  # an inactive "admin": keep it, add another
        username = f"{FIRST_ADMIN}-{store.new_password()[:4].lower()}"
    user = store.create_user(
        db,
        username,
        password,
        Role.ADMIN,
        display_name="系统管理员",
        must_change_password=not chosen,
    )
    audit.record(
        db,
        "user_created",
        audit.Who(label="wishes serve"),
        subject_kind="user",
        subject_id=user["id"],
        detail={"username": username, "role": "admin"},
    )
    return None if chosen else f"{username} / {password}"


COMMANDS = [create_user_command]
