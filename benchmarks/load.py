"""Load and scale: the production server under 20 concurrent clients, at 10k, 100k and 1M wishes.

For each size, a data dir filled once (kept under --data-root and reused: N wishes made as
benchmarks/dashboard.py makes them, with N questionnaire responses beside them, the schema's
own triggers filling the search index and the tallies) is copied to a scratch dir, and the
server is started exactly as the README's run command starts it: `.venv/bin/wishes serve
--demo` (waitress, one process of 8 threads, the notification worker beside
it), with WISHES_BIND on --port, WISHES_DATA_DIR the copy, and WISHES_RATE_LIMIT_FACTOR=0:
every client of this benchmark comes from 127.0.0.1, and the per-address limit (20 wishes in
10 minutes) would otherwise refuse all but the first 20 wishes. Then, from this process,
which the server shares nothing with but the two cores:

1. throughput: --clients concurrent clients (asyncio + aiohttp, one cookie jar each, like 20
   phones) in alternating rounds of --seconds: the bare route `/ping` (no database); wishes
   posted (each client opens the form once, then posts wishes back to back, each with the
   form's session cookie, as 20 patients' phones would); whole submissions; and again. One
   *whole submission* is what a patient's phone does: GET `/w/new` (the form, its CSRF token
   in the session cookie), POST it (the wish is validated, routed by jieba + scikit-learn,
   stored with its events and its notification in one transaction, fsynced), and follow the
   redirect to the tracking page that shows the code (a read of the new wish). Reported:
   wishes posted and whole submissions per second, their ratio to /ping's requests per
   second, the server's CPU time per request, and p50/p99 latency of each request;
2. pages, one client after the throughput rounds: the board (first page, filters, the last
   page), its search, a wish's tracking page, the dashboard (default view and a year by
   month), `/healthz` and `/ping`: p50 and p95 of --repeat requests, logged in through the
   real login form;
3. memory: resident (RSS) and proportional (PSS, shared pages split between the processes
   that share them) memory of the server process and the notification worker,
   read from /proc after the rounds above (the router is loaded and has routed thousands of
   wishes).

Each size's figures are written as JSON beside its data dir; given several sizes, the run ends
with the cost-growth table (each figure at each size, and its growth from the smallest size).

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/load.py [--wishes 10000,100000,1000000]
        [--data-root /tmp/perf-data] [--port 8400] [--clients 20] [--seconds 15] [--repeat 20]
    .venv/bin/python benchmarks/load.py --table [--data-root /tmp/perf-data]  # table only
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiohttp
from board import (
    CSRF,
    Cutter,
    HttpSession,
    board_cases,
    p95,
    read_corpus,
    wait_until_up,
)
from dashboard import (
    CHUNK,
    VOCABULARY,
    ResponseMaker,
    TaggedWishMaker,
    bulk_connection,
    fill_responses,
    insert_dicts,
    prepare_hospital,
    tag_vocabulary,
)

from wishes import search
from wishes.clock import local_day
from wishes.deadlines import Deadlines
from wishes.notifications.store import settle_backlog
from wishes.notifications.worker import queue_overdue
from wishes.storage import TIMESTAMP_FORMAT, connect

ROOT = Path(__file__).resolve().parents[1]
MARKER = "load-bench.json"  # in each filled data dir: what was filled
RESULT = "load-result.json"  # beside it: the last run's figures
YEARS = 2
# Targets of issue 16 (the paced round's p99 is benchmarks/paced.py's); the saturating rounds
# below have none: they show the server's ceiling.
PAGE_TARGET_MS = 100.0  # board first page, search and tracking at 1M wishes
DASHBOARD_TARGET_MS = 500.0
RSS_TARGET_MB = 250.0
# The rounds, alternating: the bare route, wishes posted, whole submissions (form, post, code).
KINDS = ("ping", "post", "submit")


# ---- filling ------------------------------------------------------------------------------


def fill(data_dir: Path, wishes: int, responses: int, seed: int) -> dict:
    """A data dir with `wishes` wishes and `responses` responses over two years, in chunks."""
    data_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).replace(microsecond=0)
    started = time.perf_counter()
    db_path = data_dir / "wishes.db"
    hospital = prepare_hospital(db_path, migrate=True)
    staff, departments, branches = hospital.staff, hospital.departments, hospital.branches
    questionnaire_id, version_id = hospital.questionnaire_id, hospital.version_id

    cutter = Cutter()
    search.cut("预热")
    maker = TaggedWishMaker(
        random.Random(seed),
        now,
        staff,
        [d["code"] for d in departments],
        branches,
        cutter,
        years=YEARS,
        vocabulary=tag_vocabulary(VOCABULARY),
    )
    conn = bulk_connection(db_path)
    build = insert = 0.0
    events = 0
    try:
        for first in range(1, wishes + 1, CHUNK):
            t0 = time.perf_counter()
            rows, its_events, moves = [], [], []
            for wish_id in range(first, min(first + CHUNK, wishes + 1)):
                row, made = maker.make(wish_id)
                if row["claimed_at"] or row["fulfilled_at"]:
                    moves.append((row["claimed_at"], row["fulfilled_at"], wish_id))
                rows.append(row | {"claimed_at": None, "fulfilled_at": None})
                its_events.extend(made)
            t1 = time.perf_counter()
            conn.execute("BEGIN")  # the FTS, tag-tally and wait triggers fire as in the app
            insert_dicts(conn, "wishes", rows)
            conn.executemany(
                "UPDATE wishes SET claimed_at = ?, fulfilled_at = ? WHERE id = ?", moves
            )
            insert_dicts(conn, "wish_events", its_events)
            conn.execute("COMMIT")
            build += t1 - t0
            insert += time.perf_counter() - t1
            events += len(its_events)
            print(f"  wishes {min(first + CHUNK - 1, wishes):,}/{wishes:,}", flush=True)
        response_maker = ResponseMaker(
            random.Random(seed + 1), questionnaire_id, version_id, departments
        )
        answered = fill_responses(conn, responses, response_maker, now, YEARS)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    # The overdue wishes of two years are reminded of already: the notification worker of the
    # server under test must not spend the benchmark queueing and logging 10,000 reminders.
    db = connect(db_path)
    try:
        queued = queue_overdue(db, Deadlines(), now)
        settle_backlog(db, now.strftime(TIMESTAMP_FORMAT))
        db.conn.commit()
    finally:
        db.close()
    report = {
        "wishes": wishes,
        "events": events,
        "responses": responses,
        "answers": answered["answers"],
        "overdue_settled": queued,
        "now": now.isoformat(),
        "seed": seed,
        "wishes_build_s": round(build, 1),
        "wishes_insert_s": round(insert, 1),
        "responses_insert_s": round(answered["responses_insert_s"], 1),
        "total_s": round(time.perf_counter() - started, 1),
    }
    (data_dir / MARKER).write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report


def filled(data_root: Path, wishes: int, seed: int) -> tuple[Path, dict]:
    data_dir = data_root / f"w{wishes}"
    marker = data_dir / MARKER
    if marker.exists():
        report = json.loads(marker.read_text(encoding="utf-8"))
        print(f"reusing {data_dir} (filled {report['now'][:16]} UTC in {report['total_s']} s)")
        return data_dir, report
    if data_dir.exists():
        shutil.rmtree(data_dir)  # a fill that did not finish
    print(f"filling {data_dir}: {wishes:,} wishes and {wishes:,} responses over {YEARS} years")
    report = fill(data_dir, wishes, wishes, seed)
    print(
        f"filled in {report['total_s']} s: wishes built {report['wishes_build_s']} s, inserted "
        f"{report['wishes_insert_s']} s; responses inserted {report['responses_insert_s']} s"
    )
    return data_dir, report


def copy_data(source: Path, target: Path) -> None:
    """A fresh copy for each run: the submissions below must not grow the kept fill."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in ("wishes.db", "secret_key"):
        if (source / name).exists():
            shutil.copy2(source / name, target / name)
    with contextlib.closing(sqlite3.connect(target / "wishes.db")) as conn:
        conn.execute("PRAGMA journal_mode=WAL")


