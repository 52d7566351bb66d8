"""Board speed at hospital scale: 100,000 wishes, the board's pages and its search, timed.

Fills a fresh database with N realistic wishes (texts from the bundled corpus with small
variations, two years of history, every state in plausible shares, 1–6 events each, about
5 on average), logs in
through the real login form and times the board's first page, its filters, its search and deep
paging: in-process with Flask's test client and, beside it, over HTTP from the server started as
`wishes serve` starts it. Every figure is printed next to `/healthz` (same app, same database,
one trivial query) as the baseline, with the 300 ms target. Then the SQL each case ran, its own
time and its query plan, so a full scan is visible.

    .venv/bin/python benchmarks/board.py [--wishes 100000] [--data-dir DIR] [--repeat 20]
                                         [--no-http]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import http.cookiejar
import json
import math
import os
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import wishes.storage
from wishes import create_app, search
from wishes.accounts.store import create_user
from wishes.organisation.store import load_organisation, read_organisation_file
from wishes.storage import TIMESTAMP_FORMAT, connect, transaction

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 300.0
WARM_UP = 2
PASSWORD = "bench mark pass 1"
YEARS_OF_HISTORY = 2
PER_PAGE = 25  # wishes.board.store.PER_PAGE, for the last page's number

# State shares of a hospital two years in: most wishes closed, a working set still open.
STATE_SHARES = {
    "followed_up": 0.58,
    "fulfilled": 0.22,
    "declined": 0.05,
    "in_progress": 0.04,
    "claimed": 0.04,
    "open": 0.05,
    "triage": 0.02,
}
ACTIVE_STATES = {"triage", "open", "claimed", "in_progress"}
# How each state was reached: the moves after submit (and route or triage).
PATHS = {
    "triage": [],
    "open": [],
    "claimed": ["claim"],
    "in_progress": ["claim", "start"],
    "fulfilled": ["claim", "start", "fulfil"],
    "followed_up": ["claim", "start", "fulfil", "follow_up"],
    "declined": ["decline"],
}
STATE_AFTER = {
    "claim": "claimed",
    "start": "in_progress",
    "fulfil": "fulfilled",
    "follow_up": "followed_up",
    "decline": "declined",
}
# Hours from the previous step to this one (uniform between the two).
STEP_HOURS = {
    "triage": (0.5, 20),
    "claim": (0.5, 48),
    "start": (1, 48),
    "fulfil": (2, 120),
    "follow_up": (24, 240),
    "decline": (1, 72),
}

SUFFIXES = ["", "", "", "，谢谢", "，麻烦了", "，谢谢护士", "。急", "，拜托了", "，辛苦了"]
REASONS = [
    "",
    "",
    "",
    "",
    "",
    "家里人白天要上班",
    "老人行动不便",
    "孩子住院很久了，想让他开心一点",
    "第一次来这家医院，不熟悉",
    "住了两周了",
    "出院在即",
]
NAMES = ["", "", "", "王女士", "李大爷", "小刘妈妈", "张先生", "陈阿姨"]
DEPARTMENT_CLAIMANTS = ["心血管内科病区", "门诊服务中心", "营养科", "后勤保障部"]
NOTES = ["已安排处理，当天完成。", "志愿者已到床旁帮忙。", "已电话告知患者家属。"]
DECLINE_REASONS = [
    "超出医院能提供的服务范围，已留下社区服务中心的联系方式。",
    "出于安全原因病房内不能使用该电器，护士站可代为充电。",
]
TRACKING_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
TOTAL = re.compile(r"共 (\d+) 条")  # the board's "N wishes" line


# ---- filling ------------------------------------------------------------------------------


def read_corpus() -> list[tuple[str, str]]:
    """(text, the demo branch that fulfils it) of the bundled wishes; not-a-wish rows left out."""
    data = resources.files("wishes.routing").joinpath("data/wishes.csv")
    with data.open(encoding="utf-8", newline="") as handle:
        return [
            (row["text"], row["branch"])
            for row in csv.DictReader(handle)
            if row["branch"] != "none"
        ]


class Cutter:
    """`wishes.search.index_text`, cached: jieba cuts each distinct text, reason, place once.

    index_text cuts "text reason location tags" joined by spaces; jieba never joins words across
    a space, so cutting each part once and joining the words gives the same string (checked on a
    sample against index_text itself, see `check`).
    """

    def __init__(self) -> None:
        self.cache: dict[str, str] = {}

    def words(self, part: str) -> str:
        if part not in self.cache:
            self.cache[part] = " ".join(search.cut(part))
        return self.cache[part]

    def index_text(self, row: dict) -> str:
        tags = json.loads(row["tags"] or "[]")
        parts = [row["text"], row["reason"], row["location"], " ".join(tags)]
        return " ".join(words for part in parts if part and (words := self.words(part)))

    def check(self, rows: list[dict]) -> int:
        return sum(self.index_text(row) != search.index_text(row) for row in rows)


def stamp(moment: datetime) -> str:
    return moment.strftime(TIMESTAMP_FORMAT)


@dataclass
class Staff:
    member: dict  # pediatrics, the one who logs in
    triager: dict
    manager: dict
    by_branch: dict[str, dict]  # a member per branch, who claims that branch's wishes


def create_staff(db) -> Staff:
    branches = [row["code"] for row in db.query("SELECT code FROM branches ORDER BY code")]
    by_branch = {
        "pediatrics": create_user(
            db, "member", PASSWORD, "member", branch_code="pediatrics", display_name="儿科护士小林"
        )
    }
    for code in branches:
        if code not in by_branch:
            by_branch[code] = create_user(
                db,
                f"member-{code}",
                PASSWORD,
                "member",
                branch_code=code,
                display_name=f"{code} 党员",
            )
    return Staff(
        member=by_branch["pediatrics"],
        triager=create_user(db, "triager", PASSWORD, "triager", display_name="党建办小周"),
        manager=create_user(db, "manager", PASSWORD, "manager", display_name="院领导"),
        by_branch=by_branch,
    )


class WishMaker:
    """Rows for `wishes` and `wish_events`, consistent with each wish's state and times."""

    def __init__(
        self,
        rng: random.Random,
        now: datetime,
        staff: Staff,
        departments: list[str],
        branches: dict[str, str],
        cutter: Cutter,
    ) -> None:
        self.rng, self.now, self.staff, self.cutter = rng, now, staff, cutter
        self.departments, self.branches = departments, list(branches)
        self.branch_names = branches
        self.corpus = read_corpus()
        self.codes: set[str] = set()
        self.tag_cache: dict[str, str] = {}
        self.states, self.weights = zip(*STATE_SHARES.items(), strict=True)

    def tracking_code(self) -> str:
        while True:
            code = "".join(self.rng.choices(TRACKING_ALPHABET, k=7))
            if code not in self.codes:
                self.codes.add(code)
                return code

    def tags(self, text: str) -> str:
        """Two to four of the wish's own longer words, as the router's keyword tags look."""
        if text not in self.tag_cache:
            words = list(dict.fromkeys(w for w in self.cutter.words(text).split() if len(w) >= 2))
            self.tag_cache[text] = json.dumps(words[: 2 + len(text) % 3], ensure_ascii=False)
        return self.tag_cache[text]

    def created(self, state: str) -> datetime:
        span = YEARS_OF_HISTORY * 365
        if state in ACTIVE_STATES:  # mostly recent, with a stale tail (the overdue ones)
            days = min(self.rng.expovariate(1 / 7), span)
        else:
            days = self.rng.uniform(0, span)
        return self.now - timedelta(days=days)

    def later(self, moment: datetime, step: str) -> datetime:
        low, high = STEP_HOURS[step]
        step_at = moment + timedelta(hours=self.rng.uniform(low, high))
        # Never in the future: a wish created an hour ago can be claimed, but only since then.
        ceiling = self.now - timedelta(seconds=1)
        return step_at if step_at < ceiling else max(moment, ceiling - timedelta(seconds=1))

    def make(self, wish_id: int) -> tuple[dict, list[dict]]:
        rng = self.rng
        state = rng.choices(self.states, self.weights)[0]
        text, label = rng.choice(self.corpus)
        text += rng.choice(SUFFIXES)
        created = self.created(state)
        via_triage = state == "triage" or rng.random() < 0.12
        confidence = rng.uniform(0.2, 0.6) if via_triage else rng.uniform(0.6, 0.99)
        others = rng.sample([b for b in self.branches if b != label], 2)
        second = rng.uniform(0, 1 - confidence)
        suggestions = [
            [label, round(confidence, 3)],
            [others[0], round(second, 3)],
            [others[1], round(rng.uniform(0, 1 - confidence - second), 3)],
        ]
        phone = (
            f"13{rng.randint(0, 9)}{rng.randint(10000000, 99999999)}"
            if rng.random() < 0.4
            else None
        )
        row = {
            "id": wish_id,
            "tracking_code": self.tracking_code(),
            "text": text,
            "reason": rng.choice(REASONS),
            "department_code": rng.choice(self.departments) if rng.random() < 0.8 else None,
            "location": f"{rng.randint(1, 48)} 床" if rng.random() < 0.5 else "",
            "patient_name": rng.choice(NAMES) or None,
            "phone": phone,
            "contact_consent": int(phone is not None),
            "channel": rng.choice(["kiosk", "phone", "phone"]),
            "state": state,
            "branch_code": None if state == "triage" else label,
            "router_branch_code": label,
            "router_confidence": round(confidence, 4),
            "router_suggestions": json.dumps(suggestions),
            "router_model": "bench-1",
            "tags": self.tags(text),
            "created_at": stamp(created),
            "routed_at": None,
            "claimed_at": None,
            "claimant_kind": None,
            "claimant_name": None,
            "claimant_user_id": None,
            "claimed_by_user_id": None,
            "fulfilled_at": None,
            "fulfilment_note": None,
            "fulfilment_photo": None,
            "patient_confirmed": None,
            "closed_at": None,
            "decline_reason": None,
        }
        row["search_text"] = self.cutter.index_text(row)

        events: list[dict] = []

        def event(
            action: str,
            at: datetime,
            before: str | None,
            after: str,
            *,
            actor: dict | None,
            kind: str = "staff",
            reason: str = "",
            data: dict | None = None,
        ) -> None:
            events.append(
                {
                    "wish_id": wish_id,
                    "at": stamp(at),
                    "action": action,
                    "from_state": before,
                    "to_state": after,
                    "branch_code": None if action == "submit" else row["branch_code"],
                    "actor_kind": kind,
                    "actor_label": actor["display_name"] if actor else "",
                    "actor_user_id": actor["id"] if actor else None,
                    "reason": reason,
                    "data": json.dumps(data, ensure_ascii=False) if data else None,
                }
            )

        first = "triage" if via_triage else "open"
        event("submit", created, None, first, actor=None, kind="patient")
        moment = created
        if state == "triage":
            row["updated_at"] = row["created_at"]
            return row, events
        if via_triage:
            moment = self.later(moment, "triage")
            event("triage", moment, "triage", "open", actor=self.staff.triager)
        else:
            event(
                "route",
                moment,
                "open",
                "open",
                actor=None,
                kind="router",
                data={"confidence": row["router_confidence"], "model": "bench-1"},
            )
        row["routed_at"] = stamp(moment)
        current = "open"
        claimer = self.staff.by_branch[label]
        for step in PATHS[state]:
            moment = self.later(moment, step)
            at, reason = stamp(moment), ""
            if step == "claim":
                kind = rng.choices(["branch", "department", "person"], [6, 2, 2])[0]
                row.update(
                    claimant_kind=kind,
                    claimed_by_user_id=claimer["id"],
                    claimed_at=at,
                    claimant_user_id=claimer["id"] if kind == "person" else None,
                    claimant_name={
                        "branch": self.branch_names[label],
                        "department": rng.choice(DEPARTMENT_CLAIMANTS),
                        "person": claimer["display_name"],
                    }[kind],
                )
            elif step == "fulfil":
                row.update(fulfilled_at=at, fulfilment_note=rng.choice(NOTES))
            elif step == "follow_up":
                row.update(closed_at=at, patient_confirmed=int(rng.random() < 0.9))
                reason = "患者表示满意"
            elif step == "decline":
                reason = rng.choice(DECLINE_REASONS)
                row.update(closed_at=at, decline_reason=reason)
            actor = self.staff.triager if step in ("follow_up", "decline") else claimer
            event(step, moment, current, STATE_AFTER[step], actor=actor, reason=reason)
            current = STATE_AFTER[step]
        row["updated_at"] = stamp(moment)
        return row, events


