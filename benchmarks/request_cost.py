"""CPU time of each kind of request, in-process: this checkout beside another, alternating.

What the paced round (`benchmarks/paced.py`) offers, one request at a time through Flask's
test client in one thread (no HTTP server, no client beside it, no queueing): a whole patient
submission (GET `/w/new`, POST it, the tracking page), the board's first page, a board search,
a wish's page and the dashboard, as a logged-in manager. Each request's CPU time
(`time.process_time`) and wall time are taken in a fresh process of each checkout — the app as
the server builds it (`create_serving_app`: router loaded, jieba loaded, `gc.freeze`) on a
fresh copy of a `benchmarks/load.py` fill — and the processes alternate (before, after,
before, after …), so a busy machine slows both sides alike. CPU time moves far less than wall
time on a shared machine.

    .venv/bin/python benchmarks/request_cost.py [--wishes 10000] [--before /tmp/wt-before]
        [--rounds 3] [--repeat 100] [--data-root /tmp/perf-data]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
PASSWORD = "bench mark pass 1"  # benchmarks/board.py's staff
KINDS = (
    "GET /w/new",
    "POST /w/new",
    "GET /t/<code>",
    "board first page",
    "board search",
    "wish page",
    "dashboard",
)


def child(repeat: int) -> None:
    """In the checkout's own interpreter, with WISHES_DATA_DIR set: print the figures as JSON."""
    import resource

    from wishes import create_serving_app

    app = create_serving_app()
    patient, staff = app.test_client(), app.test_client()
    page = staff.get("/login").get_data(as_text=True)
    form = {"csrf_token": CSRF.search(page).group(1), "username": "manager", "password": PASSWORD}
    assert staff.post("/login", data=form).status_code == 302
    samples: dict[str, list[tuple[float, float]]] = {kind: [] for kind in KINDS}

    def timed(kind: str, call):
        cpu, wall = time.process_time(), time.perf_counter()
        answer = call()
        samples[kind].append(
            ((time.process_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000)
        )
        return answer

    def submission(n: int) -> None:
        page = timed("GET /w/new", lambda: patient.get("/w/new")).get_data(as_text=True)
        form = {
            "csrf_token": CSRF.search(page).group(1),
            "text": f"病房的空调坏了，晚上很热，能不能派人来修一下 {n}",
            "reason": "",
            "department": "",
            "location": f"{n % 48 + 1} 床",
            "patient_name": "",
            "phone": "",
        }
        answer = timed("POST /w/new", lambda: patient.post("/w/new", data=form))
        assert answer.status_code == 302, answer.status_code
        path = urllib.parse.urlsplit(answer.headers["Location"]).path
        assert timed("GET /t/<code>", lambda: patient.get(path)).status_code == 200

    last = 0
    with app.app_context():
        from wishes.storage import get_db

        last = get_db().execute("SELECT max(id) FROM wishes").fetchone()[0]
    words = ("轮椅", "孩子", "泡泡机", "医保 报销")
    staff_pages = {
        "board first page": lambda n: "/board",
        "board search": lambda n: f"/board?branch=all&q={urllib.parse.quote(words[n % 4])}",
        "wish page": lambda n: f"/board/wishes/{(n * 7919) % last + 1}",
        "dashboard": lambda n: "/dashboard",
    }
    for n in range(repeat + 5):
        submission(n)
        for kind, url in staff_pages.items():
            answer = timed(kind, lambda url=url, n=n: staff.get(url(n)))
            assert answer.status_code == 200, (kind, answer.status_code)
        if n == 4:  # the first five of each are the warm-up
            samples = {kind: [] for kind in KINDS}
    out = {
        kind: {
            "cpu_ms": statistics.mean(cpu for cpu, _ in values),
            "wall_p50_ms": statistics.median(wall for _, wall in values),
        }
        for kind, values in samples.items()
    }
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def run(checkout: Path, data_dir: Path, run_dir: Path, repeat: int) -> dict:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from load import copy_data

    copy_data(data_dir, run_dir)
    env = {key: value for key, value in os.environ.items() if not key.startswith("WISHES_")}
    env.update(WISHES_DATA_DIR=str(run_dir), WISHES_RATE_LIMIT_FACTOR="0")
    python = checkout / ".venv" / "bin" / "python"
    done = subprocess.run(
        [str(python), __file__, "--child", "--repeat", str(repeat)],
        env=env,
        cwd=checkout,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wishes", type=int, default=10000)
    parser.add_argument("--before", type=Path, help="another checkout, with its own .venv")
    parser.add_argument("--data-root", type=Path, default=Path("/tmp/perf-data"))
    parser.add_argument("--rounds", type=int, default=3, help="processes per side")
    parser.add_argument("--repeat", type=int, default=100, help="requests of each kind")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.repeat)
        return
    data_dir = args.data_root / f"w{args.wishes}"
    if not (data_dir / "load-bench.json").exists():
        sys.exit(f"no fill at {data_dir}: run benchmarks/load.py --wishes {args.wishes} first")
    sides = {"after": ROOT}
    if args.before:
        sides = {"before": args.before.resolve(), **sides}
    results: dict[str, list[dict]] = {name: [] for name in sides}
    for n in range(args.rounds):
        for name, checkout in sides.items():
            results[name].append(run(checkout, data_dir, args.data_root / "cost-run", args.repeat))
            print(f"  round {n + 1}, {name}: load average {os.getloadavg()[0]:.2f}", flush=True)
    print(
        f"\n{args.wishes:,} wishes, {args.repeat} requests of each kind per process, "
        f"{args.rounds} processes per side; CPU ms per request (median of the processes' means)"
    )
    names = list(sides)
    header = f"  {'request':<18}" + "".join(f"{n + ' CPU':>12}{n + ' p50':>12}" for n in names)
    print(header + (f"{'CPU ratio':>11}" if len(names) == 2 else ""))
    medians: dict[str, dict[str, float]] = {name: {} for name in names}
    for kind in KINDS:
        line = f"  {kind:<18}"
        for name in names:
            cpu = statistics.median(r[kind]["cpu_ms"] for r in results[name])
            wall = statistics.median(r[kind]["wall_p50_ms"] for r in results[name])
            medians[name][kind] = cpu
            line += f"{cpu:>12.2f}{wall:>12.2f}"
        if len(names) == 2:
            line += f"{medians[names[1]][kind] / medians[names[0]][kind]:>10.2f}×"
        print(line)
    for name in names:
        rss = max(r["max_rss_mb"] for r in results[name])
        print(f"  {name}: largest process RSS {rss:.0f} MB (one process, router loaded)")
    (args.data_root / f"cost-result-w{args.wishes}.json").write_text(
        json.dumps(results, indent=2), encoding="utf-8"
    )


if __name__ == "__main__":
    main()
