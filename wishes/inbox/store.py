"""The `inbox` and `inbox_webhook_kinds` tables."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlite_utils import Database

from ..accounts import BRANCH_ROLES, Role, active_staff
from ..notifications import INBOX, enqueue
from ..storage import transaction

NEW_WISH = "new_wish"  # a wish reached my branch (routed, triaged, re-routed)
ASSIGNED = "assigned"  # my secretary assigned a claimed wish to me
OVERDUE = "overdue"  # a wish I answer for waited too long
SENT_BACK = "sent_back"  # a patient's low answer sent a wish I answer for back
KINDS = (NEW_WISH, ASSIGNED, OVERDUE, SENT_BACK)


def branch_people(db: Database, branch_code: str | None, roles: Iterable[str] = ()) -> list[int]:
    """The active members and secretary of a branch (only `roles`, when given); a wish with no
    branch waits for the Party-building office: its triagers."""
    if branch_code is None:
        return [user_id for user_id, _ in active_staff(db, [Role.TRIAGER])]
    return [user_id for user_id, _ in active_staff(db, tuple(roles) or BRANCH_ROLES, branch_code)]


def deliver(
    db: Database, user_ids: Iterable[int | None], wish_id: int, kind: str, key: str, at: str
) -> None:
    """Put one item in each person's inbox (once per `key`: a retried change adds none), inside
    the caller's transaction; if any of them chose to have this kind on the branch's webhook,
    queue one message there, naming them."""
    people = sorted({user_id for user_id in user_ids if user_id is not None})
    if not people:
        return
    db.conn.executemany(
        "INSERT OR IGNORE INTO inbox (user_id, wish_id, kind, dedupe_key, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        [(user_id, wish_id, kind, key, at) for user_id in people],
    )
    marks = ", ".join("?" * len(people))
    rows = db.execute(
        f"""SELECT u.branch_code, coalesce(nullif(u.display_name, ''), u.username)
            FROM inbox_webhook_kinds k JOIN users u ON u.id = k.user_id
            WHERE k.kind = ? AND k.user_id IN ({marks}) AND u.branch_code IS NOT NULL
            ORDER BY u.id""",
        [kind, *people],
    ).fetchall()
    by_branch: dict[str, list[str]] = {}
    for branch_code, name in rows:
        by_branch.setdefault(branch_code, []).append(name)
    for branch_code, names in by_branch.items():
        enqueue(
            db,
            kind=INBOX,
            dedupe_key=f"inbox:{branch_code}:{key}",
            wish_id=wish_id,
            branch_code=branch_code,
            at=at,
            message=kind,
            payload=json.dumps({"kind": kind, "people": names}, ensure_ascii=False),
        )


def items(db: Database, user_id: int, limit: int, offset: int = 0) -> list[dict[str, Any]]:
    """One page of a person's inbox, newest first, with the wish each item is about."""
    return list(
        db.query(
            """SELECT i.*, w.tracking_code, w.text, w.state, w.category, b.name AS branch_name
               FROM inbox i JOIN wishes w ON w.id = i.wish_id
               LEFT JOIN branches b ON b.code = w.branch_code
               WHERE i.user_id = ? ORDER BY i.id DESC LIMIT ? OFFSET ?""",
            [user_id, limit, offset],
        )
    )


def count(db: Database, user_id: int) -> int:
    return db.execute("SELECT count(*) FROM inbox WHERE user_id = ?", [user_id]).fetchone()[0]


def unread_count(db: Database, user_id: int) -> int:
    """A partial index over the unread items: as many rows as are unread."""
    sql = "SELECT count(*) FROM inbox WHERE user_id = ? AND read_at IS NULL"
    return db.execute(sql, [user_id]).fetchone()[0]


def open_item(db: Database, user_id: int, item_id: int, at: str) -> int | None:
    """Mark one of the person's items read; the wish it is about (None: not theirs)."""
    with transaction(db):
        row = db.execute(
            "SELECT wish_id FROM inbox WHERE id = ? AND user_id = ?", [item_id, user_id]
        ).fetchone()
        if row is not None:
            db.execute(
                "UPDATE inbox SET read_at = ? WHERE id = ? AND read_at IS NULL", [at, item_id]
            )
    return row[0] if row else None


def mark_all_read(db: Database, user_id: int, at: str) -> int:
    with transaction(db):
        cursor = db.execute(
            "UPDATE inbox SET read_at = ? WHERE user_id = ? AND read_at IS NULL", [at, user_id]
        )
    return cursor.rowcount


def mark_wish_read(db: Database, user_id: int, wish_id: int, at: str) -> None:
    """Opening a wish's page reads what the inbox said about it. Looked up first: a page with
    nothing unread about it takes no write lock."""
    if db.execute(
        "SELECT 1 FROM inbox WHERE user_id = ? AND wish_id = ? AND read_at IS NULL",
        [user_id, wish_id],
    ).fetchone():
        with transaction(db):
            db.execute(
                "UPDATE inbox SET read_at = ? "
                "WHERE user_id = ? AND wish_id = ? AND read_at IS NULL",
                [at, user_id, wish_id],
            )


def webhook_kinds(db: Database, user_id: int) -> set[str]:
    sql = "SELECT kind FROM inbox_webhook_kinds WHERE user_id = ?"
    return {row[0] for row in db.execute(sql, [user_id])}


def set_webhook_kinds(db: Database, user_id: int, kinds: Iterable[str]) -> None:
    with transaction(db):
        db.execute("DELETE FROM inbox_webhook_kinds WHERE user_id = ?", [user_id])
        db.conn.executemany(
            "INSERT INTO inbox_webhook_kinds (user_id, kind) VALUES (?, ?)",
            [(user_id, kind) for kind in KINDS if kind in set(kinds)],
        )