@dataclass
class FillReport:
    wishes: int
    events: int
    distinct_cuts: int
    build_s: float
    insert_s: float
    sample_mismatches: int


def fill(db, n: int, staff: Staff, now: datetime, seed: int = 0) -> FillReport:
    cutter = Cutter()
    search.cut("预热")  # load jieba and the hospital dictionary outside the timings below
    departments = [row["code"] for row in db.query("SELECT code FROM departments")]
    branches = {row["code"]: row["name"] for row in db.query("SELECT code, name FROM branches")}
    maker = WishMaker(random.Random(seed), now, staff, departments, branches, cutter)
    started = time.perf_counter()
    rows, events = [], []
    for wish_id in range(1, n + 1):
        row, its_events = maker.make(wish_id)
        rows.append(row)
        events.extend(its_events)
    built = time.perf_counter()
    with transaction(db):  # one transaction; the FTS triggers index every row as it goes in
        db["wishes"].insert_all(rows, batch_size=1000)
        db["wish_events"].insert_all(events, batch_size=2000)
    inserted = time.perf_counter()
    sample = random.Random(1).sample(rows, min(500, len(rows)))
    return FillReport(
        len(rows),
        len(events),
        len(cutter.cache),
        built - started,
        inserted - built,
        cutter.check(sample),
    )


