"""Branch assessment speed at hospital scale: 100 branches, 200,000 wishes, a year's round, timed.

Fills a fresh database with an organisation of N branches (the demo hospital's 10 and, beside
them, a doctors' and a nurses' branch for each of 40 specialties, each serving its ward and
clinic, and 10 functional branches that serve the whole hospital, in 14 general branches over
about 100 departments); M wishes over two years made as benchmarks/dashboard.py makes them
(with the hospital's day in local_day; submitted, then claimed and fulfilled by an UPDATE, so
the schema's triggers fill claim_minutes and fulfil_minutes), spread over the branches by
size, each branch with its own pace, decline rate and follow-up confirmations, a few so small
that some items read "insufficient data"; R satisfaction responses over the same two years
through the real insert path (the tally triggers keep `answer_days`); and two assessment
rounds made through wishes.assessment.store as people make them (every score audited): last
year's, self-assessed, inspected and published (so its computed figures are frozen from the
data), and this year's, covering the last 365 days and every branch, in self-assessment (so
its computed items are computed live from the wishes and answers on every request: the
expensive case), most branches done, some half way. Wish and response making, logging in,
timing and the HTTP server are board.py's and dashboard.py's own, imported from them.

Checks the four wish figures of metrics.py against the round's wishes counted in Python, then
logs in as a manager through the real login form and times the ranking of both rounds, a
branch's score sheet and its A4 report, the XLSX and CSV exports and the corridor screen:
in-process with Flask's test client and, beside it, over HTTP from the server started as
`wishes serve` starts it. Every figure is printed next to `/healthz` (same app, same database,
one trivial query) with the issue's target (the ranking under 300 ms) and the ratio. Then the
current round's ranking call by call (the SQL of wishes/assessment/metrics.py, results.py's
Python, the template), the SQL it ran with each statement's query plan, and the functions
cProfile finds the most time in.

    .venv/bin/python benchmarks/assessment.py [--branches 100] [--wishes 200000]
        [--responses 200000] [--seed 0] [--data-dir DIR] [--repeat 20] [--no-http] [--port P]

A --data-dir this script filled before with the same sizes is reused: the fill is skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import os
import pstats
import random
import re
import socket
import sqlite3
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dashboard
from board import (
    PASSWORD,
    STATE_SHARES,
    STEP_HOURS,
    WARM_UP,
    Cutter,
    Staff,
    add_data_options,
    http_server,
    in_scratch,
    p95,
    query_plan,
    time_statement,
    timed,
    traced_connections,
)
from dashboard import (
    VOCABULARY,
    HttpPages,
    Pages,
    ResponseMaker,
    TaggedWishMaker,
    bulk_connection,
    fill_responses,
    fill_wishes,
    tag_vocabulary,
)
from flask import render_template
from flask_login import login_user

from wishes import audit, create_app, search
from wishes.accounts.store import create_user, find_user, staff_user
from wishes.assessment import metrics, results, store, words
from wishes.assessment.forms import StageForm
from wishes.clock import local_day
from wishes.organisation import store as organisation
from wishes.organisation.store import load_organisation, read_organisation_file
from wishes.questionnaires import store as questionnaires
from wishes.questionnaires.sample import LEANINGS
from wishes.storage import connect, get_db, transaction, utcnow

TARGET_MS = 300.0  # issue 9: the ranking page with 100 branches and 200,000 wishes
MARKER = "assessment-bench.json"  # in the data dir: what was filled, so a rerun can reuse it
PORTS = range(8500, 8600)  # for the HTTP server
YEARS = 2

# ---- the organisation ---------------------------------------------------------------------

GENERAL_BRANCHES = [
    ("internal-medicine-2", "内科第二总支"),
    ("surgery", "外科总支"),
    ("surgery-2", "外科第二总支"),
    ("senses", "五官口腔总支"),
    ("critical-care", "急诊重症总支"),
    ("oncology-gb", "肿瘤总支"),
    ("tcm-rehab", "中医康复总支"),
    ("functional", "职能部门总支"),
    ("functional-2", "职能部门第二总支"),
]
# (code, name, general branch); a ward code the demo organisation has is reused.
SPECIALTIES = [
    ("cardiology", "心血管内科", "internal-medicine"),
    ("respiratory", "呼吸与危重症医学科", "internal-medicine-2"),
    ("endocrinology", "内分泌科", "internal-medicine"),
    ("neurology", "神经内科", "internal-medicine-2"),
    ("gastroenterology", "消化内科", "internal-medicine"),
    ("nephrology", "肾内科", "internal-medicine-2"),
    ("hematology", "血液科", "internal-medicine"),
    ("rheumatology", "风湿免疫科", "internal-medicine-2"),
    ("infectious", "感染科", "internal-medicine"),
    ("geriatrics", "老年医学科", "internal-medicine-2"),
    ("general-practice", "全科医学科", "internal-medicine"),
    ("psychiatry", "精神心理科", "internal-medicine-2"),
    ("general-surgery", "普通外科", "surgery"),
    ("orthopedics", "骨科", "surgery-2"),
    ("neurosurgery", "神经外科", "surgery"),
    ("thoracic", "胸外科", "surgery-2"),
    ("cardiac-surgery", "心脏大血管外科", "surgery"),
    ("urology", "泌尿外科", "surgery-2"),
    ("hepatobiliary", "肝胆外科", "surgery"),
    ("gastrointestinal", "胃肠外科", "surgery-2"),
    ("breast-thyroid", "乳腺甲状腺外科", "surgery"),
    ("vascular", "血管外科", "surgery-2"),
    ("burns", "烧伤整形科", "surgery"),
    ("anesthesia", "麻醉手术科", "surgery-2"),
    ("ophthalmology", "眼科", "senses"),
    ("ent", "耳鼻咽喉科", "senses"),
    ("stomatology", "口腔科", "senses"),
    ("dermatology", "皮肤科", "senses"),
    ("gynecology", "妇科", "women-children"),
    ("obstetrics", "产科", "women-children"),
    ("reproductive", "生殖医学科", "women-children"),
    ("pediatric-surgery", "小儿外科", "women-children"),
    ("neonatal", "新生儿科", "women-children"),
    ("emergency-medicine", "急诊医学科", "critical-care"),
    ("icu", "重症医学科", "critical-care"),
    ("oncology", "肿瘤内科", "oncology-gb"),
    ("radiotherapy", "放射治疗科", "oncology-gb"),
    ("tcm", "中医科", "tcm-rehab"),
    ("rehabilitation", "康复医学科", "tcm-rehab"),
    ("pain", "疼痛科", "tcm-rehab"),
]
MEDTECH = [
    ("pathology", "病理科"),
    ("nuclear", "核医学科"),
    ("endoscopy", "内镜中心"),
    ("transfusion", "输血科"),
    ("ecg", "心电图室"),
    ("interventional", "介入中心"),
    ("dialysis", "血液净化中心"),
    ("checkup", "体检中心"),
    ("pharmacy-clinic", "药学门诊"),
]
# Functional departments' branches: they serve the whole hospital (no `serves`).
FUNCTIONAL = [
    ("medical-affairs", "医务处", "functional"),
    ("nursing-dept", "护理部", "functional"),
    ("personnel", "人事处", "functional"),
    ("information", "信息中心", "functional"),
    ("security", "保卫处", "functional"),
    ("equipment", "设备处", "functional-2"),
    ("research", "科研处", "functional-2"),
    ("infection-control", "院感办", "functional-2"),
    ("publicity", "宣传统战处", "functional-2"),
    ("discipline", "纪检监察室", "functional-2"),
]
# The routing corpus's topics a branch's wishes are about (the corpus labels are the demo's
# ten branches); a wish is written on one of them, then reaches the planned branch.
DOCTOR_TOPICS = ["outpatient", "medtech", "pharmacy", "finance", "nursing"]
NURSE_TOPICS = ["nursing", "nursing", "catering", "logistics", "pediatrics"]
FUNCTIONAL_TOPICS = ["office", "volunteer", "logistics", "finance"]


@dataclass
class BranchPlan:
    code: str
    topics: list[str]
    size: float  # relative share of the wishes
    quality: float  # 0–1: how fast it claims and fulfils, how few it declines


def make_organisation(n: int, rng: random.Random) -> tuple[dict, list[BranchPlan]]:
    """The demo hospital grown to `n` branches (10–100), and each branch's plan."""
    if not 10 <= n <= 10 + 2 * len(SPECIALTIES) + len(FUNCTIONAL):
        sys.exit(f"--branches must be between 10 and {10 + 2 * len(SPECIALTIES) + len(FUNCTIONAL)}")
    org = read_organisation_file()
    org["general_branches"] += [{"code": c, "name": name} for c, name in GENERAL_BRANCHES]
    have = {d["code"] for d in org["departments"]}
    plans = [
        BranchPlan(b["code"], [b["code"]], 6.0, rng.betavariate(5, 2)) for b in org["branches"]
    ]
    extra: list[tuple[dict, BranchPlan]] = []
    for code, name, general in SPECIALTIES:
        ward, clinic = f"ward-{code}", f"clinic-{code}"
        if ward not in have:
            org["departments"].append({"code": ward, "name": f"{name}病区", "kind": "ward"})
        org["departments"].append({"code": clinic, "name": f"{name}门诊", "kind": "outpatient"})
        size = rng.lognormvariate(0, 0.6)
        doctors = {
            "code": f"{code}-doctors",
            "name": f"{name}医师党支部",
            "general_branch_code": general,
            "scope": f"{name}门诊与病区的诊疗服务",
            "serves": [ward, clinic],
        }
        nurses = {
            "code": f"{code}-nurses",
            "name": f"{name}护理党支部",
            "general_branch_code": general,
            "scope": f"{name}病区护理",
            "serves": [ward],
        }
        extra.append((doctors, BranchPlan(doctors["code"], DOCTOR_TOPICS, size, 0)))
        extra.append((nurses, BranchPlan(nurses["code"], NURSE_TOPICS, 0.8 * size, 0)))
    org["departments"] += [{"code": c, "name": name, "kind": "medtech"} for c, name in MEDTECH]
    for code, name, general in FUNCTIONAL:
        branch = {
            "code": code,
            "name": f"{name}党支部",
            "general_branch_code": general,
            "scope": f"{name}职能服务",
        }
        extra.append((branch, BranchPlan(code, FUNCTIONAL_TOPICS, rng.uniform(0.005, 0.15), 0)))
    # The functional branches come last: with fewer than 100 the smallest ones go first.
    for branch, plan in extra[: n - 10]:
        plan.quality = rng.betavariate(5, 2)
        org["branches"].append(branch)
        plans.append(plan)
    return org, plans


