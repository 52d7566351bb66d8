"""SQL for the organisation tables: general_branches, branches, departments."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from sqlite_utils import Database

from ..storage import transaction

DEFAULT_ORGANISATION = "default.json"


def read_organisation_file(name: str = DEFAULT_ORGANISATION) -> dict[str, list[dict[str, Any]]]:
    """The organisation shipped with the package (the demo hospital of the brief)."""
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    return json.loads(text)


def load_organisation(db: Database, organisation: dict[str, list[dict[str, Any]]]) -> None:
    """Insert or update every unit; running it twice changes nothing the second time."""
    with transaction(db):
        for table in ("general_branches", "branches", "departments"):
            rows = [
                {**row, "sort_order": position, "active": row.get("active", 1)}
                for position, row in enumerate(organisation.get(table, []))
            ]
            for row in rows:
                row.pop("serves", None)
            if rows:
                db.table(table).upsert_all(rows, pk="code")
        for branch in organisation.get("branches", []):
            if "serves" in branch:
                db.execute("DELETE FROM branch_departments WHERE branch_code = ?", [branch["code"]])
                db.table("branch_departments").insert_all(
                    {"branch_code": branch["code"], "department_code": code}
                    for code in branch["serves"]
                )


def branches(db: Database, *, active_only: bool = True) -> list[dict[str, Any]]:
    """Branches with their general branch's name, in the organisation's order."""
    where = "WHERE b.active = 1" if active_only else ""
    return list(
        db.query(
            f"""
            SELECT b.code, b.name, b.name_en, b.scope, b.active, b.general_branch_code,
                   gb.name AS general_branch_name
            FROM branches b JOIN general_branches gb ON gb.code = b.general_branch_code
            {where}
            ORDER BY gb.sort_order, b.sort_order
            """
        )
    )


def branch_names(db: Database) -> dict[str, str]:
    return {row["code"]: row["name"] for row in db.query("SELECT code, name FROM branches")}


def served_departments(db: Database) -> dict[str, list[str]]:
    """The departments each branch serves (`serves` in the organisation file); a branch not
    listed serves the whole hospital."""
    served: dict[str, list[str]] = {}
    for row in db.query("SELECT branch_code, department_code FROM branch_departments"):
        served.setdefault(row["branch_code"], []).append(row["department_code"])
    return served


def departments(
    db: Database, *, kind: str | None = None, active_only: bool = True
) -> list[dict[str, Any]]:
    """Departments and wards for the patient's location picker and bedside cards (the active
    ones; all of them for naming a past claim)."""
    where = ["active = 1"] if active_only else []
    if kind:
        where.append("kind = ?")
    sql = "SELECT * FROM departments"
    sql += f" WHERE {' AND '.join(where)}" if where else ""
    return list(db.query(sql + " ORDER BY sort_order", [kind] if kind else []))


def department(db: Database, code: str) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM departments WHERE code = ? AND active = 1", [code]))
    return rows[0] if rows else None
