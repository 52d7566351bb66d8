"""Router speed and size: in-process routing latency, training time at 10,000 wishes, and the
resident memory of an app process with the model loaded — each beside a baseline in the same run.

    .venv/bin/python benchmarks/routing_speed.py

Baselines: latency of the plain character n-gram SVM on the same wishes; training time of that
baseline on the same 10,000 rows; memory of the same app process before the model is loaded.
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from wishes.routing import Router, pipeline, training

APP_PROBE = """
import sys
from pathlib import Path
from wishes import create_app
app = create_app({"WISHES_DATA_DIR": sys.argv[1], "WISHES_MODELS_DIR": sys.argv[2]})
client = app.test_client()
client.get("/w/new")
router = app.extensions["wishes.router"]
if router.model is not None:
    for text in ["想借吹风机", "报告什么时候出", "想给孩子过生日"] * 20:
        router.route(text)
for line in Path("/proc/self/status").read_text().splitlines():
    if line.startswith("VmRSS:"):
        print(int(line.split()[1]) / 1024)
"""


def app_rss_mb(folder: str, models: Path) -> float:
    """Resident memory of a fresh process that built the app (as `wishes serve` does)."""
    data = Path(folder) / f"data-{models.name}"
    output = subprocess.run(
        [sys.executable, "-c", APP_PROBE, str(data), str(models)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(output.strip().splitlines()[-1])


def percentiles(samples: list[float]) -> str:
    return f"p50 {np.percentile(samples, 50):.2f} ms, p99 {np.percentile(samples, 99):.2f} ms"


def main() -> None:
    corpus = training.read_examples(training.bundled_file(training.BUNDLED_CORPUS))
    heldout = training.read_examples(training.bundled_file(training.BUNDLED_HELDOUT))
    texts = [t for t, _ in heldout]

    # Memory first, in a fresh process state: the app's process before and after the model.
    from wishes import create_app

    with tempfile.TemporaryDirectory() as folder:
        models = Path(folder) / "models"
        training.train(models, {"bundled": corpus}, heldout)
        app = create_app(
            {"WISHES_DATA_DIR": str(Path(folder) / "data"), "WISHES_MODELS_DIR": str(models)}
        )
        router: Router = app.extensions["wishes.router"]
        for text in texts[:200]:
            router.route(text)
        with_model = app_rss_mb(folder, models)
        without_model = app_rss_mb(folder, Path(folder) / "no-models")
        print(
            f"resident memory of an app process: {with_model:.0f} MB with the router loaded, "
            f"{without_model:.0f} MB without a model "
            f"(the model costs {with_model - without_model:.0f} MB)"
        )

        # Latency after warm-up: the full route (top-3 + tags) and the bare pipeline.
        routed, bare = [], []
        for text in texts:
            started = time.perf_counter()
            router.route(text)
            routed.append((time.perf_counter() - started) * 1000)
        model = router.model.pipeline
        for text in texts:
            started = time.perf_counter()
            model.predict_proba([text])
            bare.append((time.perf_counter() - started) * 1000)
    baseline = pipeline.build("chars-svm-baseline").fit(
        [t for t, _ in corpus], [label for _, label in corpus]
    )
    base = []
    for text in texts:
        started = time.perf_counter()
        baseline.predict([text])
        base.append((time.perf_counter() - started) * 1000)
    print(f"route one wish (top-3 + tags): {percentiles(routed)}")
    print(f"  pipeline alone:              {percentiles(bare)}")
    ratio = np.median(routed) / np.median(base)
    print(f"  baseline char SVM:           {percentiles(base)}  (ours ×{ratio:.1f})")

    # Training at 10,000 wishes: the corpus resampled with small edits, so rows differ.
    rng = random.Random(0)
    big = []
    while len(big) < 10_000:
        text, label = rng.choice(corpus)
        cut = rng.randrange(len(text))
        big.append((text[:cut] + rng.choice("，。啊呀吧 ") + text[cut:], label))
    started = time.perf_counter()
    training.fit(big)
    ours_s = time.perf_counter() - started
    started = time.perf_counter()
    pipeline.build("chars-svm-baseline").fit([t for t, _ in big], [label for _, label in big])
    base_s = time.perf_counter() - started
    print(
        f"training on {len(big)} wishes: {ours_s:.1f} s "
        f"(baseline {base_s:.1f} s, ×{ours_s / base_s:.1f})"
    )


if __name__ == "__main__":
    main()