def create_staff(db, codes: list[str]) -> Staff:
    """The manager who logs in, board.py's triager and pediatrics member, and a member per
    branch who claims its wishes (inserted with one password hash: hashing 100 passwords
    would cost 15 s and nobody logs in as them)."""
    member = create_user(
        db, "member", PASSWORD, "member", branch_code="pediatrics", display_name="儿科护士小林"
    )
    triager = create_user(db, "triager", PASSWORD, "triager", display_name="党建办小周")
    manager = create_user(db, "manager", PASSWORD, "manager", display_name="院领导")
    now = utcnow()
    with transaction(db):
        db["users"].insert_all(
            {
                "username": f"member-{code}",
                "display_name": f"{code} 党员",
                "password_hash": member["password_hash"],
                "role": "member",
                "branch_code": code,
                "active": 1,
                "created_at": now,
                "must_change_password": 0,
                "password_changed_at": now,
            }
            for code in codes
            if code != "pediatrics"
        )
    by_branch = {
        row["branch_code"]: row
        for row in db.query("SELECT * FROM users WHERE username LIKE 'member-%'")
    }
    by_branch["pediatrics"] = member
    return Staff(member=member, triager=triager, manager=manager, by_branch=by_branch)


# ---- filling: wishes and answers ----------------------------------------------------------


