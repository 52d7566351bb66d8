"""Training and scoring the router, for any label set.

`train` fits a pipeline on labelled wishes (the bundled corpus, extra CSV files and the
corrections staff made in the database, the database winning on conflicts), scores it on a
held-out file it never saw, saves it as a new version, and activates it only when it is not
worse than the active model on that same file.
"""

from __future__ import annotations

import csv
import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from . import artifacts, pipeline
from .text import normalise, traditional_to_simplified

Example = tuple[str, str]
Progress = Callable[[str], None]


def bundled_file(name: str) -> Path:
    """A file shipped in wishes/routing/data (the corpus `wishes.csv`, held-out `heldout.csv`)."""
    return Path(str(resources.files(__package__).joinpath("data", name)))


BUNDLED_CORPUS = "wishes.csv"
BUNDLED_HELDOUT = "heldout.csv"


class DataError(ValueError):
    """A training or evaluation file that cannot be used (missing columns, no rows)."""


def read_examples(path: Path) -> list[Example]:
    """Rows of a CSV with columns `text` and `label` (other columns ignored, blank rows skipped)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"text", "label"} <= set(reader.fieldnames):
                raise DataError(f"{path}: needs the columns 'text' and 'label'")
            rows = [
                (row["text"].strip(), row["label"].strip())
                for row in reader
                if (row.get("text") or "").strip() and (row.get("label") or "").strip()
            ]
    except (UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{path}: not a readable UTF-8 CSV ({error})") from None
    if not rows:
        raise DataError(f"{path}: no labelled rows")
    return rows


def merge(*sources: Iterable[Example]) -> list[Example]:
    """Join example lists; a later source wins when the same text (normalised) appears again."""
    merged: dict[str, Example] = {}
    for source in sources:
        for text, label in source:
            merged[normalise(text)] = (text, label)
    return list(merged.values())


def data_hash(examples: list[Example]) -> str:
    digest = hashlib.sha256()
    for text, label in sorted(examples):
        digest.update(f"{label}\t{text}\n".encode())
    return digest.hexdigest()


@dataclass
class Scores:
    n: int
    accuracy: float
    macro_f1: float
    top3_accuracy: float
    per_label: dict[str, dict[str, float]]
    labels: list[str]
    confusion: list[list[int]]
    unknown_labels: dict[str, int] = field(default_factory=dict)
    mean_ms: float = 0.0
    p95_ms: float = 0.0
    groups: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


TRIAGE = "triage"


@dataclass(frozen=True)
class Placement:
    """Scores a model's labels as other labels: a category as the branch a routing map gives
    it, or `triage` where the map places none (not a wish, a category left to a person)."""

    placed: dict[str, str | None]

    def labels(self) -> set[str]:
        return {branch or TRIAGE for branch in self.placed.values()} | {TRIAGE}

    def __call__(self, top: list[tuple[str, float]]) -> list[tuple[str, float]]:
        """Top categories → their branches, each branch once, in the categories' order."""
        branches: dict[str, float] = {}
        for label, probability in top:
            branches.setdefault(self.placed.get(label) or TRIAGE, probability)
        return list(branches.items())


def predict_top(model: Pipeline, texts: list[str], k: int = 3) -> list[list[tuple[str, float]]]:
    """The k most likely labels with probabilities for each text."""
    probabilities = model.predict_proba(texts)
    classes = model.classes_
    order = np.argsort(-probabilities, axis=1)[:, :k]
    return [
        [(str(classes[j]), float(probabilities[i, j])) for j in row] for i, row in enumerate(order)
    ]


