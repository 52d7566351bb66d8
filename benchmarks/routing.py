"""Router quality on real patient-written text: KUAKE-QIC, stratified 5-fold cross-validation.

Runs our pipeline and, side by side in the same run on the same folds, the plain baseline
(character 1–3-gram TF-IDF + LinearSVC), and prints accuracy, macro-F1, training time and
per-item prediction latency for both, with the ratios.

    .venv/bin/python benchmarks/routing.py [--data ../shared/data/kuake-qic/train.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold

from wishes.routing import pipeline

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/kuake-qic/train.json"
CANDIDATES = ("words+chars-svm-calibrated", "chars-svm-baseline")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--latency-sample", type=int, default=500)
    args = parser.parse_args()
    rows = json.loads(args.data.read_text(encoding="utf-8"))
    texts = np.array([row["query"] for row in rows], dtype=object)
    labels = np.array([row["label"] for row in rows])
    print(f"{args.data.name}: {len(rows)} queries, {len(set(labels))} labels, {args.folds}-fold")
    folds = list(StratifiedKFold(args.folds, shuffle=True, random_state=0).split(texts, labels))
    results = {}
    for name in CANDIDATES:
        accuracy, macro_f1, train_s, latency_ms = [], [], [], []
        for train_index, test_index in folds:
            model = pipeline.build(name)
            started = time.perf_counter()
            model.fit(list(texts[train_index]), labels[train_index])
            train_s.append(time.perf_counter() - started)
            predicted = model.predict(list(texts[test_index]))
            accuracy.append(accuracy_score(labels[test_index], predicted))
            macro_f1.append(f1_score(labels[test_index], predicted, average="macro"))
            for text in texts[test_index][: args.latency_sample // args.folds]:
                started = time.perf_counter()
                model.predict([text])
                latency_ms.append((time.perf_counter() - started) * 1000)
        results[name] = {
            "accuracy": statistics.mean(accuracy),
            "accuracy_sd": statistics.stdev(accuracy),
            "macro_f1": statistics.mean(macro_f1),
            "train_s": statistics.mean(train_s),
            "p50_ms": float(np.percentile(latency_ms, 50)),
            "p99_ms": float(np.percentile(latency_ms, 99)),
        }
    header = ("pipeline", "accuracy", "macro-F1", "train s", "p50 ms", "p99 ms")
    print("{:<30} {:>14} {:>9} {:>8} {:>7} {:>7}".format(*header))
    for name, r in results.items():
        print(
            f"{name:<30} {r['accuracy']:.4f} ±{r['accuracy_sd']:.4f} {r['macro_f1']:9.4f} "
            f"{r['train_s']:8.2f} {r['p50_ms']:7.2f} {r['p99_ms']:7.2f}"
        )
    ours, base = (results[name] for name in CANDIDATES)
    print(
        f"ours − baseline: accuracy {100 * (ours['accuracy'] - base['accuracy']):+.2f} points, "
        f"macro-F1 {100 * (ours['macro_f1'] - base['macro_f1']):+.2f} points; "
        f"training ×{ours['train_s'] / base['train_s']:.1f}, "
        f"latency p50 ×{ours['p50_ms'] / base['p50_ms']:.1f}"
    )


if __name__ == "__main__":
    main()
