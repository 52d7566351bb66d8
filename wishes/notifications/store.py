"""The `notifications` table: the queue, its retries and what was delivered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlite_utils import Database

from ..storage import TIMESTAMP_FORMAT, transaction

# Backoff after the n-th failed attempt: 30 s, 1 min, 2 min … capped at one hour; after
# MAX_ATTEMPTS the notification is marked failed and stays in the table for the record.
FIRST_RETRY_SECONDS = 30
MAX_RETRY_SECONDS = 3600
MAX_ATTEMPTS = 12


def enqueue(
    db: Database,
    *,
    kind: str,
    dedupe_key: str,
    wish_id: int | None,
    branch_code: str | None,
    at: str,
    message: str = "",
) -> bool:
    """Queue a notification unless one with the same key exists; True if it was queued."""
    cursor = db.execute(
        "INSERT OR IGNORE INTO notifications (kind, dedupe_key, wish_id, branch_code, message,"
        " created_at, attempts, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
        [kind, dedupe_key, wish_id, branch_code, message, at, at],
    )
    return cursor.rowcount == 1


def due(db: Database, now: str, limit: int = 50) -> list[dict[str, Any]]:
    """Undelivered notifications whose next attempt is due, oldest first."""
    return list(
        db.query(
            "SELECT n.*, w.tracking_code, w.text AS wish_text, b.name AS branch_name "
            "FROM notifications n LEFT JOIN wishes w ON w.id = n.wish_id "
            "LEFT JOIN branches b ON b.code = n.branch_code "
            "WHERE n.delivered_at IS NULL AND n.failed_at IS NULL AND n.next_attempt_at <= ? "
            "ORDER BY n.next_attempt_at, n.id LIMIT ?",
            [now, limit],
        )
    )


def retry_delay(attempts: int) -> timedelta:
    return timedelta(seconds=min(FIRST_RETRY_SECONDS * 2 ** (attempts - 1), MAX_RETRY_SECONDS))


def mark_delivered(db: Database, notification_id: int, now: str) -> None:
    with transaction(db):
        db.execute(
            "UPDATE notifications SET delivered_at = ?, attempts = attempts + 1 WHERE id = ?",
            [now, notification_id],
        )


def mark_failed_attempt(db: Database, notification_id: int, now: str, error: str) -> None:
    """Record a failed delivery: retry later with backoff, or give up after MAX_ATTEMPTS."""
    with transaction(db):
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
