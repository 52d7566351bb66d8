"""The append-only audit log (table `audit_events`): who did what to whom, when, from where.

Staff logins (success and failure), account changes, phone reveals and exports are
recorded here; wish changes have their own events in `wish_events`, and the admin's log
(`events`) reads both as one. Both tables refuse UPDATE and DELETE (triggers in migrations
0003 and 0008). Nothing secret goes in: no password, no token, no full phone number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from .storage import transaction, utcnow

# action -> what an admin reads in the log
ACTIONS = {
    "login": "登录成功",
    "login_failed": "登录失败",
    "login_throttled": "登录被限速",
    "logout": "退出登录",
    "password_changed": "修改密码",
    "password_reset": "重置密码",
    "user_created": "创建用户",
    "user_updated": "修改用户",
    "staff_imported": "批量导入员工",
    "staff_phone_revealed": "查看员工电话",
    "phone_revealed": "查看患者电话",
    "exported": "导出数据",
    "questionnaire_saved": "保存问卷草稿",
    "questionnaire_published": "发布问卷",
    "database_restored": "从备份恢复数据库",
    "assessment_scheme_saved": "考评：保存考评方案",
    "assessment_round_created": "考评：新建轮次",
    "assessment_stage_changed": "考评：变更阶段",
    "assessment_self_scored": "考评：支部自评",
    "assessment_inspected": "考评：考评组评分",
    "assessment_attachment_added": "考评：上传佐证材料",
}
# Every change of a wish (wish_events), shown in the same log.
WISH_ACTIONS = {
    "wish_submit": "心愿：患者提交",
    "wish_route": "心愿：模型分派",
    "wish_triage": "心愿：分诊",
    "wish_claim": "心愿：认领",
    "wish_hand_back": "心愿：退回",
    "wish_reroute": "心愿：转派",
    "wish_start": "心愿：开始办理",
    "wish_fulfil": "心愿：登记实现",
    "wish_follow_up": "心愿：回访",
    "wish_decline": "心愿：未能实现",
}
LOG_ACTIONS = {**ACTIONS, **WISH_ACTIONS}

# wish_events in the shape of audit_events, so that one query pages through both.
_WISH_EVENTS_AS_AUDIT = """
    SELECT at, 'wish_' || action AS action, actor_user_id, actor_label, '' AS address,
           'wish' AS subject_kind, CAST(wish_id AS TEXT) AS subject_id,
           json_object('from', from_state, 'to', to_state, 'branch', branch_code,
                       'reason', reason) AS detail, 1 AS source, id
    FROM wish_events
"""
_AUDIT_EVENTS = """
    SELECT at, action, actor_user_id, actor_label, address, subject_kind, subject_id,
           detail, 0 AS source, id
    FROM audit_events
"""
PER_PAGE = 50


@dataclass(frozen=True)
class Who:
    """The actor and the address a request came from."""

    user_id: int | None = None
    label: str = ""
    address: str = ""


def record(
    db: Database,
    action: str,
    who: Who,
    *,
    subject_kind: str | None = None,
    subject_id: Any = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit event (joins the caller's transaction if there is one)."""
    with transaction(db):
        db.table("audit_events").insert(
            {
                "at": utcnow(),
                "action": action,
                "actor_user_id": who.user_id,
                "actor_label": who.label[:80],
                "address": who.address[:64],
                "subject_kind": subject_kind,
                "subject_id": None if subject_id is None else str(subject_id),
                "detail": json.dumps(detail, ensure_ascii=False) if detail else None,
            }
        )


def events(
    db: Database, *, action: str = "", actor: str = "", subject: str = "", page: int = 1
) -> tuple[list[dict[str, Any]], int]:
    """A page of the log (audit events and wish changes), newest first, filtered; and how
    many match."""
    clauses, params = [], {}
    if action:
        clauses.append("action = :action")
        params["action"] = action
    if actor:
        clauses.append("actor_label = :actor")
        params["actor"] = actor
    if subject:
        clauses.append("subject_id = :subject")
        params["subject"] = subject
    where = " AND ".join(clauses) or "1"
    sources = [_AUDIT_EVENTS, _WISH_EVENTS_AS_AUDIT]
    if action:  # an action lives in one of the two tables
        sources = [_WISH_EVENTS_AS_AUDIT if action in WISH_ACTIONS else _AUDIT_EVENTS]
    union = " UNION ALL ".join(f"SELECT * FROM ({source}) WHERE {where}" for source in sources)
    total = db.execute(f"SELECT count(*) FROM ({union})", params).fetchone()[0]
    rows = list(
        db.query(
            f"SELECT * FROM ({union}) ORDER BY at DESC, source, id DESC LIMIT :n OFFSET :skip",
            {**params, "n": PER_PAGE, "skip": (max(page, 1) - 1) * PER_PAGE},
        )
    )
    for row in rows:
        detail = json.loads(row["detail"]) if row["detail"] else {}
        row["detail"] = {key: value for key, value in detail.items() if value is not None}
    return rows, total