# ---- timing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    user: str  # "anonymous", "member" or "manager"
    url: str


def board_cases(last_page: int, wish_id: int) -> list[Case]:
    q = urllib.parse.quote
    return [
        Case("/healthz (baseline)", "anonymous", "/healthz"),
        Case("board p1, member (own branch)", "member", "/board"),
        Case("board p1, manager (all)", "manager", "/board"),
        Case("board state=open (all)", "manager", "/board?branch=all&state=open"),
        Case("board overdue (all)", "manager", "/board?branch=all&overdue=y"),
        Case("board overdue, member", "member", "/board?overdue=y"),
        Case("board my claims, member", "member", "/board?mine=y&state=claimed"),
        Case("search common 轮椅", "manager", f"/board?branch=all&q={q('轮椅')}"),
        Case("search very common 孩子", "manager", f"/board?branch=all&q={q('孩子')}"),
        Case("search rare 泡泡机", "manager", f"/board?branch=all&q={q('泡泡机')}"),
        Case("search two words 医保 报销", "manager", f"/board?branch=all&q={q('医保 报销')}"),
        Case("search 孩子, member", "member", f"/board?q={q('孩子')}"),
        # a code typed into the search opens its wish (a redirect): the wish page is measured
        Case("a wish found by its tracking code", "manager", f"/board/wishes/{wish_id}"),
        Case(f"last page (p{last_page} of all)", "manager", f"/board?branch=all&page={last_page}"),
    ]


