"""SQL for patients' personal data on `wishes`: the name and phone number a patient gave, found
and erased. Nothing else of a wish is read or changed here."""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

# The columns of `wishes` that hold a patient's personal data. The notification queue holds
# none (a row names its wish by id), nor does any other table: the comment of a patient's
# answer on the tracking page (`wish_ratings`) is kept as the wish's own text is.
PERSONAL_COLUMNS = ("patient_name", "phone")
_HOLDS_SOME = "(patient_name IS NOT NULL OR phone IS NOT NULL)"  # idx_wishes_personal_data_closed


def closed_before(db: Database, cutoff: str, limit: int) -> list[dict[str, Any]]:
    """Wishes closed at or before CUTOFF that still hold personal data, oldest first."""
    return list(
        db.query(
            f"SELECT id, tracking_code, patient_name, phone FROM wishes "
            f"WHERE closed_at <= ? AND {_HOLDS_SOME} ORDER BY closed_at LIMIT ?",
            [cutoff, limit],
        )
    )


def matching(db: Database, tracking_code: str, phone: str) -> list[dict[str, Any]]:
    """The wishes with this tracking code or this phone number, newest first."""
    return list(
        db.query(
            "SELECT id, tracking_code, state, created_at, closed_at, patient_name, phone, "
            "personal_data_erased_at FROM wishes WHERE tracking_code = ? OR phone = ? "
            "ORDER BY created_at DESC, id DESC LIMIT 100",
            [tracking_code, phone or None],
        )
    )


def personal_data(db: Database, wish_id: int) -> dict[str, Any] | None:
    rows = db.query(
        "SELECT id, tracking_code, patient_name, phone FROM wishes WHERE id = ?", [wish_id]
    )
    return next(iter(rows), None)


def requested(db: Database) -> list[tuple[int, str]]:
    """(wish id, tracking code) of every erasure a patient asked for, from the audit log."""
    rows = db.execute(
        "SELECT CAST(subject_id AS INTEGER), json_extract(detail, '$.tracking_code') "
        "FROM audit_events WHERE action = 'patient_data_erased' "
        "AND json_extract(detail, '$.reason') = 'request' ORDER BY id"
    )
    return [(wish_id, code) for wish_id, code in rows]


def erase(db: Database, wish_id: int, at: str) -> None:
    """Empty the personal columns of one wish (the caller holds the transaction)."""
    db.execute(
        "UPDATE wishes SET patient_name = NULL, phone = NULL, personal_data_erased_at = ? "
        "WHERE id = ?",
        [at, wish_id],
    )
