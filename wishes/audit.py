"""The append-only audit log (table `audit_events`): who did what to whom, when, from where.

Staff logins (success and failure), account changes, phone reveals and exports are
recorded here; wish changes have their own events in `wish_events`. The table refuses
UPDATE and DELETE (triggers in migration 0003). Nothing secret goes in: no password, no
token, no full phone number.
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
    "phone_revealed": "查看患者电话",
    "exported": "导出数据",
    "questionnaire_saved": "保存问卷草稿",
    "questionnaire_published": "发布问卷",
}
PER_PAGE = 50


@dataclass(frozen=True)
class Who:
    """The actor and the address a request came from."""

    user_id: int | None = None
    label: str = ""
    address: str = ""


def record(db: Database, action: str, who: Who, *, subject_kind: str | None = None,
           subject_id: Any = None, detail: dict[str, Any] | None = None) -> None:  # fmt: skip
    """Append one audit event (joins the caller's transaction if there is one)."""
    with transaction(db):
        db["audit_events"].insert(
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


def events(db: Database, *, action: str = "", actor: str = "", subject: str = "",
           page: int = 1) -> tuple[list[dict[str, Any]], int]:  # fmt: skip
    """A page of audit events, newest first, filtered; and how many match."""
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
    total = db.execute(f"SELECT count(*) FROM audit_events WHERE {where}", params).fetchone()[0]
    rows = list(
        db.query(
            f"SELECT * FROM audit_events WHERE {where} ORDER BY id DESC LIMIT :n OFFSET :skip",
            {**params, "n": PER_PAGE, "skip": (max(page, 1) - 1) * PER_PAGE},
        )
    )
    for row in rows:
        row["detail"] = json.loads(row["detail"]) if row["detail"] else {}
    return rows, total
