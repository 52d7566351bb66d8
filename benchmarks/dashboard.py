"""Dashboard speed at hospital scale: 1,000,000 responses and 200,000 wishes, a year, timed.

Fills a fresh database with N satisfaction responses to the default questionnaire, about ten
answer rows each (modelled on wishes/questionnaires/sample.py: departments with their own
leaning, a hospital that slowly improves, answers that hang together, a comment in one of
four), and M wishes made as benchmarks/board.py makes them, with the hospital's day, keyword
tags from a Zipf-like vocabulary of the corpus's words and a router that was overruled one
time in twenty, all spread over two years (--years). Rows go in with plain SQL in big
transactions: the daily tallies (`response_days`, `answer_days`, `wish_tag_days`) and the
wish waits are made by the schema's own triggers (a wish is inserted, then claimed and
fulfilled by an UPDATE, as the app does). Wish making, logging in, timing and the HTTP server are
board.py's own, imported from it. Then logs in as a manager through the real
login form and times the dashboard for the last 365 days by week, month and quarter, with and
without a department, its default view, the monthly report and the CSV and XLSX downloads:
in-process with Flask's test client and, beside it, over HTTP from the server started as
`wishes serve` starts it. Every figure is printed next to two baselines: `/healthz` (same app,
same database, one trivial query) and the naive way, the year's satisfaction headline summed
straight from `answers` JOIN `responses`, so the ratio shows what the tallies buy; the target
is 1 s. Then, for the slowest view of a year's range, the time of each figure function and
the SQL it ran with its query plan, so a full scan is visible.

    .venv/bin/python benchmarks/dashboard.py [--responses 1000000] [--wishes 200000]
                                             [--years 2] [--seed 0] [--data-dir DIR]
                                             [--repeat 20] [--no-http]

A --data-dir this script filled before with the same sizes is reused: the fill is skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import sqlite3
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from board import (
    WARM_UP,
    Cutter,
    HttpSession,
    Staff,
    TestClientSession,
    WishMaker,
    add_data_options,
    create_staff,
    http_server,
    in_scratch,
    p95,
    query_plan,
    read_corpus,
    time_statement,
    timed,
    traced_connections,
)
from flask import request

from wishes import create_app, search
from wishes.clock import hospital_zone, local_day
from wishes.dashboard import figures, views
from wishes.organisation.store import load_organisation, read_organisation_file
from wishes.questionnaires import store
from wishes.questionnaires.sample import (
    COMMENTS_BAD,
    COMMENTS_GOOD,
    COMMENTS_WISH,
    IMPROVE,
    ITEMS,
    LEANINGS,
)
from wishes.routing.text import keyword_tags
from wishes.storage import connect, upgrade

TARGET_MS = 1000.0
MARKER = "dashboard-bench.json"  # in the data dir: what was filled, so a rerun can reuse it
CHUNK = 50_000  # responses per transaction (about half a million answer rows)
# Responses per department kind: the outpatient halls see more patients than a ward.
KIND_WEIGHTS = {"outpatient": 3, "medtech": 1, "ward": 2}
VISITS = ["outpatient", "inpatient", "inpatient", "emergency", "family"]
VOCABULARY = 3000  # distinct tag words
ZIPF_S = 1.0
REROUTED = 0.05  # wishes whose final branch is not the router's first choice


# ---- filling: responses -------------------------------------------------------------------


def _scale(value: float) -> int:
    return max(1, min(5, round(value)))


RECOMMEND = {5: (8, 10), 4: (6, 10), 3: (4, 8), 2: (1, 6), 1: (0, 4)}  # as sample.py


class ResponseMaker:
    """Rows for `responses` and `answers` as plain tuples, in the order the app stores them."""

    def __init__(
        self,
        rng: random.Random,
        questionnaire_id: int,
        version_id: int,
        departments: list[dict],
    ) -> None:
        self.rng, self.questionnaire_id, self.version_id = rng, questionnaire_id, version_id
        self.departments = [d["code"] for d in departments]
        weights = [KIND_WEIGHTS.get(d["kind"], 1) for d in departments]
        self.cum_weights = [sum(weights[: i + 1]) for i in range(len(weights))]
        self.zone = hospital_zone()  # outside an app context: the default, Asia/Shanghai
        self.comment_tags = {
            text: json.dumps(keyword_tags(text, {}), ensure_ascii=False)
            for text in (*COMMENTS_GOOD, *COMMENTS_BAD, *COMMENTS_WISH)
        }
        self.improve, self.improve_weights = list(IMPROVE), list(IMPROVE.values())

    def make(self, response_id: int, moment: float, progress: float) -> tuple[tuple, list]:
        """One response at `moment` (epoch seconds); `progress` 0 → 1 over the fill's span."""
        rng = self.rng
        department = (
            rng.choices(self.departments, cum_weights=self.cum_weights)[0]
            if rng.random() < 0.9
            else None
        )
        mood = 3.85 + 0.35 * progress + LEANINGS.get(department, 0) + rng.gauss(0, 0.8)
        overall = _scale(mood)
        low, high = RECOMMEND[overall]
        answers = [
            (response_id, "visit", None, None, rng.choice(VISITS), None),
            (response_id, "overall", overall, 5, None, None),
            (response_id, "recommend", rng.randint(low, high), 10, None, None),
        ]
        for key, offset in ITEMS.items():
            if rng.random() < 0.85:
                slow = 0.3 * (1 - progress) if key == "waiting" else 0
                value = _scale(mood + offset - slow + rng.gauss(0, 0.6))
                answers.append((response_id, key, value, 5, None, None))
        if rng.random() < 0.5:
            picks = rng.choices(self.improve, self.improve_weights, k=rng.randint(1, 2))
            answers.extend(
                (response_id, "improve", None, None, p, None) for p in sorted(set(picks))
            )
        tags = "[]"
        if rng.random() < 0.25:
            pool = COMMENTS_GOOD if overall >= 4 else COMMENTS_BAD
            comment = rng.choice(COMMENTS_WISH if rng.random() < 0.2 else pool)
            answers.append((response_id, "comment", None, None, None, comment))
            tags = self.comment_tags[comment]
        submitted = datetime.fromtimestamp(moment, UTC)
        row = (
            response_id,
            f"{rng.getrandbits(128):032x}",
            self.questionnaire_id,
            self.version_id,
            department,
            rng.choice(["kiosk", "phone", "phone"]),
            submitted.strftime("%Y-%m-%d %H:%M:%S"),
            submitted.astimezone(self.zone).strftime("%Y-%m-%d"),
            tags,
        )
        return row, answers


