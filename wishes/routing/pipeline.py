"""The router's scikit-learn pipelines: the chosen design and the ones it was measured against.

The chosen design (see docs/routing.md for the measurements): TF-IDF over jieba words and word
pairs (weighted 0.4), joined with TF-IDF over character 1–2-grams of the normalised text, into a
linear SVM whose scores are calibrated into probabilities (sigmoid, fitted on 5-fold out-of-fold
scores; one SVM is kept, a fifth of the prediction time of an ensemble of five). Character n-grams
carry typos, homophone slips and unknown words; jieba words carry the hospital vocabulary;
calibration gives the confidence the triage threshold is set on.
"""

from __future__ import annotations

from collections.abc import Callable

from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from .text import char_text, word_features


def _words() -> TfidfVectorizer:
    return TfidfVectorizer(analyzer=word_features, sublinear_tf=True, min_df=1)


def _chars(ngram_range: tuple[int, int] = (1, 2)) -> TfidfVectorizer:
    return TfidfVectorizer(
        analyzer="char", preprocessor=char_text, ngram_range=ngram_range, sublinear_tf=True
    )


# Chosen by 5-fold cross-validation on the training corpus (never on the held-out file):
# character 1–2-grams, jieba words weighted 0.4 against them, C=1. See docs/routing.md.
WORD_WEIGHT = 0.4


def words_and_chars_svm() -> Pipeline:
    """The router: jieba words + character n-grams → calibrated linear SVM."""
    features = FeatureUnion(
        [("words", _words()), ("chars", _chars())],
        transformer_weights={"words": WORD_WEIGHT, "chars": 1.0},
    )
    classifier = CalibratedClassifierCV(LinearSVC(C=1.0), method="sigmoid", cv=5, ensemble=False)
    return Pipeline([("features", features), ("classifier", classifier)])


def words_and_chars_logistic() -> Pipeline:
    features = FeatureUnion([("words", _words()), ("chars", _chars())])
    return Pipeline(
        [("features", features), ("classifier", LogisticRegression(C=30, max_iter=3000))]
    )


def chars_svm_baseline() -> Pipeline:
    """The plain baseline: raw character 1–3-gram TF-IDF + LinearSVC (no probabilities)."""
    return Pipeline(
        [
            ("features", TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)),
            ("classifier", LinearSVC()),
        ]
    )


DESIGNS: dict[str, Callable[[], Pipeline]] = {
    "words+chars-svm-calibrated": words_and_chars_svm,
    "words+chars-logistic": words_and_chars_logistic,
    "chars-svm-baseline": chars_svm_baseline,
}
DEFAULT_DESIGN = "words+chars-svm-calibrated"


def build(design: str = DEFAULT_DESIGN) -> Pipeline:
    return DESIGNS[design]()