def timed(request: Callable[[], str], repeat: int) -> tuple[list[float], str]:
    """Milliseconds of `repeat` requests after WARM_UP untimed ones, and the first answer."""
    first = request()
    for _ in range(WARM_UP - 1):
        request()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        request()
        samples.append((time.perf_counter() - started) * 1000)
    return samples, first


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class TestClientSession:
    """One logged-in staff member (or nobody) talking to the app in-process."""

    def __init__(self, app, username: str | None) -> None:
        self.client = app.test_client()
        if username:
            page = self.client.get("/login").get_data(as_text=True)
            token = CSRF.search(page).group(1)
            answer = self.client.post(
                "/login", data={"csrf_token": token, "username": username, "password": PASSWORD}
            )
            assert answer.status_code == 302, f"login {username}: {answer.status_code}"

    def get(self, url: str) -> str:
        answer = self.client.get(url)
        assert answer.status_code == 200, f"{url}: {answer.status_code}"
        return answer.get_data(as_text=True)


class HttpSession:
    """The same over HTTP: urllib with a cookie jar, through the login form."""

    def __init__(self, base: str, username: str | None) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        if username:
            page = self.get("/login")
            body = urllib.parse.urlencode(
                {
                    "csrf_token": CSRF.search(page).group(1),
                    "username": username,
                    "password": PASSWORD,
                }
            )
            with self.opener.open(base + "/login", body.encode(), timeout=30) as answer:
                assert answer.geturl().endswith("/board"), f"login {username}: {answer.geturl()}"
                answer.read()

    def get(self, url: str) -> str:
        with self.opener.open(self.base + url, timeout=30) as answer:
            assert answer.status == 200 and answer.geturl() == self.base + url, url
            return answer.read().decode("utf-8")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(server: subprocess.Popen, url: str, log: Path, seconds: float) -> None:
    """Wait until `url` answers, or fail (pointing at the server's log) if the server stopped
    or `seconds` went by."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                answer.read()
            return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start; see {log}") from None
            time.sleep(0.3)


def add_data_options(parser: argparse.ArgumentParser, data_dir_help: str) -> None:
    """--data-dir, --repeat and --no-http, as every filling benchmark takes them."""
    parser.add_argument("--data-dir", type=Path, help=data_dir_help)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--no-http", action="store_true", help="skip the measurements over HTTP")


def in_scratch(
    args: argparse.Namespace,
    prefix: str,
    run: Callable[[argparse.Namespace, Path, Path, Path], None],
    *,
    fresh: bool = False,
) -> None:
    """`run(args, data_dir, models_dir, scratch)` in a temporary folder, removed afterwards:
    the data dir is --data-dir (kept) or a folder in it; the models dir is empty, so the app
    never trains or loads a router it is not timing. `fresh`: --data-dir must be empty."""
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    data_dir = args.data_dir or scratch / "data"
    if fresh and data_dir.exists() and any(data_dir.iterdir()):
        sys.exit(f"{data_dir} is not empty: the benchmark needs a fresh data dir")
    models_dir = scratch / "no-models"
    models_dir.mkdir()
    try:
        run(args, data_dir, models_dir, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def http_server(
    data_dir: Path, models_dir: Path, log: Path, port: int | None = None
) -> Iterator[str]:
    """waitress as `wishes serve` runs it (one process, 8 threads), without the notification
    worker, which would queue overdue reminders into the database being timed; on `port`, or
    on a free one."""
    port = port or free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("WISHES_")}
    env.update(WISHES_DATA_DIR=str(data_dir), WISHES_MODELS_DIR=str(models_dir))
    command = [
        str(Path(sys.executable).with_name("waitress-serve")),
        f"--listen=127.0.0.1:{port}",
        "--threads=8",
        "--call",
        "wishes:create_serving_app",
    ]
    with log.open("wb") as output:
        server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=output, stderr=output)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(server, base + "/healthz", log, 90)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# ---- the SQL behind each case -------------------------------------------------------------


@contextlib.contextmanager
def traced_connections(statements: list[str]) -> Iterator[None]:
    """Record every statement (parameters filled in) the app runs while inside the block, on
    the connections its requests open (`wishes.storage.connect`, through `get_db`)."""
    connect = wishes.storage.connect

    def tracing_connect(*args, **kwargs):
        db = connect(*args, **kwargs)
        db.conn.set_trace_callback(statements.append)
        return db

    wishes.storage.connect = tracing_connect
    try:
        yield
    finally:
        wishes.storage.connect = connect


READS_WISHES = re.compile(r"\bFROM wishes\b")


def reads_of_wishes(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().startswith("SELECT") and READS_WISHES.search(s)]


def time_statement(conn: sqlite3.Connection, sql: str, repeat: int = 5) -> float:
    """The median time of a statement over `repeat` runs, in ms."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        conn.execute(sql).fetchall()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def query_plan(conn: sqlite3.Connection, sql: str) -> list[str]:
    rows = conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
    depth = {0: -1}
    lines = []
    for node, parent, _unused, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + detail)
    return lines


