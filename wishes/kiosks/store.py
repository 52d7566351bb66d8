"""SQL of the registered kiosks."""

from __future__ import annotations

from sqlite_utils import Database

from ..storage import transaction, utcnow


def add(db: Database, name: str, token_hash: str, user_id: int) -> int:
    with transaction(db):
        cursor = db.execute(
            "INSERT INTO kiosk_devices (name, token_hash, registered_by, registered_at) "
            "VALUES (?, ?, ?, ?)",
            [name, token_hash, user_id, utcnow()],
        )
    return int(cursor.lastrowid or 0)


def active_id(db: Database, token_hash: str) -> int | None:
    row = db.execute(
        "SELECT id FROM kiosk_devices WHERE token_hash = ? AND revoked_at IS NULL", [token_hash]
    ).fetchone()
    return row[0] if row else None


def every(db: Database) -> list[dict]:
    """Active kiosks first, newest first; who registered each."""
    return list(
        db.query(
            """SELECT k.id, k.name, k.registered_at, k.revoked_at,
                      coalesce(u.display_name, u.username) AS registered_by
               FROM kiosk_devices k LEFT JOIN users u ON u.id = k.registered_by
               ORDER BY k.revoked_at IS NOT NULL, k.id DESC"""
        )
    )


def revoke(db: Database, kiosk_id: int) -> str | None:
    """Stop recognising a kiosk; its name, or None when there is no such active kiosk."""
    with transaction(db):
        row = db.execute(
            "UPDATE kiosk_devices SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL "
            "RETURNING name",
            [utcnow(), kiosk_id],
        ).fetchone()
    return row[0] if row else None
