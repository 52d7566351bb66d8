"""`wishes route`, `wishes train` and `wishes evaluate`: the router on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from .. import lifecycle
from ..storage import connect, database_path
from . import artifacts, training


def _models_dir() -> Path:
    return Path(current_app.config["WISHES_MODELS_DIR"])


def _echo_json(payload: dict) -> None:
    click.echo(json.dumps(payload, ensure_ascii=False))


@click.command("route")
@click.argument("text")
@with_appcontext
def route_command(text: str) -> None:
    """Show the top-3 branches for TEXT with probabilities, and its keyword tags."""
    router = current_app.extensions["wishes.router"]
    decision = router.route(text)
    if decision is None:
        raise click.ClickException("no usable router model is active: run `wishes train` first")
    verdict = "routed" if decision.confident else f"to triage (below {router.threshold:.2f})"
    click.echo(f"model {decision.model_version}: {verdict}")
    for label, probability in decision.suggestions:
        click.echo(f"  {label:<14} {probability:6.1%}")
    click.echo("tags: " + " ".join(decision.tags))


def _read(paths: tuple[str, ...]) -> list[training.Example]:
    rows: list[training.Example] = []
    for path in paths:
        try:
            rows += training.read_examples(Path(path))
        except (OSError, training.DataError) as error:
            raise click.ClickException(str(error)) from error
    return rows


@click.command("train")
@click.option(
    "--data",
    "data_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Labelled CSV (columns text,label); repeatable. Default: the bundled corpus.",
)
@click.option(
    "--heldout",
    "heldout_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Held-out CSV to score on. Default: the bundled held-out file, or 20% of "
    "--data when its labels differ from the bundled ones.",
)
@click.option("--no-db", is_flag=True, help="Leave out the corrections recorded in the database.")
@click.option(
    "--activate/--no-activate",
    default=True,
    show_default=True,
    help="Activate the new version when it is not worse than the active one.",
)
@click.option("--force", is_flag=True, help="Activate even when it scores worse.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@with_appcontext
def train_command(data_files, heldout_file, no_db, activate, force, as_json) -> None:
    """Train a new router version, score it on held-out wishes, and activate it if not worse."""
    progress = (lambda message: click.echo(message, err=True)) if as_json else click.echo
    sources: dict[str, list[training.Example]] = {}
    if data_files:
        sources["files"] = _read(data_files)
    else:
        sources["bundled corpus"] = training.read_examples(
            training.bundled_file(training.BUNDLED_CORPUS)
        )
    if not no_db:
        with connect(database_path()) as db:
            sources["database corrections"] = lifecycle.corrected_labels(db)
    hold_out_from_data = False
    if heldout_file:
        heldout = _read((heldout_file,))
    else:
        heldout = training.read_examples(training.bundled_file(training.BUNDLED_HELDOUT))
        data_labels = {label for rows in sources.values() for _, label in rows}
        hold_out_from_data = bool(data_files) and not data_labels <= {lb for _, lb in heldout}
        if hold_out_from_data:
            progress("labels differ from the bundled held-out file: holding out 20% of --data")
    try:
        if hold_out_from_data:
            sources["files"], heldout = training.split_heldout(sources["files"])
        run = training.train(
            _models_dir(), sources, heldout, activate=activate, force=force, progress=progress
        )
    except training.DataError as error:
        raise click.ClickException(str(error)) from error
    if as_json:
        _echo_json(
            {
                "version": run.version,
                "activated": run.activated,
                "reason": run.reason,
                "previous_version": run.active_before,
                **run.info["training"],
                "metrics": run.scores.as_dict(),
                "previous_metrics": run.active_scores.as_dict() if run.active_scores else None,
            }
        )
        return
    _print_scores(run.scores)


def _print_scores(scores: training.Scores) -> None:
    click.echo(
        f"n={scores.n}  accuracy={scores.accuracy:.4f}  macro-F1={scores.macro_f1:.4f}  "
        f"top-3={scores.top3_accuracy:.4f}  latency mean={scores.mean_ms:.2f} ms "
        f"p95={scores.p95_ms:.2f} ms"
    )
    for group, figures in scores.groups.items():
        click.echo(f"  {group}: n={figures['n']} accuracy={figures['accuracy']:.4f}")
    click.echo(f"  {'label':<14} precision recall  support")
    for label, figures in scores.per_label.items():
        click.echo(
            f"  {label:<14} {figures['precision']:9.3f} {figures['recall']:6.3f} "
            f"{figures['support']:8d}"
        )
    if scores.unknown_labels:
        unknown = ", ".join(f"{label} ({n})" for label, n in scores.unknown_labels.items())
        click.echo(f"  labels the model does not know (rows left out): {unknown}")


@click.command("evaluate")
@click.option(
    "--data",
    "data_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="CSV with columns text and label (other columns are ignored).",
)
@click.option("--model", "version", help="Model version. Default: the active one.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@with_appcontext
def evaluate_command(data_file: str, version: str | None, as_json: bool) -> None:
    """Score a model on any labelled CSV: accuracy, macro-F1, top-3, per label, confusion, speed."""
    models_dir = _models_dir()
    version = version or artifacts.active_version(models_dir)
    if not version:
        raise click.ClickException("no active model: run `wishes train` or pass --model")
    try:
        model = artifacts.load(models_dir, version)
        scores = training.score(model.pipeline, _read((data_file,)), groups=training.SCRIPT_GROUPS)
    except (artifacts.ModelError, training.DataError) as error:
        raise click.ClickException(str(error)) from error
    if as_json:
        _echo_json({"model": version, **scores.as_dict()})
        return
    click.echo(f"model {version} on {data_file}")
    _print_scores(scores)
    click.echo("confusion matrix (rows: true label, columns: predicted, same order):")
    for label, row in zip(scores.labels, scores.confusion, strict=True):
        click.echo(f"  {label:<14} " + " ".join(f"{n:4d}" for n in row))


COMMANDS = (route_command, train_command, evaluate_command)