# ---- the server ---------------------------------------------------------------------------


@contextlib.contextmanager
def server(
    data_dir: Path, port: int, log: Path, checkout: Path = ROOT
) -> Iterator[tuple[str, int]]:
    """`wishes serve --demo` as the README runs it, from `checkout` with its own `.venv` (this
    one by default); yields its address and its pid."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("WISHES_")}
    env.update(
        WISHES_BIND=f"127.0.0.1:{port}",
        WISHES_DATA_DIR=str(data_dir),
        WISHES_RATE_LIMIT_FACTOR="0",
    )
    wishes = Path(sys.executable).with_name("wishes")
    if checkout != ROOT:
        wishes = checkout / ".venv" / "bin" / "wishes"
    command = [str(wishes), "serve", "--demo"]
    with log.open("wb") as output:
        # Its own session, so that stopping it stops the notification worker too.
        process = subprocess.Popen(
            command, env=env, cwd=checkout, stdout=output, stderr=output, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(process, base + "/ping", log, 300)
        yield base, process.pid  # `wishes serve` serves in its own process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(child) for child in text)
    return found


def memory(pid: int) -> dict[str, float]:
    """RSS and PSS of one process, in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty"):
            values[name.lower()] = int(rest.split()[0]) / 1024
    return values


def process_memory(master: int) -> dict[str, dict[str, float]]:
    out = {"master": memory(master)}
    workers = 0
    for child in children(master):
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        if "wishes.notifications" in cmdline:
            out["notifier"] = memory(child)
        else:
            workers += 1
            out[f"worker {workers}"] = memory(child)
    if not workers:  # one process serves the requests itself (waitress)
        out["worker 1"] = out.pop("master")
    return out