class BranchWishMaker(TaggedWishMaker):
    """dashboard.py's wishes, each made for a planned branch: its size decides how many it
    gets, its quality how fast they are claimed and fulfilled, how many are declined and how
    many patients confirm at the follow-up call. The wish is written on one of the branch's
    topics (a corpus label), then moved to the branch with its events and claimer."""

    def __init__(self, *args, plans: list[BranchPlan], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.plans = plans
        total, self.plan_weights = 0.0, []
        for plan in plans:
            total += plan.size
            self.plan_weights.append(total)
        self.by_label: dict[str, list[tuple[str, str]]] = {}
        for text, label in self.corpus:
            self.by_label.setdefault(label, []).append((text, label))
        self.pace = 1.0

    def later(self, moment: datetime, step: str) -> datetime:
        """board.py's step, its claim, start and fulfil hours scaled by the branch's pace."""
        low, high = STEP_HOURS[step]
        hours = self.rng.uniform(low, high)
        if step in ("claim", "start", "fulfil"):
            hours *= self.pace
        step_at = moment + timedelta(hours=hours)
        ceiling = self.now - timedelta(seconds=1)
        return step_at if step_at < ceiling else max(moment, ceiling - timedelta(seconds=1))

    def make(self, wish_id: int) -> tuple[dict, list[dict]]:
        rng = self.rng
        plan = rng.choices(self.plans, cum_weights=self.plan_weights)[0]
        topic = rng.choice(plan.topics)
        self.corpus = self.by_label[topic]
        self.pace = 1.6 - plan.quality  # 0.6 (quick) … 1.6 (slow)
        shares = dict(STATE_SHARES)
        shares["declined"] *= 2.5 - 2 * plan.quality
        shares["fulfilled"] *= 1.6 - plan.quality
        self.weights = tuple(shares.values())
        row, events = super().make(wish_id)
        if row["patient_confirmed"] is not None:
            row["patient_confirmed"] = int(rng.random() < 0.55 + 0.42 * plan.quality)
        if plan.code != topic:
            self.move_to(row, events, topic, plan.code)
        return row, events

    def move_to(self, row: dict, events: list[dict], old: str, new: str) -> None:
        def swap(code: str | None) -> str | None:
            return new if code == old else old if code == new else code

        if row["branch_code"] == old:
            row["branch_code"] = new
        row["router_branch_code"] = swap(row["router_branch_code"])
        row["router_suggestions"] = json.dumps(
            [[swap(code), p] for code, p in json.loads(row["router_suggestions"])]
        )
        before, after = self.staff.by_branch[old], self.staff.by_branch[new]
        if row["claimant_name"] == self.branch_names[old]:
            row["claimant_name"] = self.branch_names[new]
        elif row["claimant_name"] == before["display_name"]:
            row["claimant_name"] = after["display_name"]
        for key in ("claimed_by_user_id", "claimant_user_id"):
            if row[key] == before["id"]:
                row[key] = after["id"]
        for event in events:
            if event["branch_code"] == old:
                event["branch_code"] = new
            if event["actor_user_id"] == before["id"]:
                event["actor_user_id"], event["actor_label"] = after["id"], after["display_name"]


# ---- filling: the rounds ------------------------------------------------------------------

OFFICE = audit.Who(label="triager")
INSPECTOR = audit.Who(label="inspector")
NOTES = ["见会议记录本及签到表。", "相关照片和签到表已上传。", "台账已整理归档，可现场查阅。"]


def manual_points(rng: random.Random, item: dict, quality: float) -> float:
    share = max(0.0, min(1.0, 0.55 + 0.45 * quality + rng.gauss(0, 0.06)))
    points = round(item["points"] * share * 2) / 2
    return max(points, item["points"] * 0.8) if item["veto"] else points


def self_assess(db, rng: random.Random, current: store.Round, plans, shares) -> int:
    """Each branch's secretary scores the manual items (a `share` of them), through the store."""
    n = 0
    for plan in plans:
        secretary = audit.Who(label=f"{plan.code}-secretary")
        for item in current.scheme.items:
            if item["scoring"] == "manual" and rng.random() < shares[plan.code]:
                points = manual_points(rng, item, plan.quality + 0.03)
                note = rng.choice(NOTES)
                store.self_assess(db, current, plan.code, item["key"], points, note, secretary)
                n += 1
    return n


def inspect(db, rng: random.Random, current: store.Round) -> int:
    """The inspection team confirms most scores and marks some down, with a reason."""
    n = 0
    for (code, key), row in store.scores(db, current.id).items():
        points, reason = row["self_points"], ""
        if rng.random() < 0.18:
            points, reason = max(0.0, points - rng.choice([1, 1.5, 2, 3])), "台账不全，按细则扣分。"
        store.inspect(db, current, code, key, points, reason, INSPECTOR)
        n += 1
    return n


def make_rounds(
    db, rng: random.Random, plans: list[BranchPlan], today: date, now: datetime, claim_hours: int
) -> dict:
    """Last year's round, published with its figures frozen, and this year's in self-assessment."""
    store.ensure_default(db)
    codes = [plan.code for plan in plans]
    year_first = today - timedelta(days=364)
    before_last = year_first - timedelta(days=1)
    before_first = before_last - timedelta(days=364)
    previous_id = store.create_round(db, "上一年度", before_first, before_last, codes, OFFICE)
    previous = store.get_round(db, previous_id)
    scored = self_assess(db, rng, previous, plans, dict.fromkeys(codes, 1.0))
    store.move(db, previous, store.RoundMove.CLOSE_SELF_ASSESSMENT, OFFICE)
    previous = store.get_round(db, previous_id)
    scored += inspect(db, rng, previous)
    frozen = results.snapshot(db, previous, claim_hours, now)
    store.move(db, previous, store.RoundMove.PUBLISH, OFFICE, snapshot=frozen)
    current_id = store.create_round(db, "本年度", year_first, today, codes, OFFICE)
    current = store.get_round(db, current_id)
    # This year: most branches done, some half way, a few barely started.
    shares = {code: rng.choice([1, 1, 1, 1, 0.6, 0.3]) for code in codes}
    scored += self_assess(db, rng, current, plans, shares)
    return {"previous": previous_id, "current": current_id, "scores": scored}


# ---- the fill -----------------------------------------------------------------------------


@dataclass
class Filled:
    branches: int
    wishes: int
    responses: int
    seed: int
    now: str  # the fill's "now", UTC: the current round ends on its hospital day
    rounds: dict  # previous, current: round ids
    branch: str  # the branch whose sheet and report are timed
    report: dict = field(default_factory=dict)


def fill(data_dir: Path, args: argparse.Namespace, claim_hours: int) -> Filled:
    now = datetime.now(UTC).replace(microsecond=0)
    rng = random.Random(args.seed)
    db_path = data_dir / "wishes.db"
    report: dict = {}
    started = time.perf_counter()
    org, plans = make_organisation(args.branches, rng)
    db = connect(db_path)
    load_organisation(db, org)
    codes = [plan.code for plan in plans]
    staff = create_staff(db, codes)
    questionnaire_id = questionnaires.ensure_default(db)
    version_id = questionnaires.latest_version(db, questionnaire_id).id
    departments = list(db.query("SELECT code, kind FROM departments ORDER BY code"))
    branch_names = {row["code"]: row["name"] for row in db.query("SELECT code, name FROM branches")}
    db.close()
    report["prepare_s"] = time.perf_counter() - started

    cutter = Cutter()
    search.cut("预热")  # load jieba and the hospital dictionary outside the timings below
    wish_maker = BranchWishMaker(
        random.Random(args.seed + 2),
        now,
        staff,
        [d["code"] for d in departments],
        branch_names,
        cutter,
        years=YEARS,
        vocabulary=tag_vocabulary(VOCABULARY),
        plans=plans,
    )
    # Each department of the grown hospital leans its own way (the demo's keep theirs).
    leaning = random.Random(args.seed + 3)
    dashboard.LEANINGS = {d["code"]: leaning.gauss(0, 0.3) for d in departments} | LEANINGS
    response_maker = ResponseMaker(
        random.Random(args.seed + 1), questionnaire_id, version_id, departments
    )
    conn = bulk_connection(db_path)
    try:
        report |= fill_wishes(conn, args.wishes, wish_maker, cutter)
        report |= fill_responses(conn, args.responses, response_maker, now, YEARS)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()

    started_rounds = time.perf_counter()
    db = connect(db_path)
    db.conn.execute("PRAGMA synchronous=OFF")  # the fill only: a few thousand small commits
    today = date.fromisoformat(local_day(now.strftime("%Y-%m-%d %H:%M:%S")))
    rounds = make_rounds(db, rng, plans, today, now, claim_hours)
    served = organisation.served_departments(db)
    branch = next(
        row["branch_code"]
        for row in db.query(
            "SELECT branch_code FROM wishes WHERE branch_code IS NOT NULL AND local_day >= ? "
            "GROUP BY branch_code ORDER BY count(*) DESC",
            [(today - timedelta(days=364)).isoformat()],
        )
        if row["branch_code"] in served
    )
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    report["rounds_s"] = time.perf_counter() - started_rounds
    report["total_s"] = time.perf_counter() - started
    filled = Filled(
        args.branches,
        args.wishes,
        args.responses,
        args.seed,
        now.isoformat(),
        rounds,
        branch,
        report,
    )
    (data_dir / MARKER).write_text(json.dumps(asdict(filled), indent=2), encoding="utf-8")
    return filled


def reusable(data_dir: Path, args: argparse.Namespace) -> Filled | None:
    """The earlier fill of this data dir, if it has the asked sizes; exits if it does not."""
    asked = {
        "branches": args.branches,
        "wishes": args.wishes,
        "responses": args.responses,
        "seed": args.seed,
    }
    held = dashboard.earlier_fill(data_dir, MARKER, asked)
    return Filled(**held) if held else None


def print_fill(filled: Filled, reused: bool) -> None:
    r = filled.report
    how = f"reused (filled {filled.now[:16]} UTC)" if reused else "filled"
    print(
        f"{how}: {filled.branches} branches, {r['wishes']:,} wishes with {r['events']:,} events, "
        f"{r['responses']:,} responses with {r['answers']:,} answers over {YEARS} years and "
        f"{r['scores'] if 'scores' in r else filled.rounds['scores']:,} assessment scores, "
        f"in {r['total_s']:.1f} s"
    )
    print(
        f"  organisation, staff, questionnaire {r['prepare_s']:.1f} s; wishes built in "
        f"{r['wishes_build_s']:.1f} s (jieba cut {r['distinct_cuts']:,} distinct texts), "
        f"inserted with FTS, wait and tag triggers in {r['wishes_insert_s']:.1f} s; responses "
        f"built in {r['responses_build_s']:.1f} s, inserted with the tally triggers in "
        f"{r['responses_insert_s']:.1f} s; rounds through wishes.assessment.store (published "
        f"one with its snapshot, current one self-assessed) {r['rounds_s']:.1f} s"
    )
    print(
        f"  checks: search_text against wishes.search.index_text on 500 wishes: "
        f"{r['search_text_mismatches']} differ; local_day against wishes.clock.local_day on "
        f"{r['local_day_checked']} responses: {r['local_day_mismatches']} differ"
    )


def db_figures(path: Path, filled: Filled) -> None:
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    with contextlib.closing(sqlite3.connect(path)) as conn:
        tables = (
            "general_branches",
            "branches",
            "branch_departments",
            "departments",
            "wishes",
            "wish_events",
            "responses",
            "answers",
            "answer_days",
            "assessment_scores",
            "audit_events",
        )
        counts = {t: conn.execute(f"SELECT count(*) FROM [{t}]").fetchone()[0] for t in tables}
        wide = conn.execute(
            "SELECT count(*) FROM branches WHERE code NOT IN "
            "(SELECT branch_code FROM branch_departments)"
        ).fetchone()[0]
        rounds = conn.execute(
            "SELECT r.id, r.name, r.first_day, r.last_day, r.stage, count(*) FROM assessment_rounds"
            " r JOIN assessment_round_branches b ON b.round_id = r.id GROUP BY r.id ORDER BY r.id"
        ).fetchall()
        per_round = dict(
            conn.execute(
                """SELECT r.id, count(w.id) FROM assessment_rounds r
                   JOIN wishes w ON w.local_day BETWEEN r.first_day AND r.last_day
                   GROUP BY r.id"""
            ).fetchall()
        )
        sizes = conn.execute(
            """SELECT count(*) AS n FROM wishes w, assessment_rounds r
               WHERE r.id = ? AND w.local_day BETWEEN r.first_day AND r.last_day
               AND w.branch_code IS NOT NULL GROUP BY w.branch_code ORDER BY n""",
            [filled.rounds["current"]],
        ).fetchall()
        states = dict(conn.execute("SELECT state, count(*) FROM wishes GROUP BY 1 ORDER BY 2 DESC"))
    print(f"database {path}: {size / 2**20:,.0f} MB on disk")
    print("rows: " + ", ".join(f"{table} {n:,}" for table, n in counts.items()))
    print(f"{wide} branches serve the whole hospital (no `serves`)")
    print("wishes by state: " + ", ".join(f"{state} {n:,}" for state, n in states.items()))
    for round_id, name, first, last, stage, n in rounds:
        print(
            f"round {round_id} '{name}' {first} … {last}, {stage}, {n} branches, "
            f"{per_round.get(round_id, 0):,} wishes submitted in it"
        )
    ns = sorted(n for (n,) in sizes)
    print(
        f"wishes per branch this year: min {ns[0]}, median {statistics.median(ns):.0f}, "
        f"max {ns[-1]}"
    )


# ---- a check: the computed figures against a plain scan -----------------------------------


def plain_figures(db, codes: list[str], days: tuple[str, str], claim_hours: int, now: datetime):
    """The four wish figures of metrics.py, from every wish of the period read once and
    counted in Python: what the SQL must agree with, and how long the obvious way takes."""
    due_before = (now - timedelta(hours=claim_hours)).strftime("%Y-%m-%d %H:%M:%S")
    wanted = set(codes)
    tallies: dict[str, Counter] = {code: Counter() for code in codes}
    fulfil: dict[str, list[int]] = {code: [] for code in codes}
    for code, state, claim, fulfil_minutes, confirmed, routed in db.execute(
        """SELECT branch_code, state, claim_minutes, fulfil_minutes, patient_confirmed, routed_at
           FROM wishes WHERE local_day BETWEEN ? AND ?""",
        days,
    ):
        if code not in wanted:
            continue
        t = tallies[code]
        t["all"] += 1
        t["judged"] += claim is not None or (state == "open" and routed < due_before)
        t["in_time"] += claim is not None and claim <= claim_hours * 60
        t["declined"] += state == "declined"
        t["fulfilled"] += state in ("fulfilled", "followed_up")
        t["confirmed"] += confirmed == 1
        if fulfil_minutes is not None:
            fulfil[code].append(fulfil_minutes)

    def share(part: int, whole: int) -> tuple[float | None, int]:
        return (100.0 * part / whole, whole) if whole else (None, 0)

    out = {}
    for code, t in tallies.items():
        times = fulfil[code]
        out[code] = {
            "claim_in_time_share": share(t["in_time"], t["judged"]),
            "fulfilment_rate": share(t["fulfilled"], t["all"] - t["declined"]),
            "confirmed_share": share(t["confirmed"], t["fulfilled"]),
            "median_fulfil_hours": (
                (statistics.median(times) / 60.0, len(times)) if times else (None, 0)
            ),
        }
    return out


def check_figures(db_path: Path, round_id: int, claim_hours: int) -> None:
    now = datetime.now(UTC)
    db = connect(db_path)
    try:
        current = store.get_round(db, round_id)
        codes, days = list(current.branch_codes), current.days
        plain_ms, plain = timed(lambda: plain_figures(db, codes, days, claim_hours, now), 2)
        sql_ms, computed = timed(lambda: metrics.wish_figures(db, codes, days, claim_hours, now), 2)
    finally:
        db.close()
    differ = [
        f"{code} {metric}"
        for code, figures in plain.items()
        for metric, (value, count) in figures.items()
        if computed[code][metric].count != count
        or (value is None) != (computed[code][metric].value is None)
        or (value is not None and abs(computed[code][metric].value - value) > 1e-9)
    ]
    compared = sum(len(figures) for figures in plain.values())
    which = f" ({', '.join(differ[:5])})" if differ else ""
    print(
        f"metrics.wish_figures against the round's wishes counted in Python: {compared} figures "
        f"of {len(codes)} branches, {len(differ)} differ{which}"
        f" (SQL {statistics.median(sql_ms):.0f} ms, Python {statistics.median(plain_ms):.0f} ms)"
    )


# ---- timing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    url: str
    target: bool = False  # the 300 ms applies


HEALTHZ = "/healthz (baseline)"


def assessment_cases(filled: Filled) -> list[Case]:
    current, previous, code = filled.rounds["current"], filled.rounds["previous"], filled.branch
    return [
        Case(HEALTHZ, "/healthz"),
        Case("ranking, current round (live)", f"/assessment/rounds/{current}", target=True),
        Case("ranking, published round", f"/assessment/rounds/{previous}", target=True),
        Case(f"branch sheet, current ({code})", f"/assessment/rounds/{current}/branches/{code}"),
        Case("branch sheet, published", f"/assessment/rounds/{previous}/branches/{code}"),
        Case("branch report, current", f"/assessment/rounds/{current}/branches/{code}/report"),
        Case("export XLSX, current", f"/assessment/rounds/{current}/export.xlsx"),
        Case("export CSV, current", f"/assessment/rounds/{current}/export.csv"),
        Case("/corridor (latest published)", "/corridor"),
        Case("round list /assessment", "/assessment"),
    ]


@dataclass
class Timing:
    in_process: list[float]
    over_http: list[float] | None = None
    size: int = 0
    statements: int = 0


def count_selects(session: Pages, url: str) -> int:
    statements: list[str] = []
    with traced_connections(statements):
        session.fetch(url)
    return sum(s.lstrip().upper().startswith(("SELECT", "WITH")) for s in statements)


def _cells(samples: list[float] | None, base: float | None) -> str:
    if not samples:
        return f"{'':>7} {'':>7} {'':>7}"
    p50 = statistics.median(samples)
    ratio = f"{p50 / base:>6.1f}×" if base else f"{'':>7}"
    return f"{p50:>7.1f} {p95(samples):>7.1f} {ratio}"


def print_table(cases: list[Case], timings: dict[str, Timing], repeat: int) -> None:
    healthz = timings[HEALTHZ]
    base_in = statistics.median(healthz.in_process)
    base_http = statistics.median(healthz.over_http) if healthz.over_http else None
    print(
        f"\n{repeat} requests per case after {WARM_UP} warm-up, logged in as a manager. "
        f"in-process: Flask test client; HTTP: waitress, 8 threads, one client.\n"
        f"×hz: p50 over the /healthz p50 of the same column. target: p95 under "
        f"{TARGET_MS:.0f} ms in-process and over HTTP (the issue's, for the ranking; the other "
        f"pages are shown against it). SQL: SELECTs the request ran."
    )
    print(f"{'':<40} {'in-process ms':^23} │ {'over HTTP ms':^23} │")
    header = (
        f"{'case':<40} {'p50':>7} {'p95':>7} {'×hz':>7} │ {'p50':>7} {'p95':>7} {'×hz':>7} │"
        f" {'KB':>6} {'SQL':>4}  {'target':>6}"
    )
    print(header)
    print("-" * len(header))
    for case in cases:
        t = timings[case.name]
        is_base = case.name == HEALTHZ
        line = (
            f"{case.name:<40} {_cells(t.in_process, None if is_base else base_in)} │ "
            f"{_cells(t.over_http, None if is_base else base_http)} │ "
            f"{t.size / 1024:>6.1f} {t.statements if not is_base else '':>4}"
        )
        if not is_base:
            worst = max(p95(t.in_process), p95(t.over_http) if t.over_http else 0.0)
            verdict = "pass" if worst < TARGET_MS else "over"
            line += f"  {verdict}{' *' if case.target else ''}"
        print(line)
    print("(* the issue's target: the ranking page)")


# ---- where the time goes: the current round's ranking, step by step ------------------------


@dataclass
class Step:
    label: str
    ms: list[float] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)


