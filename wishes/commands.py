"""The `wishes` commands of the whole app (serve, demo) and the registry of every area's own."""

from __future__ import annotations

import os

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from . import demo, serving
from .accounts import password_problem
from .accounts.commands import FIRST_ADMIN, ensure_first_admin
from .assessment import ensure_default as ensure_assessment_scheme
from .hospital import setup
from .routing.commands import train_command
from .storage import connect, database_path


@click.command("demo")
@with_appcontext
def demo_command() -> None:
    """Load the demo hospital: organisation, sample wishes, demo staff (into an empty database)."""
    with connect(database_path()) as db:
        report = demo.load(db)
    click.echo(
        f"organisation: {report.branches} branches, {report.departments} departments; "
        + (
            f"wishes: {report.wishes_added} added"
            if report.wishes_added
            else "wishes: already loaded"
        )
        + (
            f"; questionnaire responses: {report.responses_added} added"
            if report.responses_added
            else ""
        )
        + (f"; assessment rounds: {report.rounds_added} added" if report.rounds_added else "")
    )


def _setup_banner(bind: str, code: str) -> str:
    return (
        f"\nfirst run: set the hospital up at http://{bind}/setup\n"
        f"  set-up code: {code}  (shown here only; it works until set-up is finished)\n"
    )


@click.command("setup-code")
@with_appcontext
def setup_code_command() -> None:
    """Print a new one-time code for the first run's set-up pages (/setup) while set-up is
    pending; the previous code stops working."""
    with connect(database_path()) as db:
        if not setup.pending(db):
            raise click.ClickException("set-up is finished: there is nothing to set up")
        code = setup.new_code(db)
    click.echo(_setup_banner(current_app.config["WISHES_BIND"], code))


@click.command("serve")
@click.option("--demo", "with_demo", is_flag=True, help="Load the demo hospital first.")
@click.option(
    "--bind",
    metavar="HOST:PORT",
    help="Where to listen (default: WISHES_BIND, else 127.0.0.1:8000). 0.0.0.0:8080 answers "
    "other machines on port 8080; 127.0.0.1:8001 only this one, on port 8001.",
)
@click.pass_context
@with_appcontext
def serve_command(ctx: click.Context, with_demo: bool, bind: str | None) -> None:
    """Serve the app with waitress (a production WSGI server) and the notification worker.

    It listens at --bind, or WISHES_BIND (127.0.0.1:8000 unless set): for example
    `wishes serve --bind 0.0.0.0:8080`, or `WISHES_BIND=0.0.0.0:8080 wishes serve`. Trains the
    bundled router first when no usable model is active (the first start only).
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]  # the proxy's own
    if bind:
        app.config["WISHES_BIND"] = bind
    chosen = app.config["WISHES_ADMIN_PASSWORD"]
    if chosen and (problem := password_problem(chosen, FIRST_ADMIN)):
        raise click.ClickException(f"WISHES_ADMIN_PASSWORD cannot be used: {problem}")
    if app.extensions["wishes.router"].refresh() is None:
        click.echo("first start: training the router on the bundled wishes (a few seconds)…")
        ctx.invoke(train_command, quiet=True)
        app.extensions["wishes.router"].refresh()
    setup_code = first_admin = None
    with connect(database_path()) as db:
        if with_demo:
            report = demo.load(db)
            click.echo(f"demo hospital ready: {report.wishes_total} wishes")
        # An empty database: the first administrator sets the hospital up at /setup, unlocked
        # by a one-time code shown here. A scripted install (WISHES_ADMIN_PASSWORD) skips it.
        if not chosen and setup.pending(db):
            setup_code = setup.new_code(db)
        else:
            first_admin = ensure_first_admin(db)
        ensure_assessment_scheme(db)  # the 五化 rubric, on first start
        uncategorised = db.execute("SELECT count(*) FROM wishes WHERE category IS NULL")
        waiting = uncategorised.fetchone()[0]
    if waiting:
        click.echo(
            f"{waiting:,} wishes stored before categories of need have none yet: "
            "`wishes categorise` gives them one (the board and the figures show them uncategorised)"
        )
    if first_admin:
        click.echo(f"first administrator created: {first_admin}  (shown once; change it at login)")
    if setup_code:
        click.echo(_setup_banner(app.config["WISHES_BIND"], setup_code))
    bind = app.config["WISHES_BIND"]
    if with_demo:
        app.config["WISHES_DEMO"] = True  # the pages' demo banner
        os.environ["WISHES_DEMO"] = "1"  # the notification worker's quiet console
    click.echo("starting the web server (waitress)…")
    serving.serve(serving.prepare(app), bind, app.config["WISHES_THREADS"], quiet=with_demo)


def register_commands(app: Flask) -> None:
    """Every command on `app.cli`: `wishes init-db`, `wishes train`, `wishes backup` …"""
    from .accounts.commands import COMMANDS as ACCOUNT_COMMANDS
    from .notifications.commands import COMMANDS as NOTIFY_COMMANDS
    from .organisation.commands import COMMANDS as ORGANISATION_COMMANDS
    from .privacy.commands import COMMANDS as PRIVACY_COMMANDS
    from .questionnaires.commands import COMMANDS as QUESTIONNAIRE_COMMANDS
    from .routing.commands import COMMANDS as ROUTER_COMMANDS
    from .storage import init_db_command
    from .storage.backup import COMMANDS as BACKUP_COMMANDS

    commands = (
        init_db_command,
        demo_command,
        serve_command,
        setup_code_command,
        *ROUTER_COMMANDS,
        *ACCOUNT_COMMANDS,
        *NOTIFY_COMMANDS,
        *QUESTIONNAIRE_COMMANDS,
        *ORGANISATION_COMMANDS,
        *BACKUP_COMMANDS,
        *PRIVACY_COMMANDS,
    )
    for command in commands:
        app.cli.add_command(command)
