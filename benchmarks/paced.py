"""A hospital's busiest hour, many times over: a paced round against the production server.

For --seconds, from this process, at a fixed pace whatever the answers' speed (an open loop:
a slow answer does not delay the next arrival):

- --submissions whole submissions a second (default 5), each what a patient's phone does:
  GET `/w/new`, POST it, follow the redirect to the tracking page that shows the new code;
- --views staff page views a second (default 20), logged in through the real login form, in
  turn: the board's first page (a member's own branch, then the whole hospital as a manager),
  a board search, a wish's page, the dashboard (default view).

It reports p50 / p95 / p99 / max of each kind of request and whether every p99 is within
100 ms; then, with one client, the pages of the size targets (board first page, search,
tracking page, dashboard: p50 and p95 of --repeat requests), and the RSS and PSS of each
process of the server.

The server is started exactly as the README's run command starts it (`wishes serve --demo`:
waitress, one process of 8 threads, the notification worker beside it) on a fresh copy of a fill
of `benchmarks/load.py` (kept under --data-root/w<N>, filled on first use), with
WISHES_RATE_LIMIT_FACTOR=0 (every client here is 127.0.0.1). Given --before, a second
checkout of the app with its own `.venv` (e.g. `git worktree add /tmp/wt-before <commit>`),
both are run side by side in the same run, alternating (before, after, before, after …,
--alternations times each), and the figures of each side are pooled.

    .venv/bin/python benchmarks/paced.py [--wishes 10000,1000000] [--before /tmp/wt-before]
        [--seconds 60] [--alternations 2] [--data-root /tmp/perf-data] [--port 8400]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sqlite3
import statistics
import sys
import time
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from board import CSRF, PASSWORD, p95, read_corpus
from load import (
    ROOT,
    Patient,
    Round,
    copy_data,
    cpu_seconds,
    filled,
    pages,
    percentile,
    process_memory,
    server,
    time_pages,
)

P99_TARGET_MS = 100.0
PAGE_TARGET_MS = 100.0  # board first page, search, tracking at 1M wishes
DASHBOARD_TARGET_MS = 500.0
RSS_TARGET_MB = 250.0
SEARCH_WORDS = ("轮椅", "孩子", "泡泡机", "医保 报销")
# The pages of the size targets, by their names in `load.pages`, with their targets.
SIZE_PAGES = {
    "tracking page /t/<code>": PAGE_TARGET_MS,
    "board p1, member (own branch)": PAGE_TARGET_MS,
    "board p1, manager (all)": PAGE_TARGET_MS,
    "search common 轮椅": PAGE_TARGET_MS,
    "search very common 孩子": PAGE_TARGET_MS,
    "search rare 泡泡机": PAGE_TARGET_MS,
    "search two words 医保 报销": PAGE_TARGET_MS,
    "search 孩子, member": PAGE_TARGET_MS,
    "dashboard default (12 weeks)": DASHBOARD_TARGET_MS,
    "dashboard a year by month": DASHBOARD_TARGET_MS,
}
STAFF_KINDS = ("board first page", "board search", "wish page", "dashboard")


class Staff:
    """One logged-in staff member's browser: its own cookie jar, many requests at once."""

    def __init__(self, base: str, username: str) -> None:
        self.username = username
        self.session = aiohttp.ClientSession(
            base,
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            timeout=aiohttp.ClientTimeout(total=60),
        )

    async def log_in(self) -> None:
        async with self.session.get("/login") as answer:
            page = await answer.text()
        form = {
            "csrf_token": CSRF.search(page).group(1),
            "username": self.username,
            "password": PASSWORD,
        }
        async with self.session.post("/login", data=form, allow_redirects=False) as answer:
            await answer.read()
        if answer.status != 302:
            raise RuntimeError(f"login {self.username}: {answer.status}")

    async def view(self, record: Round, kind: str, url: str) -> None:
        started = time.perf_counter()
        async with self.session.get(url, allow_redirects=False) as answer:
            await answer.read()
        if answer.status != 200:
            raise RuntimeError(f"GET {url}: {answer.status}")
        record.add(kind, (time.perf_counter() - started) * 1000)


def staff_url(kind: str, turn: int, last_wish: int, rng: random.Random) -> tuple[str, str]:
    """The user and URL of the `turn`-th view of `kind`."""
    if kind == "board first page":
        return ("member", "/board") if turn % 2 else ("manager", "/board")
    if kind == "board search":
        words = urllib.parse.quote(SEARCH_WORDS[turn % len(SEARCH_WORDS)])
        return "manager", f"/board?branch=all&q={words}"
    if kind == "wish page":
        return "manager", f"/board/wishes/{rng.randint(1, last_wish)}"
    return "manager", "/dashboard"


