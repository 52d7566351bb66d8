"""Twelve weeks of realistic answers to the default questionnaire, for the demo hospital.

Each department has its own level of satisfaction, the whole hospital improves slowly over
the weeks (the trend a manager should be able to see), and the answers to one response hang
together: a patient unhappy overall rarely recommends the hospital.
"""

from __future__ import annotations

import random
import secrets
from datetime import datetime, timedelta

from sqlite_utils import Database

from ..storage import TIMESTAMP_FORMAT, transaction
from . import comments, store

RESPONSES_PER_WEEK = 180
# Departments that tend to score lower (queues, pressure) or higher than the hospital.
LEANINGS = {
    "emergency": -0.6,
    "clinic-hall": -0.4,
    "radiology": -0.3,
    "lab": -0.2,
    "ward-pediatrics": 0.35,
    "ward-obstetrics": 0.3,
    "ward-rehabilitation": 0.25,
}
# How much each item follows the overall impression, and its own offset.
ITEMS = {
    "waiting": -0.5,
    "attitude": 0.25,
    "explanation": 0.05,
    "environment": 0.1,
    "cost": -0.25,
    "privacy": 0.15,
}
IMPROVE = {
    "waiting": 8,
    "wayfinding": 3,
    "communication": 3,
    "food": 2,
    "facilities": 3,
    "parking": 4,
    "billing": 2,
}
COMMENTS_GOOD = [
    "护士很耐心，谢谢你们！",
    "医生讲得很清楚，放心了。",
    "病房很干净，服务周到。",
    "志愿者帮我挂号取药，非常感谢。",
    "整体很满意，就是人有点多。",
]
COMMENTS_BAD = [
    "排队时间太长了，等了两个小时。",
    "检查预约要等一周，太久了。",
    "停车太难找车位。",
    "缴费窗口人太多，自助机经常坏。",
    "晚上病房有点吵，睡不好。",
]
COMMENTS_WISH = [
    "希望病房能有微波炉热饭。",
    "希望护士站能借到充电器。",
    "能不能在候诊区多放几把椅子？",
    "希望有人能教老人用自助机。",
    "要是病房晚上有热水就好了。",
]


def _scale(value: float) -> int:
    return max(1, min(5, round(value)))


def _recommend(overall: int, rng: random.Random) -> int:
    low, high = {5: (8, 10), 4: (6, 10), 3: (4, 8), 2: (1, 6), 1: (0, 4)}[overall]
    return rng.randint(low, high)


def load(db: Database, rng: random.Random, now: datetime, weeks: int) -> int:
    """Store `weeks` weeks of responses ending at `now`; returns how many."""
    questionnaire_id = store.ensure_default(db)
    version = store.latest_version(db, questionnaire_id)
    departments = [row["code"] for row in db.query("SELECT code FROM departments")]
    start = now - timedelta(weeks=weeks)
    count = 0
    readings: dict[str, comments.Reading] = {}
    with transaction(db):
        for week in range(weeks):
            progress = week / max(weeks - 1, 1)  # 0 → 1 over the demo's weeks
            for _ in range(rng.randint(RESPONSES_PER_WEEK - 40, RESPONSES_PER_WEEK + 40)):
                moment = start + timedelta(weeks=week, seconds=rng.uniform(0, 7 * 86400))
                if moment >= now:
                    continue
                department = rng.choice(departments) if rng.random() < 0.9 else None
                leaning = LEANINGS.get(department, 0) if department else 0
                mood = 3.85 + 0.35 * progress + leaning + rng.gauss(0, 0.8)
                overall = _scale(mood)
                data: dict = {"overall": overall, "recommend": _recommend(overall, rng)}
                for key, offset in ITEMS.items():
                    if rng.random() < 0.85:
                        data[key] = _scale(
                            mood
                            + offset
                            - (0.3 * (1 - progress) if key == "waiting" else 0)
                            + rng.gauss(0, 0.6)
                        )
                data["visit"] = rng.choice(
                    ["outpatient", "inpatient", "inpatient", "emergency", "family"]
                )
                if rng.random() < 0.5:
                    picks = set(
                        rng.choices(
                            list(IMPROVE), weights=list(IMPROVE.values()), k=rng.randint(1, 2)
                        )
                    )
                    data["improve"] = sorted(picks)
                comment = ""
                if rng.random() < 0.25:
                    pool = COMMENTS_GOOD if overall >= 4 else COMMENTS_BAD
                    comment = rng.choice(COMMENTS_WISH if rng.random() < 0.2 else pool)
                    data["comment"] = comment
                if comment not in readings:  # the demo's comments come from short lists
                    readings[comment] = comments.read(comment)
                reading = readings[comment]
                store.store_response(
                    db,
                    version,
                    store.answers_from(version, data),
                    submission_id=secrets.token_hex(16),
                    department_code=department,
                    channel=rng.choice(["kiosk", "phone", "phone"]),
                    comment_tags=reading.tags,
                    comment_sentiment=reading.sentiment,
                    comment_category=reading.category,
                    at=moment.strftime(TIMESTAMP_FORMAT),
                )
                count += 1
    return count
