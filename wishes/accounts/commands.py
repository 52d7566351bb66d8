"""`wishes create-user`, `wishes staff import|export`, and the first administrator that
`wishes serve` makes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlite_utils import Database

from .. import audit
from ..storage import connect, database_path
from . import staff_sheet, store, tokens
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


@click.group("staff")
def staff_group() -> None:
    """Staff in bulk: import a staff workbook, export the staff list."""


def _new_private_file(path: Path) -> int:
    """Open a new file that only this user may read; refuse to overwrite one."""
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.ClickException(f"{path} already exists; it is not overwritten") from None
    except OSError as error:
        raise click.ClickException(f"cannot create {path}: {error.strerror}") from None


@staff_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--passwords-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="New file (XLSX, mode 0600) for the temporary passwords; required unless --check.",
)
@click.option("--check", "check_only", is_flag=True, help="Check the sheet, create nothing.")
@with_appcontext
def staff_import_command(path: Path, passwords_out: Path | None, check_only: bool) -> None:
    """Create the accounts of a staff workbook (XLSX or CSV: username, name, role, branch,
    phone), all or none; their temporary passwords go to --passwords-out, once."""
    if not check_only and passwords_out is None:
        raise click.UsageError("--passwords-out PATH is required (or --check)")
    with connect(database_path()) as db:
        try:
            rows = staff_sheet.check(db, staff_sheet.read_rows(path.read_bytes()))
        except staff_sheet.SheetRefused as refused:
            for problem in refused.problems:
                click.echo(problem.words(), err=True)
            raise click.ClickException(f"{path}: nothing imported") from None
        if check_only or passwords_out is None:
            click.echo(f"{path}: {len(rows)} accounts can be imported")
            return
        fd = _new_private_file(passwords_out)

        def hand_out(sheet: bytes) -> None:
            with os.fdopen(fd, "wb") as handle:
                handle.write(sheet)
                handle.flush()
                os.fsync(handle.fileno())

        try:
            staff_sheet.import_staff(db, rows, audit.Who(label="command line"), hand_out)
        except BaseException as error:
            passwords_out.unlink(missing_ok=True)
            if isinstance(error, staff_sheet.SheetRefused):
                for problem in error.problems:
                    click.echo(problem.words(), err=True)
                raise click.ClickException(f"{path}: nothing imported") from None
            raise
    click.echo(
        f"created {len(rows)} accounts; temporary passwords (shown nowhere else, changed at "
        f"first login): {passwords_out}"
    )


@staff_group.command("export")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--reveal-phones",
    is_flag=True,
    help="Full phone numbers instead of 138****1234; each one is an audited reveal.",
)
@with_appcontext
def staff_export_command(path: Path, reveal_phones: bool) -> None:
    """Write the staff list (XLSX, or CSV when PATH ends in .csv) to a new file (mode 0600)."""
    fd = _new_private_file(path)
    handle = os.fdopen(fd, "wb")
    try:
        with connect(database_path()) as db:
            rows = staff_sheet.export_staff(
                db, audit.Who(label="command line"), reveal_phones=reveal_phones
            )
        as_csv = path.suffix.lower() == ".csv"
        data = staff_sheet.staff_csv(rows) if as_csv else staff_sheet.staff_xlsx(rows)
        with handle:
            handle.write(data)
    except BaseException:
        handle.close()
        path.unlink(missing_ok=True)
        raise
    click.echo(f"{len(rows)} staff written to {path}")


@click.group("api-token")
def api_token_group() -> None:
    """Personal access tokens for the JSON API (/api/v1; README, "API")."""


@api_token_group.command("create")
@click.argument("username")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(tokens.SCOPES),
    default=("read",),
    show_default=True,
    help="What the token may do: read (list and read wishes), write (claim, start, fulfil, "
    "re-route). Repeat for both.",
)
@click.option(
    "--days",
    type=click.IntRange(1, tokens.MAX_DAYS),
    default=tokens.DEFAULT_DAYS,
    show_default=True,
    help="Days until it expires.",
)
@click.option("--name", default="", help="What it is for (shown on the account page).")
@with_appcontext
def api_token_create_command(username: str, scopes: tuple[str, ...], days: int, name: str) -> None:
    """Make a token acting as USERNAME; it is printed once, on the last line, and only its hash
    is kept."""
    with connect(database_path()) as db:
        user = store.find_user(db, username)
        if user is None or not user["active"]:
            raise click.ClickException(f"no active staff account {username!r}")
        token, row = tokens.create_token(
            db, user["id"], name or "command line", scopes, days, by="command line"
        )
        audit.record(
            db,
            "api_token_created",
            audit.Who(label="command line"),
            subject_kind="user",
            subject_id=user["id"],
            detail={"token": row["prefix"], "scopes": row["scopes"], "expires": row["expires_at"]},
        )
    click.echo(
        f"token for {user['username']} (scopes: {row['scopes']}; expires {row['expires_at']} UTC)"
        "; shown once, keep it secret:"
    )
    click.echo(token)


COMMANDS = [create_user_command, staff_group, api_token_group]