def score(
    model: Pipeline,
    examples: list[Example],
    *,
    timing_sample: int = 300,
    groups: dict[str, Callable[[str], bool]] | None = None,
    decide: Placement | None = None,
) -> Scores:
    """Accuracy, macro-F1, top-3, per-label precision/recall, confusion matrix and latency.

    A row whose label the model does not know counts as an error (a model that lost a label
    must not pass a comparison by leaving that label's rows out); `unknown_labels` names them.
    `decide` turns the top-3 labels into the labels scored (the routing map, for branches).
    """
    known = set(model.classes_) if decide is None else decide.labels()
    unknown = Counter(label for _, label in examples if label not in known)
    if len(unknown) == len({label for _, label in examples}):
        raise DataError("none of the labels in this file are known to the model")
    texts = [t for t, _ in examples]
    truth = [label for _, label in examples]
    top = predict_top(model, texts)
    if decide is not None:
        top = [decide(choices) for choices in top]
    predicted = [choices[0][0] if choices else "" for choices in top]
    labels = sorted(known | set(truth) if decide is None else set(truth) | set(predicted))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=labels, zero_division=0
    )
    per_label = {
        label: {
            "precision": round(float(p), 4),
            "recall": round(float(r), 4),
            "f1": round(float(f), 4),
            "support": int(s),
        }
        for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
    }
    timings = []
    for text in texts[:timing_sample]:
        started = time.perf_counter()
        model.predict_proba([text])
        timings.append((time.perf_counter() - started) * 1000)
    present = sorted(set(truth))
    result = Scores(
        n=len(examples),
        accuracy=round(float(accuracy_score(truth, predicted)), 4),
        macro_f1=round(float(f1_score(truth, predicted, labels=present, average="macro")), 4),
        top3_accuracy=round(
            float(np.mean([t in {c for c, _ in ch} for t, ch in zip(truth, top, strict=True)])), 4
        ),
        per_label=per_label,
        labels=labels,
        confusion=confusion_matrix(truth, predicted, labels=labels).tolist(),
        unknown_labels=dict(unknown),
        mean_ms=round(float(np.mean(timings)), 3),
        p95_ms=round(float(np.percentile(timings, 95)), 3),
    )
    for name, belongs in (groups or {}).items():
        picked = [i for i, t in enumerate(texts) if belongs(t)]
        if picked:
            result.groups[name] = {
                "n": len(picked),
                "accuracy": round(float(np.mean([predicted[i] == truth[i] for i in picked])), 4),
            }
    return result


def is_traditional(text: str) -> bool:
    """True when the text changes under Traditional → Simplified conversion."""
    return traditional_to_simplified(text) != text


SCRIPT_GROUPS: dict[str, Callable[[str], bool]] = {
    "traditional": is_traditional,
    "simplified": lambda text: not is_traditional(text),
}


def fit(examples: list[Example], design: str = pipeline.DEFAULT_DESIGN) -> Pipeline:
    counts = Counter(label for _, label in examples)
    if len(counts) < 2:
        raise DataError("training needs at least two labels")
    too_few = sorted(label for label, n in counts.items() if n < 5)
    if too_few:
        raise DataError(f"every label needs at least 5 examples; too few for: {', '.join(too_few)}")
    model = pipeline.build(design)
    model.fit([t for t, _ in examples], [label for _, label in examples])
    return model


def split_heldout(
    examples: list[Example], share: float = 0.2
) -> tuple[list[Example], list[Example]]:
    """Stratified split, for data sets that bring no held-out file of their own."""
    labels = [label for _, label in examples]
    try:
        train, heldout = train_test_split(
            examples, test_size=share, stratify=labels, random_state=0
        )
    except ValueError as error:  # too few examples of a label to hold some back
        raise DataError(f"cannot hold out {share:.0%} of every label: {error}") from None
    return list(train), list(heldout)


# The not-worse gate: besides overall accuracy, no label's held-out recall may fall by more
# than this (a topic quietly moved to the wrong branch by targeted corrections must not pass).
RECALL_DROP_LIMIT = 0.03
KEEP_VERSIONS = 5  # `wishes train` keeps the newest five versions and the active one