def ranking_steps(
    app, round_id: int, repeat: int, now: datetime, page: Callable[[], object]
) -> tuple[list[Step], list[float]]:
    """What the ranking view does, call by call in its order inside one request, then its
    template rendered from what they computed; each round also times the page itself just
    before, so a busy moment shows in both. The first round, untimed, records each call's SQL."""
    steps: dict[str, Step] = {}
    page_ms: list[float] = []
    claim_hours = app.config["WISHES_CLAIM_HOURS"]
    for round_number in range(repeat + 1):
        started = time.perf_counter()
        page()
        if round_number:
            page_ms.append((time.perf_counter() - started) * 1000)
        with app.test_request_context(f"/assessment/rounds/{round_id}"):
            db = get_db()
            login_user(staff_user(find_user(db, "manager"), "not-a-session"))
            state: dict = {}

            def get_round(s=state, db=db):
                s["round"] = store.get_round(db, round_id)

            def branches(s=state, db=db):
                s["branches"] = {b["code"]: b for b in organisation.branches(db, active_only=False)}

            def stored(s=state, db=db):
                s["stored"] = store.scores(db, round_id)

            def wish_figures(s=state, db=db):
                r = s["round"]
                s["figures"] = metrics.wish_figures(
                    db, list(r.branch_codes), r.days, claim_hours, now
                )

            def top_box(s=state, db=db):
                r = s["round"]
                served = metrics.served_top_box(db, list(r.branch_codes), r.days)
                for code, figure in served.items():
                    s["figures"][code]["served_top_box"] = figure

            def python(s=state):
                r = s["round"]
                s["ranked"] = [
                    results._branch(
                        r,
                        s["branches"][code],
                        results._item_scores(r, s["stored"], code, s["figures"][code]),
                    )
                    for code in r.branch_codes
                ]
                s["ranked"].sort(key=lambda b: (-b.total, b.name))

            def previous(s=state, db=db):
                before = store.previous_round(db, s["round"])
                s["previous"] = before
                if before:
                    totals = results.branch_scores(
                        db,
                        before,
                        claim_hours,
                        now,
                        list(s["round"].branch_codes),
                        with_previous=False,
                    )
                    totals = {b.code: b.total for b in totals}
                    for entry in s["ranked"]:
                        entry.previous_total = totals.get(entry.code)

            def generals(s=state):
                s["generals"] = results.general_scores(s["round"], s["ranked"])

            def template(s=state):
                render_template(
                    "assessment/ranking.html",
                    round=s["round"],
                    ranked=s["ranked"],
                    generals=s["generals"],
                    previous=s["previous"],
                    stage_form=StageForm(),
                    manages=False,
                    stages=words.STAGES,
                    moves=words.MOVES,
                    needs_reason=store.NEEDS_REASON,
                )

            calls: list[tuple[str, Callable[[], None]]] = [
                ("store.get_round (round, branches, scheme)", get_round),
                ("organisation.branches", branches),
                ("store.scores (stored rows)", stored),
                ("metrics.wish_figures", wish_figures),
                ("metrics.served_top_box", top_box),
                ("results: item points, areas, tiers (Py)", python),
                ("previous round: find + frozen scores", previous),
                ("results.general_scores (Py)", generals),
                ("the template (ranking.html)", template),
            ]
            for label, call in calls:
                step = steps.setdefault(label, Step(label))
                traced: list[str] = []
                if round_number == 0:
                    db.conn.set_trace_callback(traced.append)
                started = time.perf_counter()
                call()
                elapsed = (time.perf_counter() - started) * 1000
                db.conn.set_trace_callback(None)
                if round_number == 0:
                    step.statements = [
                        s for s in traced if s.lstrip().upper().startswith(("SELECT", "WITH"))
                    ]
                else:
                    step.ms.append(elapsed)
    return list(steps.values()), page_ms


