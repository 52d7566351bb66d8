"""The router's scikit-learn pipelines: the chosen design and the ones it was measured against.

The chosen design (see docs/routing.md for the measurements): TF-IDF over jieba words and word
pairs (weighted 0.4), joined with TF-IDF over character 1–2-grams of the normalised text, into a
linear SVM whose scores are calibrated into probabilities (sigmoid, fitted on 5-fold out-of-fold
scores; one SVM is kept; `SigmoidSVC` applies the sigmoids of all labels at once). Character n-grams
carry typos, homophone slips and unknown words; jieba words carry the hospital vocabulary;
calibration gives the confidence the triage threshold is set on.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.sparse import issparse
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from .text import char_text, word_features

# Words and word pairs seen in only one training wish are left out: at 6,193 wishes it was
# most of them (33,000 → 11,600), with the same cross-validated accuracy and a smaller model
# and process. Character 1–2-grams are all kept
# (34,800; 14,600 seen twice): leaving the rare ones out too lost KUAKE-QIC's 5-fold accuracy
# (0.7702, below the character baseline's 0.7707; 0.7742 with them) for no gain on the wishes
# (cross-validated 0.9053 with them, 0.9044 without, mean of three fold seeds). docs/routing.md.
WORD_MIN_DF = 2
CHAR_MIN_DF = 1


def _words(min_df: int = WORD_MIN_DF) -> TfidfVectorizer:
    return TfidfVectorizer(analyzer=word_features, sublinear_tf=True, min_df=min_df)


def _chars(ngram_range: tuple[int, int] = (1, 2), min_df: int = CHAR_MIN_DF) -> TfidfVectorizer:
    return TfidfVectorizer(
        analyzer="char",
        preprocessor=char_text,
        ngram_range=ngram_range,
        sublinear_tf=True,
        min_df=min_df,
    )


# Chosen by 5-fold cross-validation on the training corpus (never on the held-out file):
# character 1–2-grams, jieba words weighted 0.4 against them, C=1. See docs/routing.md.
WORD_WEIGHT = 0.4


class SigmoidSVC(ClassifierMixin, BaseEstimator):
    """A linear SVM with scikit-learn's sigmoid calibration (one sigmoid per label, fitted on
    5-fold out-of-fold scores; one SVM kept), applied to all labels at once.

    CalibratedClassifierCV applies its sigmoids one label at a time: with 21 labels that took
    1.3 of a wish's 2.8 ms. This keeps the fitted SVM and the sigmoids' two numbers per label,
    and gives the same probabilities with one product (docs/routing.md).
    """

    def __init__(self, C: float = 1.0, cv: int = 5):
        self.C = C
        self.cv = cv

    def fit(self, X, y):
        calibrated = CalibratedClassifierCV(
            LinearSVC(C=self.C), method="sigmoid", cv=self.cv, ensemble=False
        ).fit(X, y)
        fitted = calibrated.calibrated_classifiers_[0]
        self.svm_ = fitted.estimator
        # Half the size in memory and on disk (labels × features, 15 MB as float64); the
        # scores differ in the seventh digit. Kept in Fortran order, so that its transpose, the
        # features × labels matrix the scores are a product with, is contiguous (skops keeps
        # the order): scipy copied it whole for every wish otherwise, 0.5 of a wish's 1.8 ms.
        self.svm_.coef_ = np.asfortranarray(self.svm_.coef_, dtype=np.float32)
        self.classes_ = calibrated.classes_
        self.a_ = np.array([sigmoid.a_ for sigmoid in fitted.calibrators])
        self.b_ = np.array([sigmoid.b_ for sigmoid in fitted.calibrators])
        return self

    def decision_function(self, X):
        """The SVM's scores, as `LinearSVC.decision_function` (to the seventh digit), with the
        features as float32 like the weights: a product with no copy of the weights."""
        weights = self.svm_.coef_.T
        if not issparse(X) or not weights.flags.c_contiguous:
            return self.svm_.decision_function(X)
        scores = np.asarray(X.astype(np.float32) @ weights, dtype=np.float64)
        scores += self.svm_.intercept_
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict_proba(self, X):
        """As CalibratedClassifierCV's: each label's sigmoid, then normalised to sum to 1."""
        scores = self.decision_function(X)
        if scores.ndim == 1:  # two labels: one score, for the second
            positive = expit(-(self.a_[0] * scores + self.b_[0]))
            return np.column_stack([1 - positive, positive])
        proba = expit(-(self.a_ * scores + self.b_))
        total = proba.sum(axis=1, keepdims=True)
        uniform = np.full_like(proba, 1 / len(self.classes_))
        return np.divide(proba, total, out=uniform, where=total != 0)

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def words_and_chars_svm() -> Pipeline:
    """The router: jieba words + character n-grams → linear SVM, sigmoid-calibrated."""
    features = FeatureUnion(
        [("words", _words()), ("chars", _chars())],
        transformer_weights={"words": WORD_WEIGHT, "chars": 1.0},
    )
    return Pipeline([("features", features), ("classifier", SigmoidSVC(C=1.0))])


def words_and_chars_sigmoid() -> Pipeline:
    """The previous router: the same features, scikit-learn's per-label sigmoid calibration."""
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
    "words+chars-svm-sigmoid": words_and_chars_sigmoid,
    "words+chars-logistic": words_and_chars_logistic,
    "chars-svm-baseline": chars_svm_baseline,
}
DEFAULT_DESIGN = "words+chars-svm-calibrated"


def build(design: str = DEFAULT_DESIGN) -> Pipeline:
    return DESIGNS[design]()
