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

# The log's events are named by strings ("login", "phone_revealed"…); what an admin reads
# for each is in glossary.AUDIT_EVENTS. Every change of a wish (wish_events) is shown in the
# same log as "wish_<action>" (glossary.WISH_EVENTS).
WISH_EVENT = "wish_"

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
    db: Database,
    *,
    action: str = "",
    actor: str = "",
    subject: str = "",
    since: str = "",
    before: str = "",
    page: int = 1,
) -> tuple[list[dict[str, Any]], int]:
    """A page of the log (audit events and wish changes), newest first, filtered; and how
    many match. `subject` is an object's number or a wish's tracking code; `since` and
    `before` are stored timestamps ([since, before))."""
    clauses, params = [], {}
    if action:
        clauses.append("action = :action")
        params["action"] = action
    if actor:
        clauses.append("actor_label = :actor")
        params["actor"] = actor
    if subject:
        clauses.append(
            "(subject_id = :subject OR (subject_kind = 'wish' AND subject_id = "
            "(SELECT CAST(id AS TEXT) FROM wishes WHERE tracking_code = upper(:subject))))"
        )
        params["subject"] = subject
    if since:
        clauses.append("at >= :since")
        params["since"] = since
    if before:
        clauses.append("at < :before")
        params["before"] = before
    where = " AND ".join(clauses) or "1"
    sources = [_AUDIT_EVENTS, _WISH_EVENTS_AS_AUDIT]
    if action:  # an action lives in one of the two tables
        sources = [_WISH_EVENTS_AS_AUDIT if action.startswith(WISH_EVENT) else _AUDIT_EVENTS]
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


# The name of each kind of object, by its stored number: what the log shows instead of ids.
_NAMES = {
    "wish": "SELECT CAST(id AS TEXT), tracking_code FROM wishes WHERE id IN ({})",
    "user": (
        "SELECT CAST(id AS TEXT), coalesce(nullif(display_name, ''), username) FROM users "
        "WHERE id IN ({})"
    ),
    "kiosk": "SELECT CAST(id AS TEXT), name FROM kiosk_devices WHERE id IN ({})",
    "questionnaire": "SELECT CAST(id AS TEXT), slug FROM questionnaires WHERE id IN ({})",
    "assessment": "SELECT CAST(id AS TEXT), name FROM assessment_rounds WHERE id IN ({})",
}


def subject_names(db: Database, rows: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(kind, number) → name for the objects of `rows` that still exist. An assessment's
    subject is `round[:branch:item]`: its round is named."""
    wanted: dict[str, set[str]] = {}
    for row in rows:
        kind, number = row["subject_kind"], (row["subject_id"] or "").split(":")[0]
        if kind in _NAMES and number.isdigit():
            wanted.setdefault(kind, set()).add(number)
    names = {}
    for kind, numbers in wanted.items():
        sql = _NAMES[kind].format(", ".join("?" * len(numbers)))
        names.update({(kind, number): name for number, name in db.execute(sql, sorted(numbers))})
    return names
