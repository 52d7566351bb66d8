"""Text similarity of two wishes, for linking open wishes of the same need as "similar".

Only the text part: the caller compares a new wish with the open wishes of the same category
and department. The score is the cosine of character 1–2-gram TF-IDF vectors of the normalised
texts (Traditional folded into Simplified). Measured on tests/data/similar_pairs.csv
(benchmarks/similar.py), averaging in jieba words scored lower and took 3× as long. No bag of
n-grams tells "空调坏了" from "电视坏了" as a reader does: a person still merges.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import cache
from importlib import resources
from pathlib import Path

from wishes.routing import normalise, read_examples

# The score at or above which two texts are "the same need": on the labelled pairs, the highest
# precision that still finds half of the duplicates (benchmarks/similar.py prints the table).
THRESHOLD = 0.20

# Runs of Latin letters and digits (wifi, ct, 2) or of other letters (Chinese).
_RUN = re.compile(r"[a-z0-9]+|[^\W\da-z_]+")


def _grams(text: str) -> list[str]:
    """Characters and adjacent pairs inside each Chinese run, Latin words whole.

    Characters, not jieba words, so that 空调 still meets 空调不制冷 however jieba cuts it; pairs
    never cross punctuation, which ends a thought."""
    found: list[str] = []
    for run in _RUN.findall(normalise(text)):
        if run.isascii():
            found.append(run)
        else:
            found.extend(run)
            found.extend(run[i : i + 2] for i in range(len(run) - 1))
    return found


@cache
def _weights() -> tuple[dict[str, float], float]:
    """IDF of each gram over the router's bundled wishes, read once (0.1 s): filler every wish
    has (想, 能不能, 一下) weighs little. A gram no wish there has weighs most, being rarest."""
    corpus = resources.files("wishes.routing").joinpath("data", "wishes.csv")
    texts = [text for text, _ in read_examples(Path(str(corpus)))]
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(set(_grams(text)))
    # scikit-learn's smoothed IDF, as the router's vectorisers use
    unseen = math.log(1 + len(texts)) + 1
    return {g: math.log((1 + len(texts)) / (1 + n)) + 1 for g, n in counts.items()}, unseen


def prepare() -> None:
    """Read the weights now (the serving app, before its first request), not in a patient's."""
    _weights()


def _vector(text: str, idf: dict[str, float], unseen: float) -> dict[str, float]:
    weighted = {g: n * idf.get(g, unseen) for g, n in Counter(_grams(text)).items()}
    norm = math.sqrt(sum(w * w for w in weighted.values()))
    return {g: w / norm for g, w in weighted.items()} if norm else {}


def scores(text: str, others: list[str]) -> list[float]:
    """Similarity in [0, 1] of `text` to each of `others`, in order; the query is vectorised
    once (300 candidates take about 6 ms). Empty or punctuation-only text scores 0.0."""
    idf, unseen = _weights()
    query = _vector(text, idf, unseen)
    if not query:
        return [0.0] * len(others)
    found = []
    for other in others:
        vector = _vector(other, idf, unseen)
        dot = sum(w * query[g] for g, w in vector.items() if g in query)
        found.append(min(1.0, dot))  # rounding can pass 1.0 by an ulp
    return found


def score(a: str, b: str) -> float:
    """Similarity in [0, 1] of two wish texts; `THRESHOLD` or more reads as the same need."""
    return scores(a, [b])[0]
