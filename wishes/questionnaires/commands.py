"""`wishes questionnaire export|import`: the admin page's exchange (JSON, or an XLSForm .xlsx
for KoboToolbox and ODK), from a shell; and `wishes comments evaluate`: the comments'
sentiment classifier scored on labelled comments."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import with_appcontext

from .. import organisation
from ..glossary import questionnaires as words
from ..routing import DataError
from ..storage import connect, database_path, transaction
from . import comments, sentiment, store, xlsform
from . import definition as definitions

MAX_BYTES = 1024 * 1024


@click.group("questionnaire")
def questionnaire_group() -> None:
    """Export or import questionnaire definitions (JSON or XLSForm .xlsx)."""


@questionnaire_group.command("export")
@click.argument("slug")
@click.argument("target", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--version", "number", type=int, help="A version number (default: the latest).")
@with_appcontext
def export_command(slug: str, target: Path | None, number: int | None) -> None:
    """Print a questionnaire's definition as JSON, or write it to TARGET: an XLSForm workbook
    (KoboToolbox, ODK) when it ends in .xlsx, JSON when it ends in .json."""
    suffix = target.suffix.lower() if target else ""
    if target is not None and suffix not in (".xlsx", ".json"):
        raise click.ClickException("只能导出为 .xlsx（XLSForm）或 .json 文件")
    with connect(database_path()) as db:
        found = store.questionnaire(db, slug)
        if found is None:
            raise click.ClickException(f"没有网址名为「{slug}」的问卷")
        versions = store.versions(db, found["id"])
        chosen = next((v for v in versions if v.number == number), None) if number else versions[0]
        if chosen is None:
            raise click.ClickException(f"问卷「{slug}」没有版本 {number}")
        departments = organisation.departments(db)
    if target is None:
        click.echo(definitions.dumps(chosen.definition))
        return
    if suffix == ".xlsx":
        target.write_bytes(xlsform.xlsform_from_definition(chosen.definition, departments))
    else:
        target.write_text(definitions.dumps(chosen.definition) + "\n", encoding="utf-8")
    kind = "XLSForm" if suffix == ".xlsx" else "JSON"
    click.echo(f"{slug}: version {chosen.number} written to {target} ({kind})")


@questionnaire_group.command("import")
@click.argument("source", type=click.File("rb"))
@click.option("--publish", is_flag=True, help="Publish the imported version at once.")
@with_appcontext
def import_command(source, publish: bool) -> None:
    """Import a definition from SOURCE (a file, or - for standard input) as a draft: JSON, or
    an XLSForm workbook (.xlsx, as KoboToolbox and ODK write them)."""
    raw = source.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise click.ClickException("文件太大：问卷文件（JSON 或 XLSForm）不应超过 1 MB")
    notes: list[str] = []
    with connect(database_path()) as db:
        try:
            with transaction(db):  # imported and published, or nothing written
                definition = xlsform.readable(raw, notes)
                qid, version = store.import_definition(db, definition, "command line")
                if publish:
                    store.publish(db, qid, version.id)
        except (definitions.DefinitionError, store.QuestionnaireError) as error:
            raise click.ClickException(f"没有导入：{words.refusal(error)}") from None
    for note in notes:
        click.echo(f"注意：{note}")
    state = "published" if publish else "saved as a draft"
    click.echo(f"{version.slug}: version {version.number} {state}")


@click.group("comments")
def comments_group() -> None:
    """The comments' sentiment classifier (negative, neutral, positive)."""


@comments_group.command("evaluate")
@click.option(
    "--data",
    "data_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Labelled CSV (columns text,label; label negative, neutral or positive). "
    "Default: the bundled held-out comments.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def comments_evaluate_command(data_file: Path | None, as_json: bool) -> None:
    """Score the classifier (trained on the bundled comments) on labelled comments."""
    path = data_file or sentiment.HELDOUT_FILE
    try:
        rows = sentiment.labelled(path)
    except DataError as error:
        raise click.ClickException(str(error)) from error
    scores = sentiment.score(sentiment.bundled(), rows)
    if as_json:
        click.echo(json.dumps(scores))
    else:
        click.echo(
            f"{scores['n']} comments: accuracy {scores['accuracy']:.4f}, "
            f"macro-F1 {scores['macro_f1']:.4f}"
        )


@comments_group.command("label")
@click.option("--batch", default=500, show_default=True, help="Comments read per transaction.")
@with_appcontext
def comments_label_command(batch: int) -> None:
    """Read the comments stored before comments were read when answered: their sentiment and
    need category, for the dashboard's table of comments."""
    done = 0
    with connect(database_path()) as db:
        while chosen := store.unread_comments(db, max(batch, 1)):
            with transaction(db):
                for response_id, comment in chosen:
                    reading = comments.read(comment)
                    store.set_comment_reading(
                        db, response_id, reading.sentiment or "neutral", reading.category
                    )
            done += len(chosen)
            click.echo(f"{done:,} comments read…")
    click.echo(f"done: {done:,} comments read" if done else "every stored comment is read already")


COMMANDS = (questionnaire_group, comments_group)
