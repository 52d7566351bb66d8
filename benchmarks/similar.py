"""Where to set wishes.similar.THRESHOLD, and what a wish's arrival pays for it.

Scores the hand-labelled pairs in tests/data/similar_pairs.csv (same need or not; the "not"
pairs are of the same category, as the app only compares those), then prints precision, recall
and F1 at THRESHOLD and at a few other thresholds; the share of random same-category pairs of
the router's corpus that would be linked (nearly all are different needs); and the time of
`scores` for one wish against 300 open ones.

    .venv/bin/python benchmarks/similar.py
"""

from __future__ import annotations

import csv
import random
import statistics
import time
from importlib import resources
from pathlib import Path

from wishes import similar
from wishes.routing import read_examples, traditional_to_simplified

PAIRS = Path(__file__).resolve().parent.parent / "tests" / "data" / "similar_pairs.csv"


def read_pairs(path: Path = PAIRS) -> list[tuple[str, str, bool]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return [
            (row["text_a"], row["text_b"], row["same"] == "1") for row in csv.DictReader(handle)
        ]


def counts(scored: list[tuple[float, bool]], threshold: float) -> tuple[float, float, float, int]:
    """Precision, recall, F1 and the number of pairs linked at `threshold`."""
    linked = [same for value, same in scored if value >= threshold]
    found = sum(linked)
    precision = found / len(linked) if linked else 0.0
    recall = found / sum(same for _, same in scored)
    f1 = 2 * precision * recall / (precision + recall) if found else 0.0
    return precision, recall, f1, len(linked)


def main() -> None:
    pairs = read_pairs()
    started = time.perf_counter()
    similar.score("", "")
    loading = time.perf_counter() - started
    print(f"first call (reads the IDF from the router's corpus): {loading:.2f} s")
    scored = [(similar.score(a, b), same) for a, b, same in pairs]
    same = sum(s for _, _, s in pairs)
    traditional = sum(
        traditional_to_simplified(a) != a or traditional_to_simplified(b) != b for a, b, _ in pairs
    )
    print(
        f"\npairs: {len(pairs)} ({same} same need, {len(pairs) - same} not; "
        f"{traditional / len(pairs):.0%} with Traditional characters)"
    )
    precision, recall, f1, _ = counts(scored, similar.THRESHOLD)
    print(
        f"at THRESHOLD {similar.THRESHOLD:.2f}: precision {precision:.3f}, recall {recall:.3f}, "
        f"F1 {f1:.3f}"
    )
    positive = [value for value, s in scored if s]
    negative = [value for value, s in scored if not s]
    auc = sum((p > n) + 0.5 * (p == n) for p in positive for n in negative) / (
        len(positive) * len(negative)
    )
    print(f"AUC (a same-need pair outscores a different-need one): {auc:.3f}")

    print("\nthreshold sweep")
    print(
        "{:<10} {:>9} {:>7} {:>6} {:>7}".format("threshold", "precision", "recall", "F1", "linked")
    )
    for threshold in (0.10, 0.15, 0.20, 0.25, 0.30, 0.40):
        precision, recall, f1, linked = counts(scored, threshold)
        print(f"{threshold:<10.2f} {precision:9.3f} {recall:7.3f} {f1:6.3f} {linked:7d}")

    corpus = resources.files("wishes.routing").joinpath("data", "wishes.csv")
    by_label: dict[str, list[str]] = {}
    for text, label in read_examples(Path(str(corpus))):
        by_label.setdefault(label, []).append(text)
    rng = random.Random(20)
    labels = [label for label, texts in by_label.items() if len(texts) > 1]
    random_pairs = []
    for _ in range(3000):
        a, b = rng.sample(by_label[rng.choice(labels)], 2)
        random_pairs.append(similar.score(a, b))
    linked = sum(value >= similar.THRESHOLD for value in random_pairs)
    print(
        f"\nrandom same-category pairs of the router's corpus linked at THRESHOLD: "
        f"{linked / len(random_pairs):.1%} of {len(random_pairs)}"
    )

    texts = [text for texts in by_label.values() for text in texts]
    times = []
    for _ in range(200):
        wish, *others = rng.sample(texts, 301)
        started = time.perf_counter()
        similar.scores(wish, others)
        times.append(time.perf_counter() - started)
    times.sort()
    print(
        f"scores() against 300 candidates: p50 {statistics.median(times) * 1000:.1f} ms, "
        f"p95 {times[int(len(times) * 0.95)] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
