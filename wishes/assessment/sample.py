"""The demo's assessment rounds: the two quarters before this one, published, and this quarter's
round in self-assessment, so the ranking, the branch sheets, the reports and the corridor screen
all have something to show.

Every score goes through the store like a person's would (so each is in the audit log). Each
branch has its own standing that drifts between rounds; the inspection team marks some items
down with a reason. The demo's wishes cover only the last twelve weeks, so the past rounds'
computed figures are invented from the same standing and frozen as publishing freezes real
ones; the current round's are computed from the demo wishes and answers.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from sqlite_utils import Database

from .. import audit, organisation
from . import store
from .store import Round

OFFICE = audit.Who(label="triager")
INSPECTOR = audit.Who(label="inspector")
# What an inspection team writes when it marks an item down, by area.
CHANGE_REASONS = {
    "organisational_life": [
        "会议记录不全，缺少两次支委会记录，酌情扣分。",
        "活动照片和签到表与方案不一致，按细则扣分。",
    ],
    "branch_building": ["党员发展档案缺少政审材料，扣 1 分。", "支委分工表未随换届更新。"],
    "service": ["先锋岗名单未在科室公示。"],
    "rules": ["制度汇编未随上级新规更新，扣 2 分。", "意识形态研判记录只有两个季度。"],
    "positions": ["宣传栏内容超过一个季度未更新。", "党员活动室使用登记不完整。"],
}
NOTES = [
    "见会议记录本第 3–18 页及签到表。",
    "相关照片和签到表已上传。",
    "台账已整理归档，可现场查阅。",
    "详见支部工作总结第二部分。",
]


def _quarter(day: date) -> tuple[date, date]:
    start = 3 * ((day.month - 1) // 3) + 1
    following = date(day.year + 1, 1, 1) if start == 10 else date(day.year, start + 3, 1)
    return date(day.year, start, 1), following - timedelta(days=1)


def _quarters(today: date, count: int) -> list[tuple[date, date]]:
    """The last `count` quarters, oldest first, ending with the one containing today."""
    out = [_quarter(today)]
    while len(out) < count:
        out.insert(0, _quarter(out[0][0] - timedelta(days=1)))
    return out


def _name(first: date) -> str:
    return f"{first.year} Q{(first.month - 1) // 3 + 1}"


def _clamp(value: float) -> float:
    return max(0.0, min(1.0, value))


def _points(rng: random.Random, maximum: float, standing: float) -> float:
    return round(maximum * _clamp(standing + rng.gauss(0, 0.05)) * 2) / 2


def _computed_snapshot(rng: random.Random, current: Round, standing: dict[str, float]) -> dict:
    """Invented figures for a past round, as publishing would have frozen them."""
    out: dict[str, dict[str, tuple[float | None, int]]] = {}
    for code in current.branch_codes:
        q = standing[code]
        out[code] = {}
        for item in current.scheme.items:
            if item["scoring"] != "computed":
                continue
            lo, hi = item["thresholds"][0][0], item["thresholds"][-1][0]
            if item["metric"] == "median_fulfil_hours":
                figure = hi - (hi - lo) * _clamp(q + rng.gauss(0, 0.06))
            else:
                figure = lo + (hi - lo) * _clamp(q + rng.gauss(0, 0.06)) + rng.uniform(-2, 2)
            count = (
                rng.randint(8, 60) if item["metric"] != "served_top_box" else rng.randint(40, 400)
            )
            out[code][item["key"]] = (round(figure, 1), count)
    return out


def _self_assess(
    db: Database, rng: random.Random, current: Round, code: str, q: float, share: float = 1.0
) -> None:
    secretary = audit.Who(label=f"{code}-secretary")
    for item in current.scheme.items:
        if item["scoring"] == "manual" and rng.random() < share:
            points = _points(rng, item["points"], q + 0.03)  # branches rate themselves kindly
            if item["veto"]:
                points = max(points, item["points"] * 0.8)
            store.self_assess(db, current, code, item["key"], points, rng.choice(NOTES), secretary)


def _inspect(
    db: Database, rng: random.Random, current: Round, code: str, vetoed: str | None
) -> None:
    scored = store.scores(db, current.id, code)
    area_of = {i["key"]: a["key"] for a in current.scheme.definition["areas"] for i in a["items"]}
    for item in current.scheme.items:
        if item["scoring"] != "manual":
            continue
        own = scored[(code, item["key"])]["self_points"]
        points, reason = own, ""
        if item["key"] == vetoed:
            points, reason = 0.0, "逾期未换届，按细则本项不得分并一票否决。"
        elif rng.random() < 0.18:
            points = max(0.0, own - rng.choice([1, 1.5, 2, 3]))
            reason = rng.choice(CHANGE_REASONS[area_of[item["key"]]])
        store.inspect(db, current, code, item["key"], points, reason, INSPECTOR)


def _saved_round(db: Database, round_id: int) -> Round:
    """The round just created or moved."""
    current = store.get_round(db, round_id)
    if current is None:
        raise LookupError(round_id)
    return current


def load(db: Database, rng: random.Random, now: datetime | None = None) -> int:
    """Add the demo rounds when there are none; return how many were added."""
    store.ensure_default(db)
    if store.rounds(db):
        return 0
    today = (now or datetime.now(UTC)).date()
    codes = [b["code"] for b in organisation.branches(db)]
    standing = {code: rng.uniform(0.7, 0.96) for code in codes}
    quarters = _quarters(today, 3)
    for number, (first, last) in enumerate(quarters):
        round_id = store.create_round(db, _name(first), first, last, codes, OFFICE)
        current = _saved_round(db, round_id)
        past = number < len(quarters) - 1
        for code in codes:
            # This quarter: some branches are done, some half way (the demo secretary's too).
            share = 1.0 if past else 0.6 if code == "pediatrics" else rng.choice([1, 1, 0.6, 0.3])
            _self_assess(db, rng, current, code, standing[code], share)
        if not past:
            break
        store.move(db, current, store.RoundMove.CLOSE_SELF_ASSESSMENT, OFFICE)
        current = _saved_round(db, round_id)
        vetoed = codes[-1] if number == 0 else None  # one overdue election, the first round
        for code in codes:
            _inspect(db, rng, current, code, "setup_and_election" if code == vetoed else None)
        store.move(
            db,
            current,
            store.RoundMove.PUBLISH,
            OFFICE,
            snapshot=_computed_snapshot(rng, current, standing),
        )
        standing = {code: _clamp(q + rng.gauss(0.01, 0.012)) for code, q in standing.items()}
    return len(quarters)