# A read of every row of wishes, from the table or from one of its indexes.
FULL_SCAN = re.compile(r"\bSCAN (w|wishes)\b")


@dataclass
class SqlProfile:
    statements: list[tuple[float, str, list[str]]]  # (ms, sql, plan) of reads of wishes

    @property
    def total_ms(self) -> float:
        return sum(ms for ms, _, _ in self.statements)

    @property
    def full_scans(self) -> int:
        return sum(any(FULL_SCAN.search(line) for line in plan) for _, _, plan in self.statements)


def profile(session: TestClientSession, url: str, db_path: Path) -> SqlProfile:
    statements: list[str] = []
    with traced_connections(statements):
        session.get(url)
    conn = sqlite3.connect(db_path)
    try:
        found = []
        for sql in reads_of_wishes(statements):
            found.append((time_statement(conn, sql), sql, query_plan(conn, sql)))
        return SqlProfile(found)
    finally:
        conn.close()


# ---- report -------------------------------------------------------------------------------


def short_sql(sql: str) -> str:
    sql = " ".join(sql.split())
    sql = re.sub(r"SELECT w\.id, w\.tracking_code, .*? FROM", "SELECT w.id, … FROM", sql)
    sql = re.sub(
        r"\(\s*\(w\.state = 'open'.*?'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d'\)\s*\)", "<overdue>", sql
    )
    return sql


