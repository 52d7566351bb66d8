"""`wishes organisation export|import|template PATH`: the organisation as one workbook.

The format follows the path: `.xlsx`, `.json`, or else a folder of `<sheet>.csv` files
(docs/organisation.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from .. import audit
from ..storage import connect, database_path
from . import workbook

COMMAND_LINE = audit.Who(label="command line")


@click.group("organisation")
def organisation_group() -> None:
    """The hospital's organisation as one workbook: export, import, template."""


@organisation_group.command("export")
@click.argument("path", type=click.Path(path_type=Path))
@with_appcontext
def export_command(path: Path) -> None:
    """Write the active organisation to PATH (.xlsx, .json, or a folder of CSV files)."""
    with connect(database_path()) as db:
        rows = workbook.export_rows(db)
    workbook.write(rows, path)
    counts = ", ".join(f"{sheet} {len(rows[sheet])}" for sheet in workbook.SHEETS)
    click.echo(f"{path}: {counts}")


@organisation_group.command("import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@with_appcontext
def import_command(path: Path, dry_run: bool) -> None:
    """Make the organisation the one in the workbook at PATH, all of it or nothing.

    Prints every change, or every problem (sheet, row, column, value) and exits with 1.
    """
    book = workbook.read(path)
    with connect(database_path()) as db:
        try:
            plan = workbook.apply(db, book, COMMAND_LINE, dry_run=dry_run)
        except workbook.WorkbookRefused as refused:
            for problem in refused.problems:
                click.echo(str(problem), err=True)
            click.echo(f"{path}: {len(refused.problems)} 个问题，未做任何修改", err=True)
            sys.exit(1)
    for line in plan.lines():
        click.echo(line)
    if not plan:
        click.echo(f"{path}: 与现有组织相同，无需修改")
    elif dry_run:
        click.echo(f"{path}: 预演，以上 {len(plan.changes)} 项修改未执行（--dry-run）")
    else:
        click.echo(f"{path}: 已导入 {len(plan.changes)} 项修改")


@organisation_group.command("template")
@click.argument("path", type=click.Path(path_type=Path))
def template_command(path: Path) -> None:
    """Write a template to PATH: every sheet with its columns and one example row."""
    workbook.write(workbook.template_rows(), path)
    click.echo(f"{path}: template written")


COMMANDS = (organisation_group,)