def recall_drops(new: Scores, old: Scores) -> list[tuple[str, float, float]]:
    """Labels of the held-out set whose recall fell by more than RECALL_DROP_LIMIT."""
    drops = []
    for label, before in old.per_label.items():
        if not before["support"]:
            continue
        after = new.per_label.get(label, {"recall": 0.0})["recall"]
        if before["recall"] - after > RECALL_DROP_LIMIT + 1e-9:
            drops.append((label, before["recall"], after))
    return drops


@dataclass
class TrainingRun:
    version: str
    scores: Scores
    activated: bool
    active_before: str | None
    active_scores: Scores | None
    reason: str
    info: dict[str, Any]


def train(
    models_dir: Path,
    sources: dict[str, list[Example]],
    heldout: list[Example],
    *,
    activate: bool = True,
    force: bool = False,
    progress: Progress = lambda message: None,
) -> TrainingRun:
    """Fit on the merged sources, score on `heldout`, save, and activate when not worse."""
    examples = merge(*sources.values())
    heldout_texts = {normalise(t) for t, _ in heldout}
    leaked = [e for e in examples if normalise(e[0]) in heldout_texts]
    examples = [e for e in examples if normalise(e[0]) not in heldout_texts]
    progress(
        f"training on {len(examples)} wishes ("
        + ", ".join(f"{name}: {len(rows)}" for name, rows in sources.items())
        + (f"; {len(leaked)} held-out texts left out" if leaked else "")
        + f"), {len(Counter(label for _, label in examples))} labels"
    )
    started = time.perf_counter()
    model = fit(examples)
    seconds = time.perf_counter() - started
    progress(f"trained in {seconds:.1f} s; scoring on {len(heldout)} held-out wishes")
    scores = score(model, heldout, groups=SCRIPT_GROUPS)
    info = {
        "design": pipeline.DEFAULT_DESIGN,
        "training": {
            "size": len(examples),
            "sha256": data_hash(examples),
            "sources": {name: len(rows) for name, rows in sources.items()},
            "seconds": round(seconds, 2),
        },
        "heldout": {"size": len(heldout), "sha256": data_hash(heldout)},
        "metrics": scores.as_dict(),
    }
    version = artifacts.save(models_dir, model, info)
    progress(f"saved version {version}")

    before = artifacts.active_version(models_dir)
    active_scores = None
    if before is not None:
        try:
            active_scores = score(artifacts.load(models_dir, before).pipeline, heldout)
        except (artifacts.ModelError, DataError) as error:
            progress(f"the active model {before} cannot be compared ({error}); replacing it")
    if not activate:
        activated, reason = False, "not activated (--no-activate)"
    elif force:
        activated, reason = True, "activated (--force)"
    elif active_scores is None:
        activated, reason = True, "activated (no usable active model)"
    elif drops := recall_drops(scores, active_scores):
        activated = False
        reason = (
            f"kept {before}: recall on the held-out set fell by more than "
            f"{RECALL_DROP_LIMIT * 100:.0f} points for "
            + ", ".join(f"{label} {old:.2f} → {new:.2f}" for label, old, new in drops)
            + " (use --force to activate anyway)"
        )
    elif scores.accuracy >= active_scores.accuracy:
        activated = True
        reason = (
            f"activated: held-out accuracy {scores.accuracy:.4f} "
            f"≥ active {active_scores.accuracy:.4f}, and no label's recall fell by more "
            f"than {RECALL_DROP_LIMIT * 100:.0f} points"
        )
    else:
        activated, reason = (
            False,
            (
                f"kept {before}: held-out accuracy {scores.accuracy:.4f} < active "
                f"{active_scores.accuracy:.4f} (use --force to activate anyway)"
            ),
        )
    artifacts.record_decision(models_dir, version, activated=activated, reason=reason)
    if activated:
        artifacts.activate(models_dir, version)
        artifacts.prune(models_dir, keep=KEEP_VERSIONS)
    progress(reason)
    return TrainingRun(version, scores, activated, before, active_scores, reason, info)