# ---- the clients --------------------------------------------------------------------------


@dataclass
class Round:
    kind: str  # "ping", "post" or "submit"
    seconds: float = 0.0
    done: int = 0  # pings or whole submissions
    errors: int = 0
    latency: dict[str, list[float]] = field(default_factory=dict)  # ms, per request kind

    def add(self, name: str, ms: float) -> None:
        self.latency.setdefault(name, []).append(ms)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


class Patient:
    """One phone: its own cookie jar (the CSRF token lives in the session cookie)."""

    def __init__(self, base: str, texts: list[str], rng: random.Random) -> None:
        jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1, an IP address
        self.session = aiohttp.ClientSession(
            base, cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=60)
        )
        self.texts, self.rng = texts, rng
        self.token = self.cookie = ""

    async def close(self) -> None:
        await self.session.close()

    async def ping(self, record: Round) -> None:
        started = time.perf_counter()
        async with self.session.get("/ping") as answer:
            body = await answer.read()
        if answer.status != 200 or body != b"ok":
            raise RuntimeError(f"/ping: {answer.status}")
        record.add("ping", (time.perf_counter() - started) * 1000)

    async def open_form(self) -> None:
        """The form once, as a phone opens it from the QR code: its token and session cookie."""
        async with self.session.get("/w/new") as answer:
            page = await answer.text()
        if answer.status != 200:
            raise RuntimeError(f"GET /w/new: {answer.status}")
        self.token = CSRF.search(page).group(1)
        self.cookie = answer.cookies["session"].value
        self.session.cookie_jar.clear()

    async def post(self, record: Round) -> None:
        """One wish posted from the opened form. The session cookie sent is always the form's
        (a new patient's phone), never the one the answer sets, whose flash message the
        tracking page would show and clear."""
        started = time.perf_counter()
        form = {
            "csrf_token": self.token,
            "text": self.rng.choice(self.texts),
            "department": "",
            "location": f"{self.rng.randint(1, 48)} 床",
        }
        async with self.session.post(
            "/w/new", data=form, allow_redirects=False, headers={"Cookie": f"session={self.cookie}"}
        ) as answer:
            await answer.read()
        if answer.status != 302 or "/t/" not in answer.headers.get("Location", ""):
            raise RuntimeError(f"POST /w/new: {answer.status}")
        self.session.cookie_jar.clear()
        record.add("POST /w/new", (time.perf_counter() - started) * 1000)

    async def submit(self, record: Round) -> None:
        t0 = time.perf_counter()
        async with self.session.get("/w/new") as answer:
            page = await answer.text()
        if answer.status != 200:
            raise RuntimeError(f"GET /w/new: {answer.status}")
        t1 = time.perf_counter()
        form = {
            "csrf_token": CSRF.search(page).group(1),
            "text": self.rng.choice(self.texts),
            "reason": "",
            "department": "",
            "location": f"{self.rng.randint(1, 48)} 床",
            "patient_name": "",
            "phone": "",
        }
        async with self.session.post("/w/new", data=form, allow_redirects=False) as answer:
            await answer.read()
        if answer.status != 302 or "/t/" not in answer.headers.get("Location", ""):
            raise RuntimeError(f"POST /w/new: {answer.status}")
        t2 = time.perf_counter()
        location = answer.headers["Location"]
        code = location.rsplit("/", 1)[1]
        async with self.session.get(urllib.parse.urlsplit(location).path) as answer:
            page = await answer.text()
        if answer.status != 200 or " ".join(code) not in page:  # the code, read aloud
            raise RuntimeError(f"GET {location}: {answer.status}")
        t3 = time.perf_counter()
        record.add("GET /w/new", (t1 - t0) * 1000)
        record.add("POST /w/new", (t2 - t1) * 1000)
        record.add("GET /t/<code>", (t3 - t2) * 1000)
        record.add("submission", (t3 - t0) * 1000)


