"""`wishes erase-patient`: a patient's name and phone number erased on their request."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from .. import audit
from ..intake import mask_phone
from ..storage import connect, database_path
from . import erase_on_request
from .lookup import wishes_named_by

ACTOR = audit.Who(label="wishes erase-patient")


@click.command("erase-patient")
@click.argument("code_or_phone")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def erase_patient_command(code_or_phone: str, yes: bool) -> None:
    """Erase the patient's name and phone number from the wish with tracking code CODE_OR_PHONE,
    or from every wish with that phone number; the wishes themselves stay. Audited."""
    with connect(database_path()) as db:
        found = wishes_named_by(db, code_or_phone)
        if not found:
            raise click.ClickException(f"no wish has tracking code or phone {code_or_phone!r}")
        holding = [w for w in found if w["patient_name"] is not None or w["phone"] is not None]
        for wish in found:
            held = (
                f"name {'yes' if wish['patient_name'] else 'no'}, "
                f"phone {mask_phone(wish['phone']) or 'no'}"
                if wish in holding
                else f"already erased {wish['personal_data_erased_at'] or ''}".rstrip()
            )
            click.echo(
                f"  {wish['tracking_code']}  {wish['created_at'][:10]}  {wish['state']}: {held}"
            )
        if not holding:
            click.echo("nothing to erase")
            return
        if not yes:
            click.confirm(
                f"Erase the name and phone number of {len(holding)} wish(es)?", abort=True
            )
        for wish in holding:
            erased = erase_on_request(db, wish["id"], ACTOR)
            columns = ", ".join(erased.columns) if erased else ""
            click.echo(f"erased from {wish['tracking_code']}: {columns or 'nothing'}")


COMMANDS = [erase_patient_command]