async def paced_round(
    base: str, seconds: float, submissions: float, views: float, last_wish: int
) -> Round:
    """Submissions and staff views started at a fixed pace for `seconds`; their latencies."""
    texts = [text for text, _label in read_corpus()]
    rng = random.Random(0)
    record, warm = Round("paced"), Round("warm")
    staff = {name: Staff(base, name) for name in ("manager", "member")}
    idle: list[Patient] = []
    patients: list[Patient] = []
    tasks: set[asyncio.Task] = set()

    def patient() -> Patient:
        if idle:
            return idle.pop()
        patients.append(Patient(base, texts, random.Random(len(patients))))
        return patients[-1]

    async def submit(one: Patient, into: Round) -> None:
        try:
            await one.submit(into)
        except (RuntimeError, aiohttp.ClientError, TimeoutError):
            into.errors += 1
        else:
            into.done += 1
        idle.append(one)

    async def view(kind: str, turn: int, into: Round) -> None:
        user, url = staff_url(kind, turn, last_wish, rng)
        try:
            await staff[user].view(into, kind, url)
        except (RuntimeError, aiohttp.ClientError, TimeoutError):
            into.errors += 1
        else:
            into.done += 1

    async def every(interval: float, start: float, launch) -> None:
        n = 0
        while (due := start + n * interval) < start + seconds:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            task = asyncio.create_task(launch(n))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1

    try:
        for one in staff.values():
            await one.log_in()
        for turn, kind in enumerate(STAFF_KINDS * 2):  # untimed: every page once per user
            await view(kind, turn, warm)
        for _ in range(3):
            await submit(patient(), warm)
        start = time.monotonic() + 0.1
        started = time.perf_counter()
        await asyncio.gather(
            every(1 / submissions, start, lambda n: submit(patient(), record)),
            every(
                1 / views,
                start + 0.5 / views,
                lambda n: view(STAFF_KINDS[n % len(STAFF_KINDS)], n // len(STAFF_KINDS), record),
            ),
        )
        while tasks:
            await asyncio.gather(*list(tasks))
        record.seconds = time.perf_counter() - started
    finally:
        for one in (*staff.values(), *patients):
            await one.session.close()
    if warm.errors:
        raise RuntimeError(f"{warm.errors} warm-up requests failed")
    return record


def last_wish_id(db_path: Path) -> int:
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        return conn.execute("SELECT max(id) FROM wishes").fetchone()[0]


def run_side(args: argparse.Namespace, checkout: Path, data_dir: Path, report: dict) -> dict:
    run_dir = args.data_root / "paced-run"
    copy_data(data_dir, run_dir)
    last = last_wish_id(run_dir / "wishes.db")
    now = datetime.fromisoformat(report["now"])
    load = [os.getloadavg()[0]]
    with server(run_dir, args.port, args.data_root / "paced-server.log", checkout) as (
        base,
        master,
    ):
        cpu = cpu_seconds(master)
        record = asyncio.run(paced_round(base, args.seconds, args.submissions, args.views, last))
        cpu = cpu_seconds(master) - cpu
        load.append(os.getloadavg()[0])
        chosen = [page for page in pages(run_dir / "wishes.db", now) if page.name in SIZE_PAGES]
        one_client = time_pages(base, chosen, args.repeat)
        memory = process_memory(master)
    return {
        "checkout": str(checkout),
        "seconds": record.seconds,
        "done": record.done,
        "errors": record.errors,
        "server_cpu_s": cpu,
        "latency": record.latency,
        "pages": one_client,
        "memory": memory,
        "load": load,
    }


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "n": len(samples),
        "p50": statistics.median(samples),
        "p95": p95(samples),
        "p99": percentile(samples, 0.99),
        "max": max(samples),
    }


def pooled(runs: list[dict]) -> dict:
    latency: dict[str, list[float]] = {}
    for run in runs:
        for name, samples in run["latency"].items():
            latency.setdefault(name, []).extend(samples)
    page_names = runs[0]["pages"]
    workers = [m["rss"] for run in runs for n, m in run["memory"].items() if n.startswith("worker")]
    return {
        "runs": len(runs),
        "errors": sum(run["errors"] for run in runs),
        "requests": sum(len(s) for s in latency.values()) - len(latency.get("submission", [])),
        "server_cpu_ms_per_request": 1000
        * sum(run["server_cpu_s"] for run in runs)
        / max(1, sum(len(s) for n, s in latency.items() if n != "submission")),
        "latency": {name: summary(samples) for name, samples in latency.items()},
        "pages": {
            name: {
                "p50": statistics.median(run["pages"][name]["p50"] for run in runs),
                "p95": statistics.median(run["pages"][name]["p95"] for run in runs),
            }
            for name in page_names
        },
        "worker_rss_mb": max(workers),
        "worker_pss_mb": max(
            m["pss"] for run in runs for n, m in run["memory"].items() if n.startswith("worker")
        ),
    }