def print_steps(steps: list[Step], page_ms: list[float]) -> None:
    total = sum(statistics.median(step.ms) for step in steps)
    page = statistics.median(page_ms)
    print(
        f"\nthe current round's ranking, call by call ({len(page_ms)} rounds, median ms; each "
        f"round times the page itself first: {page:.1f} ms in-process):"
    )
    header = f"  {'call':<44} {'ms':>8} {'SQL':>5}"
    print(header)
    print("  " + "-" * (len(header) - 2))
    for step in steps:
        print(f"  {step.label:<44} {statistics.median(step.ms):>8.1f} {len(step.statements):>5}")
    print(f"  {'sum of the above':<44} {total:>8.1f}")
    print(f"  {'rest: routing, login check, response':<44} {page - total:>8.1f}")


LITERALS = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")
FULL_SCAN = re.compile(r"\bSCAN (?!CONSTANT ROW)(\w+)(?!.*VIRTUAL TABLE)")


def short(sql: str, width: int = 160) -> str:
    sql = " ".join(sql.split())
    sql = re.sub(r"IN \('[^)]*'\)", "IN (<branches>)", sql)
    return sql if len(sql) <= width else sql[: width - 1] + "…"


def print_sql(steps: list[Step], db_path: Path) -> None:
    print(
        "\nits SQL, each statement re-run alone on the app's connection (median of 5), with its "
        "query plan\n(FULL = the plan reads a whole table or index):"
    )
    db = connect(db_path)
    try:
        for step in steps:
            if not step.statements:
                continue
            shapes: dict[str, list[str]] = {}
            for sql in step.statements:
                shapes.setdefault(" ".join(LITERALS.sub("?", sql).split()), []).append(sql)
            print(f"\n  {step.label}")
            for sqls in shapes.values():
                ms = sum(time_statement(db.conn, sql) for sql in sqls)
                plan = query_plan(db.conn, sqls[0])
                full = sorted({m.group(1) for line in plan if (m := FULL_SCAN.search(line))})
                flag = f"  FULL: {', '.join(full)}" if full else ""
                times = f" ×{len(sqls)}" if len(sqls) > 1 else ""
                print(f"    {ms:8.1f} ms{times:<5} {short(sqls[0])}{flag}")
                if ms >= 1 or full:
                    for line in plan:
                        print(f"                    {line}")
    finally:
        db.close()