INSERT_RESPONSE = """INSERT INTO responses (id, submission_id, questionnaire_id, version_id,
    department_code, channel, submitted_at, local_day, comment_tags)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"""
INSERT_ANSWER = """INSERT INTO answers (response_id, question_key, value, scale, option, text)
    VALUES (?, ?, ?, ?, ?, ?)"""


def fill_responses(
    conn: sqlite3.Connection, n: int, maker: ResponseMaker, now: datetime, years: int
) -> dict:
    """N responses, oldest first (ids follow time as they do in the app), in chunks."""
    span = years * 365 * 86400
    start = now.timestamp() - span
    offsets = sorted(maker.rng.random() * span for _ in range(n))
    build = insert = 0.0
    answers_total = 0
    sample: list[tuple] = []
    for first in range(0, n, CHUNK):
        started = time.perf_counter()
        rows, answers = [], []
        for i in range(first, min(first + CHUNK, n)):
            row, its_answers = maker.make(i + 1, start + offsets[i], offsets[i] / span)
            rows.append(row)
            answers.extend(its_answers)
        sample.extend(rows[:: max(1, len(rows) // 50)])
        built = time.perf_counter()
        conn.execute("BEGIN")
        conn.executemany(INSERT_RESPONSE, rows)
        conn.executemany(INSERT_ANSWER, answers)  # answers_tally fires for every row
        conn.execute("COMMIT")
        build += built - started
        insert += time.perf_counter() - built
        answers_total += len(answers)
    # The hospital's day computed here, against wishes.clock.local_day itself.
    mismatches = sum(local_day(row[6]) != row[7] for row in sample)
    return {
        "responses": n,
        "answers": answers_total,
        "responses_build_s": build,
        "responses_insert_s": insert,
        "local_day_checked": len(sample),
        "local_day_mismatches": mismatches,
    }


# ---- filling: wishes ----------------------------------------------------------------------


def tag_vocabulary(size: int) -> list[str]:
    """The corpus's keyword words, most frequent first: the vocabulary wish tags draw from."""
    counts: Counter[str] = Counter()
    for text, _label in read_corpus():
        counts.update(keyword_tags(text, {}, count=50))
    return [word for word, _n in counts.most_common(size)]


class TaggedWishMaker(WishMaker):
    """board.py's wishes over `years`, with the hospital's day, three to five keyword tags
    (the wish's own two strongest words, then draws from a Zipf-like vocabulary), and a
    router overruled for REROUTED of them."""

    def __init__(self, *args, years: int, vocabulary: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.span_days = years * 365
        self.vocabulary = vocabulary
        weights = [1 / (rank + 1) ** ZIPF_S for rank in range(len(vocabulary))]
        total, self.cum_weights = 0.0, []
        for weight in weights:
            total += weight
            self.cum_weights.append(total)
        self.own_words: dict[str, list[str]] = {}

    def created(self, state: str) -> datetime:
        if state in ("triage", "open", "claimed", "in_progress"):
            days = min(self.rng.expovariate(1 / 7), self.span_days)
        else:
            days = self.rng.uniform(0, self.span_days)
        return self.now - timedelta(days=days)

    def tags(self, text: str) -> str:
        if text not in self.own_words:
            self.own_words[text] = keyword_tags(text, {}, count=2)
        chosen = list(self.own_words[text])
        wanted = self.rng.randint(3, 5)
        while len(chosen) < wanted:
            word = self.rng.choices(self.vocabulary, cum_weights=self.cum_weights)[0]
            if word not in chosen:
                chosen.append(word)
        return json.dumps(chosen, ensure_ascii=False)

    def make(self, wish_id: int) -> tuple[dict, list[dict]]:
        row, events = super().make(wish_id)
        row["local_day"] = local_day(row["created_at"])
        if row["branch_code"] and self.rng.random() < REROUTED:
            suggestions = json.loads(row["router_suggestions"])
            (first, p1), (second, p2) = suggestions[0], suggestions[1]
            suggestions[0], suggestions[1] = [second, p1], [first, p2]
            row["router_branch_code"] = second
            row["router_suggestions"] = json.dumps(suggestions)
        return row, events


def insert_dicts(conn: sqlite3.Connection, table: str, rows: list[dict]) -> None:
    columns = list(rows[0])
    conn.executemany(
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"VALUES ({', '.join(':' + c for c in columns)})",
        rows,
    )


def fill_wishes(conn: sqlite3.Connection, n: int, maker: TaggedWishMaker, cutter: Cutter) -> dict:
    """Wishes go in as the app makes them: submitted, then claimed and fulfilled by an UPDATE,
    which fires `wishes_waits` as a claim on the board does."""
    started = time.perf_counter()
    rows, events, moves = [], [], []
    for wish_id in range(1, n + 1):
        row, its_events = maker.make(wish_id)
        if row["claimed_at"] or row["fulfilled_at"]:
            moves.append((row["claimed_at"], row["fulfilled_at"], wish_id))
        rows.append(row)
        events.extend(its_events)
    built = time.perf_counter()
    conn.execute("BEGIN")  # the FTS and tag-tally triggers fire for every row
    insert_dicts(conn, "wishes", [row | {"claimed_at": None, "fulfilled_at": None} for row in rows])
    conn.executemany("UPDATE wishes SET claimed_at = ?, fulfilled_at = ? WHERE id = ?", moves)
    insert_dicts(conn, "wish_events", events)
    conn.execute("COMMIT")
    inserted = time.perf_counter()
    sample = random.Random(1).sample(rows, min(500, len(rows)))
    return {
        "wishes": n,
        "events": len(events),
        "wishes_build_s": built - started,
        "wishes_insert_s": inserted - built,
        "distinct_cuts": len(cutter.cache),
        "search_text_mismatches": cutter.check(sample),
    }


def bulk_connection(path: Path) -> sqlite3.Connection:
    """A connection for the fill only: no fsync, a large cache. Foreign keys are off (SQLite's
    default; the app turns them on): the rows are made consistent, and checking ten million
    answers against their responses would only slow the fill."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-1000000")
    conn.execute("PRAGMA temp_store=MEMORY")
    return conn


@dataclass
class Filled:
    responses: int
    wishes: int
    years: int
    seed: int
    now: str  # the fill's "now", UTC: the ranges below end on its hospital day
    report: dict


def fill(data_dir: Path, args: argparse.Namespace) -> Filled:
    now = datetime.now(UTC).replace(microsecond=0)
    db_path = data_dir / "wishes.db"
    started = time.perf_counter()
    hospital = prepare_hospital(db_path)
    staff, questionnaire_id, version_id = (
        hospital.staff,
        hospital.questionnaire_id,
        hospital.version_id,
    )
    departments, branches = hospital.departments, hospital.branches
    prepared = time.perf_counter()

    cutter = Cutter()
    search.cut("预热")  # load jieba and the hospital dictionary outside the timings below
    wish_maker = TaggedWishMaker(
        random.Random(args.seed),
        now,
        staff,
        [d["code"] for d in departments],
        branches,
        cutter,
        years=args.years,
        vocabulary=tag_vocabulary(VOCABULARY),
    )
    response_maker = ResponseMaker(
        random.Random(args.seed + 1), questionnaire_id, version_id, departments
    )
    conn = bulk_connection(db_path)
    try:
        report = fill_wishes(conn, args.wishes, wish_maker, cutter)
        report |= fill_responses(conn, args.responses, response_maker, now, args.years)
        checkpoint = time.perf_counter()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        report["checkpoint_s"] = time.perf_counter() - checkpoint
    finally:
        conn.close()
    report["prepare_s"] = prepared - started
    report["total_s"] = time.perf_counter() - started
    filled = Filled(args.responses, args.wishes, args.years, args.seed, now.isoformat(), report)
    (data_dir / MARKER).write_text(json.dumps(asdict(filled), indent=2), encoding="utf-8")
    return filled


def earlier_fill(data_dir: Path, marker: str, asked: dict[str, int]) -> dict | None:
    """What an earlier run filled into this data dir (its marker file), None for an empty dir;
    exits when the dir holds something else or other sizes than `asked`."""
    if not data_dir.exists() or not any(data_dir.iterdir()):
        return None
    path = data_dir / marker
    if not path.exists():
        sys.exit(f"{data_dir} is neither empty nor filled by this benchmark")
    held = json.loads(path.read_text(encoding="utf-8"))
    if {key: held[key] for key in asked} != asked:
        sizes = ", ".join(f"{key} {held[key]:,}" for key in asked)
        sys.exit(f"{data_dir} holds {sizes}: give the same sizes or a fresh folder")
    return held


def reusable(data_dir: Path, args: argparse.Namespace) -> Filled | None:
    """The earlier fill of this data dir, if it has the asked sizes; exits if it does not."""
    asked = {
        "responses": args.responses,
        "wishes": args.wishes,
        "years": args.years,
        "seed": args.seed,
    }
    held = earlier_fill(data_dir, MARKER, asked)
    return Filled(**held) if held else None


@dataclass
class Hospital:
    """What every fill starts from: the demo organisation, staff, the default questionnaire."""

    staff: Staff
    questionnaire_id: int
    version_id: int
    departments: list[dict]
    branches: dict[str, str]  # code -> name


def prepare_hospital(db_path: Path, *, migrate: bool = False) -> Hospital:
    db = connect(db_path)
    if migrate:
        upgrade(db)  # the schema: every migration, every trigger
    load_organisation(db, read_organisation_file())
    staff: Staff = create_staff(db)
    questionnaire_id = store.ensure_default(db)
    hospital = Hospital(
        staff,
        questionnaire_id,
        store.latest_version(db, questionnaire_id).id,
        list(db.query("SELECT code, kind FROM departments ORDER BY code")),
        {row["code"]: row["name"] for row in db.query("SELECT code, name FROM branches")},
    )
    db.close()
    return hospital


def print_fill(filled: Filled, reused: bool) -> None:
    r = filled.report
    how = f"reused (filled {filled.now[:16]} UTC)" if reused else "filled"
    print(
        f"{how}: {r['responses']:,} responses with {r['answers']:,} answers and "
        f"{r['wishes']:,} wishes with {r['events']:,} events over {filled.years} years, in "
        f"{r['total_s']:.1f} s"
    )
    print(
        f"  responses: rows built in {r['responses_build_s']:.1f} s, inserted with the tally "
        f"triggers in {r['responses_insert_s']:.1f} s "
        f"({r['answers'] / max(r['responses_insert_s'], 1e-9):,.0f} answers/s)"
    )
    print(
        f"  wishes: rows built in {r['wishes_build_s']:.1f} s (jieba cut "
        f"{r['distinct_cuts']:,} distinct texts), inserted with FTS, wait and tag triggers in "
        f"{r['wishes_insert_s']:.1f} s; organisation, staff and questionnaire "
        f"{r['prepare_s']:.1f} s; checkpoint {r['checkpoint_s']:.1f} s"
    )
    print(
        f"  checks: local_day against wishes.clock.local_day on {r['local_day_checked']} "
        f"responses: {r['local_day_mismatches']} differ; search_text against "
        f"wishes.search.index_text on 500 wishes: {r['search_text_mismatches']} differ"
    )


def db_figures(path: Path) -> None:
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    with contextlib.closing(sqlite3.connect(path)) as conn:
        tables = (
            "responses",
            "answers",
            "response_days",
            "answer_days",
            "wishes",
            "wish_events",
            "wish_tag_days",
        )
        counts = {t: conn.execute(f"SELECT count(*) FROM [{t}]").fetchone()[0] for t in tables}
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        span = conn.execute("SELECT min(local_day), max(local_day) FROM responses").fetchone()
        tags = conn.execute("SELECT count(DISTINCT tag) FROM wish_tag_days").fetchone()[0]
        sizes = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))
    print(f"database {path}: {size / 2**20:,.0f} MB on disk ({pages:,} pages of {page_size} B)")
    print("rows: " + ", ".join(f"{table} {n:,}" for table, n in counts.items()))
    biggest = sorted(sizes.items(), key=lambda item: -item[1])[:6]
    print("largest: " + ", ".join(f"{name} {n / 2**20:,.0f} MB" for name, n in biggest))
    print(f"responses from {span[0]} to {span[1]} (hospital days); {tags:,} distinct wish tags")


# ---- timing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    url: str
    naive: str = "naive SQL, year"  # the naive baseline it is compared with
    year: bool = False  # a year's range: the 1 s target of the issue


class Pages(TestClientSession):
    def fetch(self, url: str) -> bytes:
        answer = self.client.get(url)
        assert answer.status_code == 200, f"{url}: {answer.status_code}"
        return answer.get_data()


class HttpPages(HttpSession):
    def fetch(self, url: str) -> bytes:
        with self.opener.open(self.base + url, timeout=120) as answer:
            assert answer.status == 200 and answer.geturl() == self.base + url, url
            return answer.read()


@dataclass(frozen=True)
class Ranges:
    last: date  # the fill's last hospital day
    department: str  # the department with most responses in the year

    @property
    def year(self) -> tuple[str, str]:
        return (self.last - timedelta(days=364)).isoformat(), self.last.isoformat()

    @property
    def month(self) -> str:  # the last whole month before the fill's day, for the report
        return (self.last.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


def dashboard_cases(ranges: Ranges) -> list[Case]:
    first, last = ranges.year
    year = f"first={first}&last={last}"
    dept = f"&department={ranges.department}"
    two = (ranges.last - timedelta(days=729)).isoformat()
    cases = [Case("/healthz (baseline)", "/healthz", naive="")]
    for period in ("week", "month", "quarter"):
        cases.append(Case(f"year by {period}", f"/dashboard?period={period}&{year}", year=True))
    for period in ("week", "month", "quarter"):
        cases.append(
            Case(
                f"year by {period}, one department",
                f"/dashboard?period={period}&{year}{dept}",
                naive="naive SQL, year, one department",
                year=True,
            )
        )
    cases += [
        Case("default view (12 weeks)", "/dashboard"),
        Case("2 years by month", f"/dashboard?period=month&first={two}&last={last}"),
        Case(f"monthly report {ranges.month}", f"/dashboard/report?month={ranges.month}"),
    ]
    for table in ("branches", "departments"):
        for fmt in ("csv", "xlsx"):
            url = f"/dashboard/export/{table}.{fmt}?period=month&{year}"
            cases.append(Case(f"export {table}.{fmt}, year", url, year=True))
    return cases


NAIVE_SQL = """
    SELECT a.question_key, count(*) AS n, sum(a.value) AS total,
           sum(a.value * a.value) AS total_sq,
           sum(CASE WHEN a.scale = 5 THEN a.value >= 4 ELSE a.value >= 9 END) AS top,
           sum(CASE WHEN a.scale = 5 THEN a.value <= 2 ELSE a.value <= 6 END) AS bottom
    FROM answers a JOIN responses r ON r.id = a.response_id
    WHERE r.questionnaire_id = ? AND r.local_day BETWEEN ? AND ? AND a.value IS NOT NULL {dept}
    GROUP BY a.question_key"""


def naive_headline(conn: sqlite3.Connection, params: list, department: bool) -> dict:
    """Per-question answers, mean and top-box share, straight from the answers."""
    sql = NAIVE_SQL.format(dept="AND r.department_code = ?" if department else "")
    return {
        key: (n, total / n, 100 * top / n)
        for key, n, total, _sq, top, _bottom in conn.execute(sql, params)
    }


def tally_headline(db, filters: figures.Filters, questions: list[dict]) -> dict:
    """The same figures from the tallies, as the dashboard reads them."""
    table = figures.satisfaction_by_question(db, filters, questions)
    return {
        row["key"]: (row["n"], row["mean"].value, row["top"].value)
        for row in table.rows
        if row["n"]
    }


@dataclass
class Timing:
    in_process: list[float]
    over_http: list[float] | None = None
    size: int = 0
    statements: int | None = None


def count_selects(session: Pages, url: str) -> int:
    statements: list[str] = []
    with traced_connections(statements):
        session.fetch(url)
    return sum(s.lstrip().upper().startswith(("SELECT", "WITH")) for s in statements)


# ---- the slowest case: figure by figure ---------------------------------------------------

FIGURE_OF = {
    "satisfaction": "satisfaction_by_question",
    "nps": "nps_breakdown",
    "satisfaction_trend": "satisfaction_trend",
    "departments": "department_comparison",
    "choices": "choice_answers",
    "branches": "wishes_by_branch",
    "wish_trend": "wish_trend",
    "tags": "top_tags",
}
LITERALS = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")
# A plan step that reads a whole table or index (json_each is a virtual table: not counted).
FULL_SCAN = re.compile(r"\bSCAN (?!CONSTANT ROW)(\w+)(?! VIRTUAL TABLE)\b(?!.*VIRTUAL TABLE)")


@dataclass
class Step:
    label: str
    ms: float  # median of the repeats
    statements: list[str]


def _one_round(app, url: str, trace: bool) -> list[tuple[str, float, list[str]]]:
    """The view's calls in its order, inside one fresh request: (label, ms, SQL if traced)."""
    out = []
    with app.test_request_context(url):
        state: dict = {}  # the view's Scope, then the tables it built
        calls: list[tuple[str, Callable[[], object]]] = [
            ("_scope (form, questionnaires, questions)", lambda: views._scope(request.args))
        ]
        for name, build in views.TABLES.items():
            label = f"{FIGURE_OF.get(name, name)}  [{name}]"
            calls.append((label, lambda n=name, b=build: state.setdefault(n, b(state["scope"]))))
        calls += [
            (
                "_headline (previous range, response_count ×2)",
                lambda: views._headline(state["scope"], state["satisfaction"]),
            ),
            (
                "wish_totals",
                lambda: figures.wish_totals(state["scope"].db, state["scope"].filters),
            ),
            (
                "latest_comments",
                lambda: figures.latest_comments(
                    state["scope"].db, state["scope"].filters, state["scope"].questions
                ),
            ),
        ]
        for label, call in calls:
            traced: list[str] = []
            db = views.get_db()
            if trace:
                db.conn.set_trace_callback(traced.append)
            started = time.perf_counter()
            result = call()
            elapsed = (time.perf_counter() - started) * 1000
            db.conn.set_trace_callback(None)
            if "scope" not in state:  # the first call: _scope gives (scope, form)
                state["scope"] = result[0]
            selects = [s for s in traced if s.lstrip().upper().startswith(("SELECT", "WITH"))]
            out.append((label, elapsed, selects))
    return out


def figure_steps(app, url: str, repeat: int) -> list[Step]:
    """Each call the dashboard view makes, timed in the view's order inside a fresh request
    each round (what the figures share within a request is paid where the page pays it);
    the first round, untimed, records each call's SQL."""
    statements = {label: sql for label, _ms, sql in _one_round(app, url, trace=True)}
    samples: dict[str, list[float]] = {label: [] for label in statements}
    for _ in range(repeat):
        for label, ms, _sql in _one_round(app, url, trace=False):
            samples[label].append(ms)
    return [Step(label, statistics.median(samples[label]), statements[label]) for label in samples]


def shape(sql: str) -> str:
    return " ".join(LITERALS.sub("?", sql).split())


def print_steps(name: str, page_ms: float, steps: list[Step], db_path: Path) -> None:
    total = sum(step.ms for step in steps)
    print(
        f"\nslowest year-range view '{name}', figure by figure (the page itself, timed again "
        f"just before: {page_ms:.1f} ms in-process):"
    )
    header = f"  {'function':<52} {'ms':>8} {'SQL':>5}"
    print(header)
    print("  " + "-" * (len(header) - 2))
    for step in steps:
        print(f"  {step.label:<52} {step.ms:>8.1f} {len(step.statements):>5}")
    print(f"  {'sum of the above':<52} {total:>8.1f}")
    print(f"  {'rest: routing, login check, template, response':<52} {page_ms - total:>8.1f}")
    print("\nits SQL, grouped by shape, each statement re-run alone, with the query plan")
    print("(FULL = the plan reads a whole table or index):")
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        for step in steps:
            shapes: dict[str, list[str]] = {}
            for sql in step.statements:
                shapes.setdefault(shape(sql), []).append(sql)
            if not shapes:
                continue
            print(f"\n  {step.label}")
            for sqls in shapes.values():
                ms = sum(time_statement(conn, sql, repeat=3) for sql in sqls)
                plan = query_plan(conn, sqls[0])
                full = sorted({m.group(1) for line in plan if (m := FULL_SCAN.search(line))})
                flag = f"  FULL: {', '.join(full)}" if full else ""
                times = f" ×{len(sqls)}" if len(sqls) > 1 else ""
                print(f"    {ms:8.1f} ms{times:<5} {short(sqls[0])}{flag}")
                for line in plan:
                    print(f"                    {line}")


def short(sql: str, width: int = 150) -> str:
    sql = " ".join(sql.split())
    return sql if len(sql) <= width else sql[: width - 1] + "…"


# ---- report -------------------------------------------------------------------------------


def _three(samples: list[float] | None) -> str:
    if not samples:
        return f"{'':>7} {'':>7} {'':>7}"
    return f"{statistics.median(samples):>7.1f} {p95(samples):>7.1f} {max(samples):>7.1f}"


def _ratio(value: float | None) -> str:
    return f"{value:>7.1f}×" if value is not None else f"{'':>8}"


def print_table(cases: list[Case], timings: dict[str, Timing], repeat: int) -> None:
    healthz = timings[HEALTHZ]
    base_in = statistics.median(healthz.in_process)
    base_http = statistics.median(healthz.over_http) if healthz.over_http else None
    print(
        f"\n{repeat} runs per case after {WARM_UP} warm-up. in-process: Flask test client (SQL "
        f"rows: the query alone, on a connection with the app's pragmas); HTTP: waitress,\n"
        f"2 workers × 4 threads, one client. ×healthz: p50 over the /healthz p50 of the same "
        f"column. naive÷: the naive SQL's p50 over the case's p50 (in-process),\n"
        f"how many times faster than summing the answers. pass: p95 under {TARGET_MS:.0f} ms "
        f"in-process and over HTTP. SQL: SELECTs the request ran."
    )
    print(f"{'':<40} {'in-process ms':^23} │ {'over HTTP ms':^23} │")
    header = (
        f"{'case':<40} {'p50':>7} {'p95':>7} {'max':>7} │ {'p50':>7} {'p95':>7} {'max':>7} │"
        f" {'×healthz':>8} {'(HTTP)':>8} {'naive÷':>8} │ {'KB':>6} {'SQL':>4}  pass"
    )
    print(header)
    print("-" * len(header))
    for case in cases:
        t = timings.get(case.name)
        if t is None:
            continue
        p50 = statistics.median(t.in_process)
        http_p50 = statistics.median(t.over_http) if t.over_http else None
        naive = timings.get(case.naive) if case.naive else None
        cells = [
            f"{case.name:<40}",
            _three(t.in_process),
            "│",
            _three(t.over_http),
            "│",
            _ratio(p50 / base_in),
            _ratio(http_p50 / base_http if http_p50 and base_http else None),
            _ratio(statistics.median(naive.in_process) / p50 if naive else None),
            "│",
            f"{t.size / 1024:>6.1f}" if t.size else f"{'':>6}",
            f"{t.statements:>4}" if t.statements is not None else f"{'':>4}",
        ]
        line = " ".join(cells)
        if case.url and case.url != "/healthz":
            worst = max(p95(t.in_process), p95(t.over_http) if t.over_http else 0.0)
            line += "  pass" if worst < TARGET_MS else "  FAIL"
        print(line)


HEALTHZ = "/healthz (baseline)"
NAIVE = "naive SQL, year"
NAIVE_DEPT = "naive SQL, year, one department"
TALLY = "tallies: satisfaction_by_question, year"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--wishes", type=int, default=200_000)
    parser.add_argument(
        "--years", type=int, default=2, help="years the responses and wishes are spread over"
    )
    parser.add_argument("--seed", type=int, default=0)
    add_data_options(
        parser,
        "an empty folder, or one this script filled with the same sizes (reused); kept "
        "afterwards (default: a temporary folder, removed)",
    )
    in_scratch(parser.parse_args(), "wishes-dashboard-bench-", run)


def run(args: argparse.Namespace, data_dir: Path, models_dir: Path, scratch: Path) -> None:
    print(
        f"{os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), Python "
        f"{sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}"
    )
    filled = reusable(data_dir, args)
    reused = filled is not None
    app = create_app({"WISHES_DATA_DIR": str(data_dir), "WISHES_MODELS_DIR": str(models_dir)})
    db_path = data_dir / "wishes.db"
    if filled is None:
        filled = fill(data_dir, args)
    print_fill(filled, reused)
    db_figures(db_path)

    # The ranges end on the fill's day, so a reused fill still has a full year behind them.
    last = date.fromisoformat(local_day(filled.now[:19].replace("T", " ")))
    db = connect(db_path)  # the app's own pragmas, for the naive SQL
    conn = db.conn
    questionnaire_id = store.questionnaire(db, "satisfaction")["id"]
    first = (last - timedelta(days=364)).isoformat()
    department = conn.execute(
        """SELECT department_code FROM response_days WHERE day BETWEEN ? AND ?
           AND department_code != '' GROUP BY 1 ORDER BY sum(n) DESC LIMIT 1""",
        [first, last.isoformat()],
    ).fetchone()[0]
    ranges = Ranges(last, department)
    year = [questionnaire_id, *ranges.year]
    for label, extra, params in (
        ("whole hospital", "", []),
        (f"department {department}", " AND department_code = ?", [department]),
    ):
        responses = conn.execute(
            f"SELECT coalesce(sum(n), 0) FROM response_days "
            f"WHERE questionnaire_id = ? AND day BETWEEN ? AND ?{extra}",
            [*year, *params],
        ).fetchone()[0]
        wishes = conn.execute(
            f"SELECT count(*) FROM wishes WHERE local_day BETWEEN ? AND ?{extra}",
            [*ranges.year, *params],
        ).fetchone()[0]
        print(
            f"year {ranges.year[0]} … {ranges.year[1]}, {label}: {responses:,} responses, "
            f"{wishes:,} wishes"
        )

    timings: dict[str, Timing] = {}
    # Baselines without a request: the headline summed from the answers, and from the tallies.
    filters = figures.Filters(
        date.fromisoformat(ranges.year[0]),
        last,
        "week",
        None,
        questionnaire_id,
        app.config["WISHES_MIN_RESPONSES"],
    )
    for name, params, dept in (
        (NAIVE, year, False),
        (NAIVE_DEPT, [*year, department], True),
    ):
        samples, _ = timed(lambda p=params, d=dept: naive_headline(conn, p, d), args.repeat)
        timings[name] = Timing(samples)
    questions = store.questions_over_versions(db, questionnaire_id)
    samples, tallied = timed(lambda: tally_headline(db, filters, questions), args.repeat)
    timings[TALLY] = Timing(samples)
    naive = naive_headline(conn, year, False)
    differ = [
        key
        for key, (n, mean, top) in naive.items()
        if key not in tallied
        or tallied[key][0] != n
        or abs(tallied[key][1] - mean) > 1e-9
        or abs(tallied[key][2] - top) > 1e-9
    ]
    print(
        f"tallies against the answers, year, {len(naive)} scale questions (n, mean, top-box): "
        + (f"{len(differ)} differ: {', '.join(differ)}" if differ else "all equal")
    )

    cases = dashboard_cases(ranges)
    load = {"before": os.getloadavg()[0]}
    pages = {"anonymous": Pages(app, None), "manager": Pages(app, "manager")}
    for case in cases:
        session = pages["anonymous" if case.url == "/healthz" else "manager"]
        samples, body = timed(lambda s=session, u=case.url: s.fetch(u), args.repeat)
        timings[case.name] = Timing(samples, size=len(body))
        if case.url != "/healthz":
            timings[case.name].statements = count_selects(session, case.url)

    load["after in-process"] = os.getloadavg()[0]
    if not args.no_http:
        with http_server(data_dir, models_dir, scratch / "server.log") as base:
            sessions = {"anonymous": HttpPages(base, None), "manager": HttpPages(base, "manager")}
            for case in cases:
                session = sessions["anonymous" if case.url == "/healthz" else "manager"]
                samples, _ = timed(lambda s=session, u=case.url: s.fetch(u), args.repeat)
                timings[case.name].over_http = samples
        load["after HTTP"] = os.getloadavg()[0]

    baselines = [
        Case(NAIVE, "", naive=""),
        Case(NAIVE_DEPT, "", naive=""),
        Case(TALLY, "", naive=NAIVE),
    ]
    print_table([cases[0], *baselines, *cases[1:]], timings, args.repeat)
    print(
        "load average (1 min) "
        + ", ".join(f"{when} {value:.2f}" for when, value in load.items())
        + f" on {os.cpu_count()} CPUs (this benchmark alone keeps it near 1: more means "
        "something else shared the CPUs and the figures above are too high)"
    )

    # Figure by figure: the slowest view of a year's range (the target).
    pages_only = [case for case in cases if case.year and case.url.startswith("/dashboard?")]
    slowest = max(pages_only, key=lambda case: statistics.median(timings[case.name].in_process))
    again = max(3, min(args.repeat, 10))
    page, _ = timed(lambda: pages["manager"].fetch(slowest.url), again)  # beside the steps
    steps = figure_steps(app, slowest.url, again)
    print_steps(slowest.name, statistics.median(page), steps, db_path)
    print(f"\nload average (1 min) after the figure-by-figure timing: {os.getloadavg()[0]:.2f}")
    print("\nthe naive baseline's SQL and plan (whole hospital; the department adds one test):")
    print(f"  {short(NAIVE_SQL.format(dept=''), 400)}")
    for line in query_plan(conn, NAIVE_SQL.format(dept="").replace("?", "NULL")):
        print(f"      {line}")
    db.close()

    year_cases = [case for case in cases if case.year]
    worst_name, worst = max(
        (
            (
                case.name,
                max(
                    p95(timings[case.name].in_process),
                    p95(timings[case.name].over_http or [0.0]),
                ),
            )
            for case in year_cases
        ),
        key=lambda item: item[1],
    )
    met = worst < TARGET_MS
    print(
        f"\ntarget: a year's range under {TARGET_MS:.0f} ms on this {os.cpu_count()}-CPU machine "
        f"({filled.responses:,} responses and {filled.wishes:,} wishes over {filled.years} "
        f"years): {'MET' if met else 'NOT MET'}; the worst p95 of the {len(year_cases)} "
        f"year-range cases is {worst:.1f} ms ('{worst_name}')"
    )


if __name__ == "__main__":
    main()
