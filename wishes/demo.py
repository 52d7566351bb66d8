"""The demo hospital: the brief's organisation, twelve weeks of wishes in every state, and
twelve weeks of answers to the satisfaction questionnaire.

Wishes are drawn from the bundled training corpus (realistic texts with known branches)
and walked through the real state machine with back-dated times, so the demo's history
is exactly what the app itself would have recorded. Loading twice changes nothing.
"""

from __future__ import annotations

import csv
import dataclasses
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources

from sqlite_utils import Database

from . import (
    accounts,
    assessment,
    intake,
    lifecycle,
    notifications,
    organisation,
    questionnaires,
)
from .lifecycle import Actor, ClaimantKind, WishEntry
from .storage import TIMESTAMP_FORMAT, transaction

DEMO_WISHES = 360
DEMO_WEEKS = 12

# One account of each role (README: "Demo accounts"). Created only with the sample wishes,
# that is only into an empty database, never into a hospital's real one.
DEMO_PASSWORD = "light-a-wish-2026"
DEMO_USERS = [
    # username, role, branch, display name
    ("admin", "admin", None, "系统管理员"),
    ("manager", "manager", None, "院领导（演示）"),
    ("triager", "triager", None, "党建办小周"),
    ("inspector", "inspector", None, "考评组老陈"),
    ("secretary", "secretary", "pediatrics", "儿科支部书记"),
    ("member", "member", "pediatrics", "儿科护士小林"),
    ("member2", "member", "logistics", "后勤师傅老赵"),
]

FULFILMENT_NOTES = {
    "outpatient": [
        "志愿者已陪同完成挂号和就诊，并教会了手机预约。",
        "已帮您改约到下周二上午的专家号。",
    ],
    "medtech": ["检查已改约到您方便的时间，并电话告知了检查前准备。", "报告已打印并送到病房。"],
    "pharmacy": [
        "药师已到床旁讲解用法用量，并留下用药提醒卡。",
        "已安排药学门诊随访，解答了用药疑问。",
    ],
    "nursing": [
        "护士已上门示范护理方法，并留下了护理指导单。",
        "已为您联系陪护，并讲解了翻身和康复动作。",
    ],
    "pediatrics": [
        "儿科的叔叔阿姨们为孩子准备了生日蛋糕和绘本。",
        "已在儿科病区活动室添置玩具和绘本。",
    ],
    "logistics": [
        "已安排维修师傅处理，当天修好。",
        "护士站已配置吹风机、针线包和充电器，可随时借用。",
    ],
    "catering": ["营养食堂已为您安排治疗饮食，每日按时送到床旁。", "已增加病区开水供应时段。"],
    "finance": ["工作人员已上门讲解费用清单和医保报销流程。", "已协助申请困难救助。"],
    "office": [
        "您的意见已转达相关科室并整改，感谢您的监督。",
        "您的感谢已转达，并在科室进行了表扬。",
    ],
    "volunteer": ["志愿者每周两次到病房陪伴聊天、读报。", "志愿者已帮您代购生活用品并送到病房。"],
}
DECLINE_REASONS = [
    "这个需求超出了医院能够提供的服务范围，我们已为您留下社区服务中心的联系方式。",
    "出于安全原因病房内不能使用该电器，护士站可为您代为充电。",
]
# Wishes as vague as some patients write them: the router is unsure, so they wait for triage.
WAITING_WISH = "孩子在病房里过八岁生日，想要一个小蛋糕和一本恐龙绘本"
VAGUE_WISHES = [
    ("能不能帮帮忙，我有点事想问问", "office"),
    ("我想找个人说说", "volunteer"),
    ("有个事不知道找谁", "office"),
    ("希望有人来看看我们这边", "logistics"),
    ("我妈的事情能不能快一点", "outpatient"),
    ("東西不太夠用", "logistics"),
    ("想问一下那个单子的事", "finance"),
    ("晚上能不能有人来一下", "nursing"),
    ("孩子的事想请你们帮个忙", "pediatrics"),
    ("谢谢，还有一个小请求", "office"),
    ("吃的方面有点问题", "catering"),
    ("上次说的那个还没弄好", "logistics"),
]
# Departments of the organisation, as the claim form offers them (so patients read their names
# in their own language on the tracking page).
DEPARTMENT_CLAIMANTS = ["心血管内科病区", "门诊大厅", "老年医学科病区", "检验科"]
PERSON_CLAIMANTS = ["王护士长", "志愿者李阿姨", "张医生", "陈老师"]


@dataclass
class DemoReport:
    branches: int
    departments: int
    wishes_added: int
    wishes_total: int
    responses_added: int = 0
    rounds_added: int = 0


def _corpus() -> list[tuple[str, str]]:
    data = resources.files("wishes.routing").joinpath("data/wishes.csv")
    with data.open("r", encoding="utf-8") as handle:
        # The corpus's `label` is the wish's category; `branch` is the demo branch that
        # fulfils it in this story (not-a-wish rows have none and are left out).
        return [
            (row["text"], row["branch"])
            for row in csv.DictReader(handle)
            if row["branch"] != "none"
        ]