def print_profile(session: Pages, url: str, rounds: int = 5, top: int = 14) -> None:
    """cProfile over a few requests: the app's own functions with the most time in them."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(rounds):
        session.fetch(url)
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows = []
    for (filename, line, name), (_cc, calls, own, cumulative, _callers) in stats.stats.items():
        if "/wishes/" in filename and "/benchmarks/" not in filename or "sqlite3" in name:
            where = filename.split("/wishes/", 1)[-1] if "/wishes/" in filename else filename
            rows.append((cumulative, own, calls, f"{where}:{line} {name}"))
    rows.sort(reverse=True)
    print(
        f"\ncProfile of {rounds} requests for {url} (per request, ms; cumulative includes what "
        "it calls; the profiler slows Python, not SQLite):"
    )
    print(f"  {'cumulative':>10} {'own':>8} {'calls':>7}  function")
    for cumulative, own, calls, name in rows[:top]:
        print(
            f"  {cumulative * 1000 / rounds:>10.1f} {own * 1000 / rounds:>8.1f} "
            f"{calls // rounds:>7}  {name}"
        )


# ---- main ---------------------------------------------------------------------------------


def free_port() -> int:
    """The first free port of PORTS (the range this machine gives benchmarks)."""
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    sys.exit(f"no free port in {PORTS.start}–{PORTS.stop - 1}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--branches", type=int, default=100)
    parser.add_argument("--wishes", type=int, default=200_000)
    parser.add_argument(
        "--responses", type=int, default=200_000, help="satisfaction responses over the 2 years"
    )
    parser.add_argument("--seed", type=int, default=0)
    add_data_options(
        parser,
        "an empty folder, or one this script filled with the same sizes (reused); kept "
        "afterwards (default: a temporary folder, removed)",
    )
    parser.add_argument(
        "--port",
        type=int,
        help=f"for the HTTP server (default: the first free of {PORTS.start}–{PORTS.stop - 1})",
    )
    in_scratch(parser.parse_args(), "bench-assessment-", run)


def run(args: argparse.Namespace, data_dir: Path, models_dir: Path, scratch: Path) -> None:
    print(
        f"{os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), Python "
        f"{sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}; load average "
        + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    filled = reusable(data_dir, args)
    reused = filled is not None
    app = create_app({"WISHES_DATA_DIR": str(data_dir), "WISHES_MODELS_DIR": str(models_dir)})
    db_path = data_dir / "wishes.db"
    if filled is None:
        filled = fill(data_dir, args, app.config["WISHES_CLAIM_HOURS"])
    print_fill(filled, reused)
    db_figures(db_path, filled)
    check_figures(db_path, filled.rounds["current"], app.config["WISHES_CLAIM_HOURS"])

    cases = assessment_cases(filled)
    timings: dict[str, Timing] = {}
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
        port = args.port or free_port()
        with http_server(data_dir, models_dir, scratch / "server.log", port=port) as base:
            sessions = {"anonymous": HttpPages(base, None), "manager": HttpPages(base, "manager")}
            for case in cases:
                session = sessions["anonymous" if case.url == "/healthz" else "manager"]
                samples, _ = timed(lambda s=session, u=case.url: s.fetch(u), args.repeat)
                timings[case.name].over_http = samples
        load["after HTTP"] = os.getloadavg()[0]

    print_table(cases, timings, args.repeat)
    print(
        "load average (1 min) "
        + ", ".join(f"{when} {value:.2f}" for when, value in load.items())
        + f" on {os.cpu_count()} CPUs (this benchmark alone keeps it near 1: more means "
        "something else shared the CPUs and the figures above are too high)"
    )

    # Where the time goes: the current round's ranking.
    ranking = cases[1]
    now = datetime.now(UTC)
    again = max(3, min(args.repeat, 10))
    steps, page = ranking_steps(
        app, filled.rounds["current"], again, now, lambda: pages["manager"].fetch(ranking.url)
    )
    print_steps(steps, page)
    print_sql(steps, db_path)
    print_profile(pages["manager"], ranking.url)

    worst = max(
        max(p95(timings[c.name].in_process), p95(timings[c.name].over_http or [0.0]))
        for c in cases
        if c.target
    )
    print(
        f"\ntarget: the ranking under {TARGET_MS:.0f} ms with {filled.branches} branches and "
        f"{filled.wishes:,} wishes on this {os.cpu_count()}-CPU machine: "
        f"{'MET' if worst < TARGET_MS else 'NOT MET'} (worst p95 of the ranking cases "
        f"{worst:.1f} ms)"
    )


if __name__ == "__main__":
    main()