async def drive(
    base: str, kind: str, clients: int, seconds: float, texts: list[str], every: float = 0.0
) -> Round:
    """`clients` patients doing `kind` for `seconds` (after a short warm-up): back to back, or
    each starting one every `every` seconds (spread evenly, like people who read and type)."""
    record = Round(kind)
    patients = [Patient(base, texts, random.Random(i)) for i in range(clients)]
    warm = Round(kind)
    stop_at = 0.0
    started = time.perf_counter()

    async def loop(number: int, patient: Patient) -> None:
        next_start = time.monotonic() + every * number / clients
        while time.monotonic() < stop_at:
            if every:
                await asyncio.sleep(max(0.0, next_start - time.monotonic()))
                next_start += every
            try:
                await getattr(patient, kind)(record)
                record.done += 1
            except (RuntimeError, aiohttp.ClientError, TimeoutError):
                record.errors += 1

    try:
        for patient in patients:  # every client has a session cookie before the clock starts
            if kind == "post":
                await patient.open_form()
            await getattr(patient, kind)(warm)
        stop_at = time.monotonic() + seconds
        started = time.perf_counter()
        await asyncio.gather(*(loop(n, patient) for n, patient in enumerate(patients)))
    finally:
        record.seconds = time.perf_counter() - started
        for patient in patients:
            await patient.close()
    return record