def print_table(
    title: str, results: dict[str, list[float]], sql: dict[str, SqlProfile], matched: dict[str, int]
) -> None:
    print(f"\n{title}")
    header = f"{'case':<36} {'matched':>7} {'median ms':>9} {'p95 ms':>8} {'×healthz':>9} "
    header += f"{'target':>7}  pass  {'SQL ms':>7} {'scans':>5}"
    print(header)
    print("-" * len(header))
    base = statistics.median(next(iter(results.values())))
    for name, samples in results.items():
        median, high = statistics.median(samples), p95(samples)
        verdict = "pass" if high < TARGET_MS else "FAIL"
        prof = sql.get(name)
        sql_cells = f"{prof.total_ms:>7.1f} {prof.full_scans:>5}" if prof else f"{'':>7} {'':>5}"
        found = f"{matched[name]:,}" if name in matched else ""
        print(
            f"{name:<36} {found:>7} {median:>9.1f} {high:>8.1f} {median / base:>8.1f}× "
            f"{TARGET_MS:>7.0f}  {verdict}  {sql_cells}"
        )


def db_figures(path: Path) -> None:
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    conn = sqlite3.connect(path)
    try:
        counts = {
            t: conn.execute(f"SELECT count(*) FROM [{t}]").fetchone()[0]
            for t in ("wishes", "wish_events", "wishes_fts", "users")
        }
        states = dict(conn.execute("SELECT state, count(*) FROM wishes GROUP BY 1 ORDER BY 2 DESC"))
        span = conn.execute("SELECT min(created_at), max(created_at) FROM wishes").fetchone()
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    print(f"database {path}: {size / 2**20:.1f} MB on disk ({pages} pages of {page_size} B)")
    print("rows: " + ", ".join(f"{table} {n:,}" for table, n in counts.items()))
    print("wishes by state: " + ", ".join(f"{state} {n:,}" for state, n in states.items()))
    print(f"created between {span[0]} and {span[1]} UTC")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wishes", type=int, default=100_000)
    add_data_options(
        parser, "a new or empty folder, kept afterwards (default: a temporary folder, removed)"
    )
    parser.add_argument(
        "--plans",
        default="board overdue (all)",
        help="case whose query plans are printed, or 'all' (besides any over half the target)",
    )
    in_scratch(parser.parse_args(), "wishes-board-bench-", run, fresh=True)