def _stamp(moment: datetime) -> str:
    return moment.strftime(TIMESTAMP_FORMAT)


def _create_users(db: Database) -> dict[str, Actor]:
    """The demo accounts, as actors: branch code (or role) -> the account acting for it."""
    actors = {}
    for username, role, branch, name in DEMO_USERS:
        user = accounts.find_user(db, username) or accounts.create_user(
            db, username, DEMO_PASSWORD, role, branch_code=branch, display_name=name
        )
        actors[branch or role] = Actor("staff", name, user["id"])
    return actors


# What patients wrote beside their answer, glad (True) or not (False); most write nothing.
RATING_COMMENTS = {
    True: ["", "", "", "谢谢你们，孩子很开心", "非常感谢，很贴心", "比想象的还快"],
    False: ["", "", "等了很久才有人来", "和我想要的不太一样"],
}


# Patients of one ward asking for the same thing in their own words, today: the board links
# each pair as similar (相似 1), and the office has merged the closest (below).
DEMO_TWINS = [
    ("病房的空调坏了，晚上热得睡不着", "病房空调坏了不制冷，能派人来修一下吗", "ward-cardiology"),
    (
        "想给住院的奶奶借一台轮椅推她下楼晒太阳",
        "奶奶腿脚不好，想借个轮椅带她去楼下走走",
        "ward-geriatrics",
    ),
    ("病房的热水器没有热水，没法洗澡", "卫生间热水器坏了，洗澡一直是凉水", "ward-orthopedics"),
    ("孩子住院快一个月了，想要几本绘本", "能不能给住院的孩子送几本故事书", "ward-pediatrics"),
]


def _twins(db: Database, now: datetime) -> int:
    """Submit DEMO_TWINS as they arrive: routed, then linked to their like."""
    for first, second, department in DEMO_TWINS:
        for hours_ago, text in ((20, first), (3, second)):
            route, routed_to = intake.route_and_place(db, text, department)
            entry = WishEntry(text=text, channel="phone", department_code=department)
            at = _stamp(now - timedelta(hours=hours_ago))
            intake.link_similar(db, lifecycle.submit(db, entry, route, routed_to, at=at))
    return 2 * len(DEMO_TWINS)


def _merge_a_pair(db: Database, office: Actor, at: str) -> None:
    """The office merged the most similar pair of open wishes at one branch: the board shows a
    wish that two patients asked for, and each one's tracking page says so."""
    pair = db.execute(
        """SELECT s.wish_id, s.other_id FROM similar_wishes s
           JOIN wishes a ON a.id = s.wish_id JOIN wishes b ON b.id = s.other_id
           WHERE a.state = 'open' AND b.state = 'open' AND a.branch_code = b.branch_code
           ORDER BY s.score DESC LIMIT 1"""
    ).fetchone()
    if pair:
        lifecycle.merge(db, pair[1], pair[0], office, at=at)


def _walk(
    db: Database,
    rng: random.Random,
    text: str,
    label: str,
    created: datetime,
    now: datetime,
    departments: list[str],
    branch_names: dict[str, str],
    staff: dict[str, Actor],
) -> None:
    """Submit one wish at `created` and move it as far as its age makes plausible."""
    age_days = (now - created).total_seconds() / 86400
    entry = WishEntry(
        text=text,
        channel=rng.choice(["kiosk", "phone", "phone"]),
        department_code=rng.choice(departments) if rng.random() < 0.8 else None,
        location=f"{rng.randint(1, 48)} 床" if rng.random() < 0.5 else "",
        patient_name=rng.choice(["", "", "王女士", "李大爷", "小刘妈妈"]),
        phone=f"13{rng.randint(0, 9)}{rng.randint(10000000, 99999999)}"
        if rng.random() < 0.4
        else "",
    )
    entry = dataclasses.replace(entry, contact_consent=bool(entry.phone))
    route, routed_to = intake.route_and_place(db, text, entry.department_code)
    wish = lifecycle.submit(db, entry, route, routed_to, at=_stamp(created))
    intake.link_similar(db, wish)
    moment = created

    def later(hours_low: float, hours_high: float) -> str | None:
        nonlocal moment
        moment = moment + timedelta(hours=rng.uniform(hours_low, hours_high))
        return _stamp(moment) if moment < now else None

    # Wishes from the last day are still fresh: some wait for triage, some for a claim.
    if wish["state"] == lifecycle.State.TRIAGE:
        if age_days < 1.5 and rng.random() < 0.6 or not (at := later(0.5, 20)):
            return
        lifecycle.triage(db, wish["id"], label, staff["triager"], at=at)
    elif wish["branch_code"] != label:
        # The router was wrong: the branch sends the wish on, and that is a lesson for it.
        if not (at := later(1, 20)):
            return
        lifecycle.reroute(db, wish["id"], label, staff["triager"], "不属于本支部的服务范围", at=at)
    branch = label
    actor = staff.get(branch) or Actor("staff", branch_names[branch])
    if rng.random() < 0.04 and (at := later(1, 30)):
        lifecycle.decline(db, wish["id"], actor, rng.choice(DECLINE_REASONS), at=at)
        return
    # A few wishes stall at every stage, so the board has overdue work to show.
    stalled = rng.random()
    if (age_days < 3 and rng.random() < 0.6) or stalled < 0.03 or not (at := later(0.5, 36)):
        return
    kind = rng.choices(list(ClaimantKind), weights=[6, 2, 2])[0]
    name = {
        ClaimantKind.BRANCH: branch_names[branch],
        ClaimantKind.DEPARTMENT: rng.choice(DEPARTMENT_CLAIMANTS),
        ClaimantKind.PERSON: actor.label if actor.user_id else rng.choice(PERSON_CLAIMANTS),
    }[kind]
    lifecycle.claim(db, wish["id"], actor, kind, name, at=at)
    if (age_days < 7 and rng.random() < 0.5) or stalled < 0.06:
        return
    if rng.random() < 0.5 and (at := later(1, 48)):
        lifecycle.start(db, wish["id"], actor, at=at)
    if (age_days < 10 and rng.random() < 0.4) or stalled < 0.08 or not (at := later(2, 24 * 6)):
        return
    lifecycle.fulfil(db, wish["id"], actor, rng.choice(FULFILMENT_NOTES[branch]), at=at)
    if rng.random() < 0.55 and (at := later(12, 96)):
        lifecycle.follow_up(db, wish["id"], actor, confirmed=rng.random() < 0.9, at=at)
    _rate(db, wish["id"], moment, now)