def cpu_seconds(master: int) -> float:
    """CPU time (user + system) used so far by the server and the notifier."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in (master, *children(master)):
        with contextlib.suppress(FileNotFoundError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def throughput(base: str, master: int, clients: int, seconds: float, rounds: int) -> dict:
    texts = [text for text, _label in read_corpus()]
    done: dict[str, list[Round]] = {kind: [] for kind in KINDS}
    cpu: dict[str, float] = dict.fromkeys(KINDS, 0.0)
    for _ in range(rounds):
        for kind in KINDS:
            before = cpu_seconds(master)
            done[kind].append(asyncio.run(drive(base, kind, clients, seconds, texts)))
            # The warm-up requests are in this CPU time too: a few per client, under 1%.
            cpu[kind] += cpu_seconds(master) - before
            print(
                f"  {kind:<6} {done[kind][-1].done / done[kind][-1].seconds:8.1f}/s "
                f"({done[kind][-1].errors} errors)",
                flush=True,
            )
    # The same 20 patients, each starting a submission once a second: a busy Monday morning
    # many times over, well below what the server can take: the latency of the pages alone.
    paced = asyncio.run(drive(base, "submit", clients, seconds, texts, every=1.0))
    print(f"  paced  {paced.done / paced.seconds:8.1f}/s ({paced.errors} errors)", flush=True)
    done["paced"] = [paced]
    cpu["paced"] = 0.0
    out = {}
    for kind, rounds_of in done.items():
        total = sum(r.done for r in rounds_of)
        secs = sum(r.seconds for r in rounds_of)
        latency: dict[str, list[float]] = {}
        for r in rounds_of:
            for name, samples in r.latency.items():
                latency.setdefault(name, []).extend(samples)
        out[kind] = {
            "per_second": total / secs,
            "server_cpu_ms": 1000 * cpu[kind] / (total + clients),  # per ping or submission
            "count": total,
            "errors": sum(r.errors for r in rounds_of),
            "seconds": secs,
            "latency": {
                name: {
                    "p50": statistics.median(samples),
                    "p99": percentile(samples, 0.99),
                    "max": max(samples),
                }
                for name, samples in latency.items()
            },
        }
    return out


# ---- pages --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    name: str
    user: str | None
    url: str
    target: float | None = None


def pages(db_path: Path, now: datetime) -> list[Page]:
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        n = conn.execute("SELECT max(id) FROM wishes").fetchone()[0]
        code = conn.execute("SELECT tracking_code FROM wishes WHERE id = ?", [n // 2 + 1])
        code = code.fetchone()[0]
    board = {case.name: case for case in board_cases(-(-n // 25), code)}
    last_day = date.fromisoformat(local_day(now.strftime(TIMESTAMP_FORMAT)))
    year = f"first={(last_day - timedelta(days=364)).isoformat()}&last={last_day.isoformat()}"
    chosen = [
        Page("/ping (bare)", None, "/ping"),
        Page("/healthz", None, "/healthz"),
        Page("tracking page /t/<code>", None, f"/t/{code}", PAGE_TARGET_MS),
    ]
    for name in (
        "board p1, member (own branch)",
        "board p1, manager (all)",
        "board state=open (all)",
        "board overdue (all)",
        "board my claims, member",
        "search common 轮椅",
        "search very common 孩子",
        "search rare 泡泡机",
        "search two words 医保 报销",
        "search 孩子, member",
    ):
        case = board[name]
        target = PAGE_TARGET_MS if name.startswith(("board p1", "search")) else None
        chosen.append(Page(name, case.user, case.url, target))
    last = next(case for name, case in board.items() if name.startswith("last page"))
    chosen.append(Page("board last page (all)", last.user, last.url))
    chosen += [
        Page("dashboard default (12 weeks)", "manager", "/dashboard", DASHBOARD_TARGET_MS),
        Page(
            "dashboard a year by month",
            "manager",
            f"/dashboard?period=month&{year}",
            DASHBOARD_TARGET_MS,
        ),
    ]
    return chosen


def time_pages(base: str, chosen: list[Page], repeat: int) -> dict:
    sessions = {user: HttpSession(base, user) for user in {p.user for p in chosen}}
    out = {}
    for page in chosen:
        session = sessions[page.user]
        for _ in range(2):
            session.get(page.url)
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            session.get(page.url)
            samples.append((time.perf_counter() - started) * 1000)
        out[page.name] = {
            "p50": statistics.median(samples),
            "p95": p95(samples),
            "target": page.target,
        }
    return out


# ---- one size -----------------------------------------------------------------------------


def run_size(args: argparse.Namespace, wishes: int) -> dict:
    data_dir, report = filled(args.data_root, wishes, args.seed)
    run_dir = args.data_root / "run"
    copy_data(data_dir, run_dir)
    load = {"start": os.getloadavg()}
    result: dict = {"wishes": wishes, "fill": report, "clients": args.clients}
    now = datetime.fromisoformat(report["now"])
    with server(run_dir, args.port, args.data_root / "server.log") as (base, master):
        print(f"server up at {base} (pid {master}); throughput rounds:", flush=True)
        result["throughput"] = throughput(base, master, args.clients, args.seconds, args.rounds)
        load["after throughput"] = os.getloadavg()
        result["memory"] = process_memory(master)
        result["pages"] = time_pages(base, pages(run_dir / "wishes.db", now), args.repeat)
        load["after pages"] = os.getloadavg()
        result["memory_after_pages"] = process_memory(master)
    result["load"] = load
    result["cpus"] = os.cpu_count()
    result["sqlite"] = sqlite3.sqlite_version
    result["at"] = datetime.now(UTC).isoformat(timespec="seconds")
    (data_dir.parent / f"{RESULT[:-5]}-w{wishes}.json").write_text(
        json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    return result


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def print_size(result: dict) -> None:
    t = result["throughput"]
    ping, submit = t["ping"], t["submit"]
    post = t.get("post")  # runs before this round existed have none
    print(f"\n{result['wishes']:,} wishes, {result['clients']} concurrent clients")
    print(f"  /ping: {ping['per_second']:,.0f} requests/s ({ping['errors']} errors)")
    if post:
        share = post["per_second"] / ping["per_second"]
        print(
            f"  wishes posted: {post['per_second']:,.1f}/s ({post['errors']} errors) = {share:.1%} "
            "of /ping"
        )
    print(
        f"  whole submissions (form, post, code): {submit['per_second']:,.1f}/s "
        f"({submit['errors']} errors) = {submit['per_second'] / ping['per_second']:.1%} of /ping; "
        f"their requests: {3 * submit['per_second'] / ping['per_second']:.1%}"
    )
    cpu = [f"{ping['server_cpu_ms']:.2f} ms per /ping"]
    if post:
        cpu.append(f"{post['server_cpu_ms']:.2f} ms per wish posted")
    cpu.append(f"{submit['server_cpu_ms']:.2f} ms per whole submission")
    print("  server CPU: " + ", ".join(cpu))
    print(f"  {'latency ms':<20} {'p50':>8} {'p99':>8} {'max':>8}")
    for kind in KINDS:
        for name, figures in t.get(kind, {}).get("latency", {}).items():
            label = f"{name} (posts)" if kind == "post" else name
            p50, p99, most = figures["p50"], figures["p99"], figures["max"]
            print(f"  {label:<20} {p50:>8.1f} {p99:>8.1f} {most:>8.1f}")
    paced = t["paced"]
    print(
        f"  paced, each client one submission a second ({paced['per_second']:.1f}/s): "
        + ", ".join(
            f"{name} p50 {f['p50']:.1f} p99 {f['p99']:.1f}" for name, f in paced["latency"].items()
        )
        + " ms"
    )
    worst = max(
        figures["p99"]
        for kind in ("post", "submit")
        for name, figures in t.get(kind, {}).get("latency", {}).items()
        if name != "submission"
    )
    print(f"  worst p99 of a request at {result['clients']} clients (saturated): {worst:.1f} ms")
    print(f"\n  {'page (one client)':<32} {'p50 ms':>8} {'p95 ms':>8} {'target':>7}")
    for name, figures in result["pages"].items():
        target = figures["target"]
        mark = "" if target is None else f"{target:>7.0f}  {verdict(figures['p95'] <= target)}"
        print(f"  {name:<32} {figures['p50']:>8.1f} {figures['p95']:>8.1f} {mark}")
    print(f"\n  {'memory MB':<12} {'RSS':>7} {'PSS':>7} {'private':>8}")
    for name, m in result["memory_after_pages"].items():
        private = m.get("private_clean", 0) + m.get("private_dirty", 0)
        print(f"  {name:<12} {m['rss']:>7.1f} {m['pss']:>7.1f} {private:>8.1f}")
    workers = [m["rss"] for n, m in result["memory_after_pages"].items() if n.startswith("worker")]
    print(f"  a worker ≤ {RSS_TARGET_MB:.0f} MB RSS: {verdict(max(workers) <= RSS_TARGET_MB)}")
    load = ", ".join(f"{when} {v[0]:.2f}" for when, v in result["load"].items())
    print(f"  load average (1 min): {load}")


# ---- growth -------------------------------------------------------------------------------


# The throughput figures of the growth table: label, round, latency name (None: the figure is
# the round's own), the figure, unit.
GROWTH_FIGURES = (
    ("wishes posted/s (20 clients)", "post", None, "per_second", "/s"),
    ("POST /w/new p99, posts (20 clients)", "post", "POST /w/new", "p99", "ms"),
    ("server CPU per wish posted", "post", None, "server_cpu_ms", "ms"),
    ("submissions/s (20 clients)", "submit", None, "per_second", "/s"),
    ("submission p50 (20 clients)", "submit", "submission", "p50", "ms"),
    ("POST /w/new p99 (20 clients)", "submit", "POST /w/new", "p99", "ms"),
    ("submission p99, paced (20/s)", "paced", "submission", "p99", "ms"),
    ("server CPU per submission", "submit", None, "server_cpu_ms", "ms"),
    ("/ping requests/s (20 clients)", "ping", None, "per_second", "/s"),
)


def growth_rows(results: list[dict]) -> list[tuple[str, list[float], str]]:
    rows = []
    for label, kind, latency, figure, unit in GROWTH_FIGURES:
        rounds = [r["throughput"].get(kind) for r in results]
        if all(rounds):  # runs from before the posted round have none
            values = [(rnd["latency"][latency] if latency else rnd)[figure] for rnd in rounds]
            rows.append((label, values, unit))
    for name in results[0]["pages"]:
        if all(name in r["pages"] for r in results):
            rows.append((name + " p50", [r["pages"][name]["p50"] for r in results], "ms"))
    workers = [
        max(m["rss"] for n, m in r["memory_after_pages"].items() if n.startswith("worker"))
        for r in results
    ]
    rows.append(("worker RSS (largest)", workers, "MB"))
    return rows


def print_growth(results: list[dict]) -> None:
    sizes = [r["wishes"] for r in results]
    print(
        f"\ncost growth (p50 over HTTP, one client unless said; data grows "
        f"{sizes[-1] / sizes[0]:,.0f}×)"
    )
    header = f"  {'figure':<36}" + "".join(f"{f'{n:,}':>11}" for n in sizes) + f"{'growth':>9}"
    print(header)
    print("  " + "-" * (len(header) - 2))
    for name, values, unit in growth_rows(results):
        cells = "".join(f"{v:>9.1f}{unit:>2}" if unit != "/s" else f"{v:>9.0f}/s" for v in values)
        print(f"  {name:<36}{cells}{values[-1] / values[0]:>8.1f}×")


def load_results(data_root: Path, sizes: list[int]) -> list[dict]:
    found = []
    for n in sizes:
        path = data_root / f"{RESULT[:-5]}-w{n}.json"
        if path.exists():
            found.append(json.loads(path.read_text(encoding="utf-8")))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wishes", default="10000,100000,1000000", help="sizes, comma-separated")
    parser.add_argument("--data-root", type=Path, default=Path("/tmp/perf-data"))
    parser.add_argument("--port", type=int, default=8400)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of /ping and submissions")
    parser.add_argument("--repeat", type=int, default=20, help="requests per page")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--table", action="store_true", help="print the saved figures only")
    args = parser.parse_args()
    sizes = [int(n) for n in args.wishes.split(",")]
    args.data_root.mkdir(parents=True, exist_ok=True)
    print(
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, "
        f"aiohttp {aiohttp.__version__}; load average {os.getloadavg()[0]:.2f}"
    )
    if not args.table:
        for n in sizes:
            print_size(run_size(args, n))
    results = load_results(args.data_root, sizes)
    if args.table:
        for result in results:
            print_size(result)
    if len(results) > 1:
        print_growth(results)


if __name__ == "__main__":
    main()