def run(args: argparse.Namespace, data_dir: Path, models_dir: Path, scratch: Path) -> None:
    print(
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}"
    )
    app = create_app({"WISHES_DATA_DIR": str(data_dir), "WISHES_MODELS_DIR": str(models_dir)})
    db_path = data_dir / "wishes.db"
    now = datetime.now(UTC).replace(microsecond=0)

    started = time.perf_counter()
    db = connect(db_path)
    load_organisation(db, read_organisation_file())
    staff = create_staff(db)
    report = fill(db, args.wishes, staff, now)
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    total = time.perf_counter() - started
    print(
        f"filled {report.wishes:,} wishes and {report.events:,} events in {total:.1f} s: "
        f"rows built in {report.build_s:.1f} s (jieba cut {report.distinct_cuts:,} distinct "
        f"texts), inserted with FTS triggers in {report.insert_s:.1f} s"
    )
    print(
        f"search_text checked against wishes.search.index_text on 500 rows: "
        f"{report.sample_mismatches} differ"
    )
    db_figures(db_path)

    last_page = max(1, -(-args.wishes // PER_PAGE))
    cases = board_cases(last_page, args.wishes // 2 + 1)
    users = {"anonymous": None, "member": "member", "manager": "manager"}

    sessions = {user: TestClientSession(app, name) for user, name in users.items()}
    in_process, profiles, matched = {}, {}, {}
    for case in cases:
        session = sessions[case.user]
        samples, page = timed(lambda s=session, u=case.url: s.get(u), args.repeat)
        in_process[case.name] = samples
        if shown := TOTAL.search(page):
            matched[case.name] = int(shown.group(1))
        if case.user != "anonymous":
            profiles[case.name] = profile(session, case.url, db_path)
    print_table(
        f"in-process (Flask test client), {args.repeat} requests after {WARM_UP} "
        f"warm-up; p95 decides pass; SQL ms = the case's reads of wishes re-run alone; "
        f"scans = those reads whose plan reads all of wishes (table or index)",
        in_process,
        profiles,
        matched,
    )

    over_http = {}
    if not args.no_http:
        with http_server(data_dir, models_dir, scratch / "server.log") as base:
            http_sessions = {user: HttpSession(base, name) for user, name in users.items()}
            for case in cases:
                session = http_sessions[case.user]
                samples, _ = timed(lambda s=session, u=case.url: s.get(u), args.repeat)
                over_http[case.name] = samples
        print_table(
            f"over HTTP (waitress, 8 threads, one client), {args.repeat} "
            f"requests after {WARM_UP} warm-up",
            over_http,
            profiles,
            matched,
        )

    worst = {
        name: max(p95(results[name]) for results in (in_process, over_http) if name in results)
        for name in in_process
    }
    for name, prof in profiles.items():
        if worst[name] >= TARGET_MS:
            why = " (over the target)"
        elif worst[name] >= TARGET_MS / 2:
            why = " (over half the target)"
        elif args.plans in (name, "all"):
            why = ""
        else:
            continue
        print(f"\nSQL of '{name}'{why}, each statement re-run alone, with its query plan:")
        for ms, sql, plan in prof.statements:
            print(f"  {ms:7.1f} ms  {short_sql(sql)}")
            for line in plan:
                print(f"              {line}")
    slowest = sorted(
        ((ms, name, sql) for name, prof in profiles.items() for ms, sql, _ in prof.statements),
        reverse=True,
    )[:5]
    print("\nslowest statements across cases:")
    for ms, name, sql in slowest:
        print(f"  {ms:7.1f} ms  [{name}]  {short_sql(sql)[:150]}")
    verdicts = Counter(
        "pass" if p95(s) < TARGET_MS else "FAIL"
        for results in (in_process, over_http)
        for s in results.values()
    )
    print(
        f"\n{verdicts['pass']} measurements under {TARGET_MS:.0f} ms at p95, "
        f"{verdicts['FAIL']} over"
    )


if __name__ == "__main__":
    main()