def _rate(db: Database, wish_id: int, moment: datetime, now: datetime) -> None:
    """Two in three patients answer "did it help?" on the tracking page, most of them glad; a
    draw of its own, so that the wishes' walks stay as they were."""
    draw = random.Random(wish_id)
    answered = moment + timedelta(hours=draw.uniform(2, 72))
    if draw.random() < 0.65 and answered < now:
        rating = draw.choices([5, 4, 3, 2, 1], weights=[55, 28, 10, 5, 2])[0]
        comment = draw.choice(RATING_COMMENTS[rating >= 4])
        lifecycle.rate(
            db,
            wish_id,
            rating,
            comment,
            language="zh_Hans",
            channel="phone",
            submission_id=f"demo-{wish_id}",
            at=_stamp(answered),
        )


def load(
    db: Database, *, seed: int = 2026, count: int = DEMO_WISHES, now: datetime | None = None
) -> DemoReport:
    """Load the organisation (always, idempotently), the sample wishes and the demo accounts.

    Sample wishes and accounts go only into a database that has no wishes yet: running the
    demo twice, or by mistake against a hospital's real data, adds nothing.
    """
    org = organisation.read_organisation_file()
    organisation.load_organisation(db, org)
    added = 0
    if not db.table("wishes").count:
        now = now or datetime.now(UTC)
        rng = random.Random(seed)
        corpus = _corpus()
        rng.shuffle(corpus)
        corpus = corpus[: count - len(VAGUE_WISHES)] + VAGUE_WISHES  # vague ones are recent
        departments = [d["code"] for d in org["departments"]]
        branch_names = organisation.branch_names(db)
        start = now - timedelta(weeks=DEMO_WEEKS)
        span = (now - start).total_seconds()
        moments = sorted(
            start + timedelta(seconds=span * rng.random() ** 0.8) for _ in range(count)
        )
        with transaction(db):
            staff = _create_users(db)
            for (text, label), created in zip(corpus, moments, strict=False):
                _walk(db, rng, text, label, created, now, departments, branch_names, staff)
                added += 1
            # The demo member's branch always has a wish waiting to be claimed, whatever
            # the draw above left open: the first thing a member is shown how to do.
            waiting = lifecycle.submit(
                db, WishEntry(text=WAITING_WISH, channel="kiosk"), None, at=_stamp(now)
            )
            lifecycle.triage(
                db,
                waiting["id"],
                "pediatrics",
                staff["triager"],
                category="child_joy",
                at=_stamp(now),
            )
            added += 1
            added += _twins(db, now)
            _merge_a_pair(db, staff["triager"], _stamp(now))
            # what came before the last day was seen: the demo's inboxes hold a day's news
            db.execute(
                "UPDATE inbox SET read_at = created_at WHERE created_at < ?",
                [_stamp(now - timedelta(days=1))],
            )
            notifications.settle_backlog(db, _stamp(now))
    responses = 0
    if not db.table("responses").count:
        responses = questionnaires.load_sample(
            db, random.Random(seed), now or datetime.now(UTC), DEMO_WEEKS
        )
    rounds = assessment.load_sample(db, random.Random(seed), now)
    return DemoReport(
        rounds_added=rounds,
        branches=len(org["branches"]),
        departments=len(org["departments"]),
        wishes_added=added,
        wishes_total=db.table("wishes").count,
        responses_added=responses,
    )
