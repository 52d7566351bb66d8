"""Where to set WISHES_ROUTER_THRESHOLD: the router's calibration curve on the held-out wishes.

Trains the bundled router exactly as `wishes train --no-db` does, then prints, on the held-out
file it never saw, (1) the reliability table — for each band of stated confidence, how often the
first choice was right — and (2) for each candidate threshold, the share of wishes that would go
straight to a branch, how many of those would be wrong, and how many would wait for triage.

    .venv/bin/python benchmarks/routing_threshold.py
"""

from __future__ import annotations

import numpy as np
import opencc

from wishes.routing import training


def main() -> None:
    corpus = training.read_examples(training.bundled_file(training.BUNDLED_CORPUS))
    heldout = training.read_examples(training.bundled_file(training.BUNDLED_HELDOUT))
    model = training.fit(corpus)
    top = training.predict_top(model, [t for t, _ in heldout], k=1)
    confidence = np.array([choices[0][1] for choices in top])
    right = np.array(
        [choices[0][0] == label for choices, (_, label) in zip(top, heldout, strict=True)]
    )
    print(f"held-out wishes: {len(heldout)}, top-1 accuracy {right.mean():.3f}")
    print("\nreliability (stated confidence → observed accuracy)")
    print(f"{'band':<12} {'wishes':>7} {'mean conf.':>11} {'accuracy':>9}")
    edges = [0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0001]
    for low, high in zip(edges, edges[1:], strict=False):
        band = (confidence >= low) & (confidence < high)
        if band.any():
            print(
                f"{low:.1f}–{min(high, 1):.1f}    {band.sum():7d} {confidence[band].mean():11.3f} "
                f"{right[band].mean():9.3f}"
            )
    simplified = [(t, label) for t, label in heldout if not training.is_traditional(t)]
    to_traditional = opencc.OpenCC("s2t")
    as_traditional = [(to_traditional.convert(t), label) for t, label in simplified]
    print(
        f"the {len(simplified)} Simplified held-out wishes: accuracy "
        f"{training.score(model, simplified).accuracy:.4f} as written, "
        f"{training.score(model, as_traditional).accuracy:.4f} converted to Traditional"
    )
    print("\nthreshold sweep")
    header = ("threshold", "routed", "routed acc.", "wrong branch", "to triage")
    print("{:<10} {:>7} {:>12} {:>13} {:>10}".format(*header))
    for threshold in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        routed = confidence >= threshold
        print(
            f"{threshold:<10.1f} {routed.mean():7.1%} {right[routed].mean():12.3f} "
            f"{(routed & ~right).sum():13d} {(~routed).sum():10d}"
        )


if __name__ == "__main__":
    main()
