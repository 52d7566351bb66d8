"""How a free-text comment feels: negative, neutral or positive (jieba + scikit-learn).

The classifier is trained on comments written and labelled for this app
(`data/comments.csv`, docs/comments.md); a held-out fifth (`data/heldout.csv`) is never trained
on and gives the figures the docs report. Features are the router's (jieba words and word
pairs, character 1–2-grams of the normalised text, so Traditional and Simplified read alike);
character pairs keep negations such as 不满, 没有不 and 不太 together.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

from flask import current_app, has_app_context
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import FeatureUnion, Pipeline

from ..routing import (
    DataError,
    Example,
    ModelError,
    char_text,
    give_back_freed_memory,
    library_versions,
    load_file,
    read_examples,
    save_file,
    word_features,
)

LABELS = ("negative", "neutral", "positive")
DATA = Path(str(resources.files(__package__) / "data"))
TRAINING_FILE = DATA / "comments.csv"
HELDOUT_FILE = DATA / "heldout.csv"


def build() -> Pipeline:
    """Words (weight 0.5) and character 1–2-grams → logistic regression, classes balanced
    (neutral comments are the fewest)."""
    features = FeatureUnion(
        [
            ("words", TfidfVectorizer(analyzer=word_features, sublinear_tf=True)),
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char", preprocessor=char_text, ngram_range=(1, 2), sublinear_tf=True
                ),
            ),
        ],
        transformer_weights={"words": 0.5, "chars": 1.0},
    )
    classifier = LogisticRegression(C=10, class_weight="balanced", max_iter=3000)
    return Pipeline([("features", features), ("classifier", classifier)])


def labelled(path: Path) -> list[Example]:
    """A CSV's comments with their label; DataError naming the first row with another label."""
    rows = read_examples(path)
    for number, (_text, label) in enumerate(rows, start=2):
        if label not in LABELS:
            raise DataError(
                f"{path}: row {number}: label {label!r} is not one of {', '.join(LABELS)}"
            )
    return rows


def train(rows: list[Example]) -> Pipeline:
    texts, labels = zip(*rows, strict=True)
    return build().fit(list(texts), list(labels))


def bundled() -> Pipeline:
    """The classifier trained on the bundled comments: kept in the process, and on disk in the
    models folder (`comments/<key>.skops`), so that only a first start trains it (seconds, on
    a busy server). The key changes with the comments and the library versions, so a stale
    file is never read. Training's scratch memory is handed back: the server kept 32 MB of it
    otherwise."""
    key = _training_key()
    if key not in _KEPT:
        folder = (
            Path(current_app.config["WISHES_MODELS_DIR"]) / "comments"
            if has_app_context()
            else None
        )
        _KEPT[key] = _stored(folder, key) or _trained(folder, key)
    return _KEPT[key]


_KEPT: dict[str, Pipeline] = {}


@lru_cache(maxsize=1)
def _training_key() -> str:
    versions = json.dumps(library_versions(), sort_keys=True).encode()
    return hashlib.sha256(TRAINING_FILE.read_bytes() + versions).hexdigest()[:16]


def _stored(folder: Path | None, key: str) -> Pipeline | None:
    path = folder / f"{key}.skops" if folder else None
    if path is None or not path.exists():
        return None
    try:
        return load_file(path)
    except ModelError:
        return None  # not a file this code wrote: trained again and written over


def _trained(folder: Path | None, key: str) -> Pipeline:
    pipeline = train(labelled(TRAINING_FILE))
    give_back_freed_memory()
    if folder is not None:
        with contextlib.suppress(OSError):  # a read-only folder: trained again next start
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.glob("*.skops"):
                old.unlink()
            save_file(pipeline, folder / f"{key}.skops")
    return pipeline


def score(pipeline: Pipeline, rows: list[Example]) -> dict[str, float | int]:
    """`n`, `accuracy` and `macro_f1` (the mean of the three labels' F1) on labelled rows."""
    texts, truth = zip(*rows, strict=True)
    predicted = pipeline.predict(list(texts))
    return {
        "n": len(rows),
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "macro_f1": round(
            float(f1_score(truth, predicted, labels=list(LABELS), average="macro")), 4
        ),
    }
