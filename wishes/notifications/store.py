"""The `notifications` table: the queue, its retries and what was delivered."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlite_utils import Database

from ..storage import TIMESTAMP_FORMAT, transaction

# Backoff after the n-th failed attempt: 30 s, 1 min, 2 min … capped at one hour; after
# MAX_ATTEMPTS the notification is marked failed and stays in the table for the record.
FIRST_RETRY_SECONDS = 30
MAX_RETRY_SECONDS = 3600
MAX_ATTEMPTS = 12

# The kinds beside the branch's `assigned` and `overdue`: a text to the patient, and a state
# change for the hospital's systems (webhooks out).
PATIENT_TEXT = "patient_text"
STATE_CHANGE = "state_change"
# A staff member's inbox item that they chose to have on their branch's webhook (wishes/inbox).
INBOX = "inbox"
# Why a text was not sent (the delivery log shows it).
STOPPED = "患者已退订短信"
ERASED = "患者电话已删除"
NO_CONSENT = "患者未同意联系"


def enqueue(
    db: Database,
    *,
    kind: str,
    dedupe_key: str,
    wish_id: int | None,
    branch_code: str | None,
    at: str,
    message: str = "",
    payload: str | None = None,
) -> bool:
    """Queue a notification unless one with the same key exists; True if it was queued."""
    cursor = db.execute(
        "INSERT OR IGNORE INTO notifications (kind, dedupe_key, wish_id, branch_code, message,"
        " payload, created_at, attempts, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)",
        [kind, dedupe_key, wish_id, branch_code, message, payload, at, at],
    )
    return cursor.rowcount == 1


def due(db: Database, now: str, limit: int = 50) -> list[dict[str, Any]]:
    """Undelivered notifications whose next attempt is due, oldest first."""
    return list(
        db.query(
            "SELECT n.*, w.tracking_code, w.text AS wish_text, b.name AS branch_name, "
            "b.webhook_url AS branch_webhook_url, "
            "w.phone, w.contact_consent, w.language, w.texts_stop_token, w.texts_stopped_at "
            "FROM notifications n LEFT JOIN wishes w ON w.id = n.wish_id "
            "LEFT JOIN branches b ON b.code = n.branch_code "
            "WHERE n.delivered_at IS NULL AND n.failed_at IS NULL AND n.next_attempt_at <= ? "
            "ORDER BY n.next_attempt_at, n.id LIMIT ?",
            [now, limit],
        )
    )


def retry_delay(attempts: int) -> timedelta:
    return timedelta(seconds=min(FIRST_RETRY_SECONDS * 2 ** (attempts - 1), MAX_RETRY_SECONDS))


def _attempt(
    db: Database, notification_id: int, now: str, ok: bool, status: int | None, error: str
) -> None:
    """Every attempt is kept (the delivery log shows them); `error` is already masked."""
    db.execute(
        "INSERT INTO notification_attempts (notification_id, at, ok, status, error)"
        " VALUES (?, ?, ?, ?, ?)",
        [notification_id, now, int(ok), status, error[:500] or None],
    )


def mark_delivered(db: Database, notification_id: int, now: str, status: int | None = None) -> None:
    with transaction(db):
        db.execute(
            "UPDATE notifications SET delivered_at = ?, attempts = attempts + 1 WHERE id = ?",
            [now, notification_id],
        )
        _attempt(db, notification_id, now, True, status, "")


def mark_dropped(db: Database, notification_id: int, now: str, reason: str) -> None:
    """A notification that must not go out any more (a patient stopped texts, or their number
    was erased): closed without an attempt, never retried."""
    with transaction(db):
        db.execute(
            "UPDATE notifications SET failed_at = ?, last_error = ? WHERE id = ?",
            [now, reason[:500], notification_id],
        )


def mark_failed_attempt(
    db: Database, notification_id: int, now: str, error: str, status: int | None = None
) -> None:
    """Record a failed delivery: retry later with backoff, or give up after MAX_ATTEMPTS."""
    with transaction(db):
        _attempt(db, notification_id, now, False, status, error)
        row = db.execute(
            "SELECT attempts FROM notifications WHERE id = ?", [notification_id]
        ).fetchone()
        attempts = (row[0] if row else 0) + 1
        moment = datetime.strptime(now, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
        next_at = (moment + retry_delay(attempts)).strftime(TIMESTAMP_FORMAT)
        db.execute(
            "UPDATE notifications SET attempts = ?, last_error = ?, next_attempt_at = ?,"
            " failed_at = CASE WHEN ? >= ? THEN ? END WHERE id = ?",
            [attempts, error[:500], next_at, attempts, MAX_ATTEMPTS, now, notification_id],
        )


def settle_backlog(db: Database, at: str) -> int:
    """Mark everything queued as delivered without sending it (the demo's back-dated history
    must not flood a real branch group); returns how many."""
    cursor = db.execute(
        "UPDATE notifications SET delivered_at = ? "
        "WHERE delivered_at IS NULL AND failed_at IS NULL",
        [at],
    )
    return cursor.rowcount


# The delivery log (/admin/deliveries): newest first, one page at a time.
DELIVERY_COLUMNS = (
    "n.id, n.kind, n.wish_id, n.branch_code, n.created_at, n.attempts, n.next_attempt_at, "
    "n.delivered_at, n.failed_at, n.last_error, w.tracking_code"
)


def deliveries(db: Database, kind: str | None, limit: int, offset: int = 0) -> list[dict[str, Any]]:
    where = "WHERE n.kind = ?" if kind else ""
    return list(
        db.query(
            f"SELECT {DELIVERY_COLUMNS} FROM notifications n "
            f"LEFT JOIN wishes w ON w.id = n.wish_id {where} ORDER BY n.id DESC LIMIT ? OFFSET ?",
            [*([kind] if kind else []), limit, offset],
        )
    )


def count_deliveries(db: Database, kind: str | None) -> int:
    where = "WHERE kind = ?" if kind else ""
    return db.execute(
        f"SELECT count(*) FROM notifications {where}", [kind] if kind else []
    ).fetchone()[0]


def replay(db: Database, notification_id: int, now: str) -> dict[str, Any] | None:
    """Queue one notification again, due now, with a full set of retries (the caller holds
    the transaction and audits it); its earlier attempts stay in the log. None: no such."""
    rows = list(
        db.query("SELECT id, kind, wish_id FROM notifications WHERE id = ?", [notification_id])
    )
    if not rows:
        return None
    db.execute(
        "UPDATE notifications SET delivered_at = NULL, failed_at = NULL, attempts = 0, "
        "next_attempt_at = ?, last_error = NULL WHERE id = ?",
        [now, notification_id],
    )
    return rows[0]


def wish_for_texts(db: Database, wish_id: int) -> dict[str, Any] | None:
    """What a change needs to know to queue a text and a webhook (read inside its move)."""
    rows = db.query(
        "SELECT tracking_code, category, phone, contact_consent, texts_stopped_at "
        "FROM wishes WHERE id = ?",
        [wish_id],
    )
    return next(iter(rows), None)


def stop_texts(db: Database, tracking_code: str, token: str, now: str) -> bool:
    """The patient's stop link: no more texts for this wish, queued ones included. False when
    the token is not this wish's (the caller compares nothing itself)."""
    with transaction(db):
        row = db.execute(
            "SELECT id, texts_stop_token FROM wishes WHERE tracking_code = ?", [tracking_code]
        ).fetchone()
        if row is None or not row[1] or not secrets.compare_digest(row[1], token):
            return False
        db.execute(
            "UPDATE wishes SET texts_stopped_at = coalesce(texts_stopped_at, ?) WHERE id = ?",
            [now, row[0]],
        )
        db.execute(
            "UPDATE notifications SET failed_at = ?, last_error = ? WHERE wish_id = ? "
            "AND kind = ? AND delivered_at IS NULL AND failed_at IS NULL",
            [now, STOPPED, row[0], PATIENT_TEXT],
        )
    return True


def attempts_for(db: Database, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Every attempt of these notifications, by notification, oldest first."""
    found: dict[int, list[dict[str, Any]]] = {}
    if not ids:
        return found
    marks = ", ".join("?" * len(ids))
    for row in db.query(
        f"SELECT notification_id, at, ok, status, error FROM notification_attempts "
        f"WHERE notification_id IN ({marks}) ORDER BY id",
        ids,
    ):
        found.setdefault(row["notification_id"], []).append(row)
    return found
