"""`wishes route`, `wishes train` and `wishes evaluate`: the router on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from .. import hospital, intake, lifecycle, needs, organisation
from ..storage import connect, database_path
from . import artifacts, training


def _models_dir() -> Path:
    return Path(current_app.config["WISHES_MODELS_DIR"])


def _echo_json(payload: dict) -> None:
    click.echo(json.dumps(payload, ensure_ascii=False))


@click.command("route")
@click.argument("text")
@click.option(
    "--department", help="The patient's department or ward code (the map may have a row for it)."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@with_appcontext
def route_command(text: str, department: str | None, as_json: bool) -> None:
    """Show the decision for TEXT: its category of need, the branch the routing map gives it
    (or triage), the confidence, the top-3 categories and the keyword tags."""
    with connect(database_path()) as db:  # as the wish form does, threshold and map alike
        decision, branch = intake.route_and_place(db, text, department)
    if decision is None:
        raise click.ClickException("no usable router model is active: run `wishes train` first")
    routed = decision.routes_to(branch)
    if as_json:
        _echo_json(
            {
                "decision": "route" if routed else "triage",
                "category": decision.category,
                "branch": branch if routed else None,
                "confidence": decision.confidence,
                "top3": [{"category": code, "probability": p} for code, p in decision.suggestions],
                "tags": decision.tags,
                "model": decision.model_version,
            }
        )
        return
    if routed:
        verdict = f"route to {branch}"
    elif not decision.is_a_wish:
        verdict = "triage (not a wish)"
    elif branch is None:
        verdict = f"triage (the routing map does not place {decision.category})"
    else:
        verdict = f"triage (below {hospital.value('WISHES_ROUTER_THRESHOLD'):.2f})"
    click.echo(f"model {decision.model_version}: {verdict}")
    for code, probability in decision.suggestions:
        click.echo(f"  {code:<16} {probability:6.1%}")
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
@click.option("--quiet", is_flag=True, help="Print one line: the held-out accuracy.")
@with_appcontext
def train_command(data_files, heldout_file, no_db, activate, force, as_json, quiet) -> None:
    """Train a new router version, score it on held-out wishes, and activate it if not worse."""
    progress = (lambda message: click.echo(message, err=True)) if as_json else click.echo
    if quiet:
        progress = lambda message: None  # noqa: E731
    sources: dict[str, list[training.Example]] = {}
    if data_files:
        sources["files"] = _read(data_files)
    else:
        sources["bundled corpus"] = training.read_examples(
            training.bundled_file(training.BUNDLED_CORPUS)
        )
    if not no_db:
        with connect(database_path()) as db:
            lessons, waiting = lifecycle.corrected_labels(db)
        sources["database corrections"] = lessons
        if waiting:
            progress(
                f"{waiting} corrections beyond {lifecycle.WEEKLY_CORRECTIONS} a week from one "
                "account are left out until the office reviews them"
            )
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
    if quiet:
        click.echo(
            f"router {run.version}: {run.scores.accuracy:.1%} of {run.scores.n} held-out wishes "
            f"given the right category; {'active' if run.activated else run.reason}"
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
        click.echo(f"  labels the model does not know (counted as errors): {unknown}")


def placement(db) -> training.Placement:
    """The hospital's routing map as the evaluation scores it (no department: the map's
    rows for any department)."""
    return training.Placement({code: organisation.branch_for(db, code) for code in needs.codes()})


@click.command("evaluate")
@click.option(
    "--data",
    "data_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="CSV with columns text and label (other columns are ignored).",
)
@click.option(
    "--level",
    type=click.Choice(["branch", "category"]),
    default="branch",
    show_default=True,
    help="What `label` holds: branch codes (scored through the routing map) or categories.",
)
@click.option("--model", "version", help="Model version. Default: the active one.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@with_appcontext
def evaluate_command(data_file: str, level: str, version: str | None, as_json: bool) -> None:
    """Score the decision the app makes on a labelled CSV: the category model and, at branch
    level, the hospital's routing map. Accuracy, macro-F1, top-3, per label, confusion, speed."""
    models_dir = _models_dir()
    version = version or artifacts.active_version(models_dir)
    if not version:
        raise click.ClickException("no active model: run `wishes train` or pass --model")
    decide = None
    if level == "branch":
        with connect(database_path()) as db:
            decide = placement(db)
    try:
        model = artifacts.load(models_dir, version)
        scores = training.score(
            model.pipeline, _read((data_file,)), groups=training.SCRIPT_GROUPS, decide=decide
        )
    except (artifacts.ModelError, training.DataError) as error:
        raise click.ClickException(str(error)) from error
    if as_json:
        _echo_json({"model": version, "level": level, **scores.as_dict()})
        return
    click.echo(f"model {version} on {data_file} ({level} level)")
    _print_scores(scores)
    click.echo("confusion matrix (rows: true label, columns: predicted, same order):")
    for label, row in zip(scores.labels, scores.confusion, strict=True):
        click.echo(f"  {label:<16} " + " ".join(f"{n:4d}" for n in row))


@click.command("categorise")
@click.option("--batch", default=500, show_default=True, help="Wishes per transaction.")
@with_appcontext
def categorise_command(batch: int) -> None:
    """Give every wish stored before categories the category the active model predicts, with a
    progress bar; wishes that have one keep it. Safe to stop and run again."""
    model = current_app.extensions["wishes.router"].model
    if model is None:
        raise click.ClickException("no usable router model is active: run `wishes train` first")
    with connect(database_path()) as db:
        total = db.execute("SELECT count(*) FROM wishes WHERE category IS NULL").fetchone()[0]
        if not total:
            click.echo("every wish has a category")
            return
        done, after = 0, 0
        with click.progressbar(length=total, label=f"categorising {total:,} wishes") as bar:
            while rows := lifecycle.uncategorised(db, batch, after):
                top = training.predict_top(model.pipeline, [text for _, text in rows], k=1)
                lifecycle.set_categories(
                    db,
                    [(wish_id, best[0][0]) for (wish_id, _), best in zip(rows, top, strict=True)],
                )
                after, done = rows[-1][0], done + len(rows)
                bar.update(len(rows))
    click.echo(f"{done:,} wishes now have a category (model {model.version})")


COMMANDS = (route_command, train_command, evaluate_command, categorise_command)
