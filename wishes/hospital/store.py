"""The SQL of the `hospital_settings` table: the administrator's settings and the first run's
state, one row per name, kept as typed."""

from __future__ import annotations

from sqlite_utils import Database

from ..storage import transaction, utcnow

TABLE = "hospital_settings"


def stored(db: Database) -> dict[str, str]:
    """Every stored row: name -> value as typed."""
    return {row["name"]: row["value"] for row in db.query(f"SELECT name, value FROM {TABLE}")}


def changes(db: Database) -> dict[str, dict]:
    """name -> who changed it last and when."""
    return {row["name"]: row for row in db.query(f"SELECT * FROM {TABLE}")}


def put(db: Database, name: str, value: str, *, user_id: int | None, label: str) -> None:
    with transaction(db):
        db.table(TABLE).upsert(
            {
                "name": name,
                "value": value,
                "changed_by_user_id": user_id,
                "changed_by": label[:80],
                "changed_at": utcnow(),
            },
            pk="name",
        )


def delete(db: Database, name: str) -> None:
    with transaction(db):
        db.execute(f"DELETE FROM {TABLE} WHERE name = ?", [name])
