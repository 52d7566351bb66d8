"""The `wishes notify` command: the notification worker in the foreground."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from .worker import exclusive, run_forever, run_once, show_info_logs


@click.command("notify")
@click.option(
    "--once", is_flag=True, help="Run one round (queue overdue reminders, deliver what is due)."
)
@with_appcontext
def notify_command(once: bool) -> None:
    """Deliver queued branch notifications and queue overdue reminders, until stopped; each
    round also makes the scheduled backup when due and erases personal data past its period."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    show_info_logs()
    if not once:
        run_forever(app)
        return
    with exclusive(app) as mine:
        if not mine:
            click.echo("another notification worker is running for this database: nothing done")
            return
        result = run_once(app)
    click.echo(
        f"overdue reminders queued: {result.overdue_queued}; "
        f"delivered: {result.delivered}; failed (will retry): {result.failed}"
    )


COMMANDS = [notify_command]