def print_size(result: dict) -> None:
    sides = result["sides"]
    names = list(sides)
    print(
        f"\n{result['wishes']:,} wishes: {result['submissions']:g} submissions/s and "
        f"{result['views']:g} staff views/s for {result['seconds']:g} s, "
        f"{result['alternations']} round(s) per side, alternating"
    )
    kinds = [k for k in ("GET /w/new", "POST /w/new", "GET /t/<code>", *STAFF_KINDS)]
    kinds.append("submission")
    header = f"  {'latency ms (p50 / p95 / p99 / max)':<34}" + "".join(
        f"{name:>32}" for name in names
    )
    if len(names) == 2:
        header += f"{'p99 ratio':>11}"
    print(header)
    for kind in kinds:
        cells = []
        for name in names:
            f = sides[name]["latency"].get(kind)
            cells.append(
                f"{f['p50']:>7.1f} {f['p95']:>7.1f} {f['p99']:>7.1f} {f['max']:>7.1f}"
                if f
                else f"{'—':>31}"
            )
        line = f"  {kind:<34}" + "".join(f"{c:>32}" for c in cells)
        if len(names) == 2 and all(kind in sides[n]["latency"] for n in names):
            before, after = (sides[n]["latency"][kind]["p99"] for n in names)
            line += f"{after / before:>10.2f}×"
        print(line)
    for name in names:
        side = sides[name]
        worst = max(f["p99"] for k, f in side["latency"].items() if k != "submission")
        verdict = "met" if worst <= P99_TARGET_MS and not side["errors"] else "NOT MET"
        print(
            f"  {name}: {side['requests']:,} requests, {side['errors']} errors, server CPU "
            f"{side['server_cpu_ms_per_request']:.2f} ms a request; every p99 ≤ "
            f"{P99_TARGET_MS:.0f} ms (worst {worst:.1f}): {verdict}"
        )
    print(f"\n  {'one client, p50 / p95 ms':<34}" + "".join(f"{n:>20}" for n in names) + "  target")
    for page, target in SIZE_PAGES.items():
        cells = []
        for name in names:
            f = sides[name]["pages"].get(page)
            cells.append(f"{f['p50']:>8.1f} / {f['p95']:>6.1f}" if f else "—")
        last = sides[names[-1]]["pages"].get(page)
        verdict = "met" if last and last["p95"] <= target else "NOT MET"
        print(f"  {page:<34}" + "".join(f"{c:>20}" for c in cells) + f"  {target:>5.0f} {verdict}")
    print(
        "  worker RSS / PSS MB (largest)"
        + "".join(
            f"{sides[n]['worker_rss_mb']:>14.0f} / {sides[n]['worker_pss_mb']:>3.0f}" for n in names
        )
        + f"  {RSS_TARGET_MB:.0f} RSS"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wishes", default="10000", help="sizes, comma-separated")
    parser.add_argument("--before", type=Path, help="another checkout, with its own .venv")
    parser.add_argument("--data-root", type=Path, default=Path("/tmp/perf-data"))
    parser.add_argument("--port", type=int, default=8400)
    parser.add_argument("--seconds", type=float, default=60, help="seconds per paced round")
    parser.add_argument("--submissions", type=float, default=5, help="whole submissions a second")
    parser.add_argument("--views", type=float, default=20, help="staff page views a second")
    parser.add_argument("--alternations", type=int, default=2, help="rounds per side")
    parser.add_argument("--repeat", type=int, default=20, help="requests per page, one client")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--table", action="store_true", help="print the saved figures only")
    args = parser.parse_args()
    sizes = [int(n) for n in args.wishes.split(",")]
    args.data_root.mkdir(parents=True, exist_ok=True)
    sides = {"after (this checkout)": ROOT}
    if args.before:
        sides = {f"before ({args.before.name})": args.before.resolve(), **sides}
    print(
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, "
        f"aiohttp {aiohttp.__version__}; load average {os.getloadavg()[0]:.2f}"
    )
    for n in sizes:
        saved = args.data_root / f"paced-result-w{n}.json"
        if args.table:
            if saved.exists():
                print_size(json.loads(saved.read_text(encoding="utf-8")))
            continue
        data_dir, report = filled(args.data_root, n, args.seed)
        runs: dict[str, list[dict]] = {name: [] for name in sides}
        for alternation in range(args.alternations):
            for name, checkout in sides.items():
                run = run_side(args, checkout, data_dir, report)
                runs[name].append(run)
                worst = max(
                    percentile(s, 0.99) for k, s in run["latency"].items() if k != "submission"
                )
                print(
                    f"  {n:,} wishes, {name}, round {alternation + 1}: {run['done']} done, "
                    f"{run['errors']} errors, worst p99 {worst:.1f} ms, load average "
                    f"{run['load'][0]:.2f} → {run['load'][1]:.2f}",
                    flush=True,
                )
        result = {
            "wishes": n,
            "seconds": args.seconds,
            "submissions": args.submissions,
            "views": args.views,
            "alternations": args.alternations,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "sqlite": sqlite3.sqlite_version,
            "sides": {name: pooled(its_runs) for name, its_runs in runs.items()},
            "runs": {
                name: [{k: v for k, v in run.items() if k != "latency"} for run in its_runs]
                for name, its_runs in runs.items()
            },
        }
        saved.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
        print_size(result)


if __name__ == "__main__":
    main()
