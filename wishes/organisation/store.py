"""SQL for the organisation tables: general branches, branches, departments and wards, which
departments each branch serves, and the routing map's rows.

Every change is one function that checks what it is asked, writes in one transaction and
leaves an audit row (`organisation_*` actions). A unit is never deleted: one that nothing
needs any more is deactivated, leaves the pickers, and keeps its name for the history that
names it (wishes, their events, claims, accounts, assessment rounds). Refusals raise
`OrganisationError` with a code and values; the words are in `words.py`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from enum import StrEnum
from importlib import resources
from typing import Any

from sqlite_utils import Database

from .. import audit, needs
from ..i18n import to_traditional
from ..storage import transaction, utcnow

DEFAULT_ORGANISATION = "default.json"

CODE_LIMIT = 50
CODE_PATTERN = re.compile(rf"[a-z0-9][a-z0-9-]{{0,{CODE_LIMIT - 1}}}")
NAME_LIMIT = 100
SCOPE_LIMIT = 500
CAMPUS_LIMIT = 50
DEPARTMENT_KINDS = ("department", "ward")
# A wish in one of these states still needs its branch (and its department) to exist.
OPEN_STATES = ("triage", "open", "claimed", "in_progress")


class Kind(StrEnum):
    GENERAL_BRANCH = "general_branch"
    BRANCH = "branch"
    DEPARTMENT = "department"

    @property
    def table(self) -> str:
        return {"general_branch": "general_branches", "branch": "branches"}.get(
            self.value, "departments"
        )


class OrganisationError(Exception):
    """A change refused: `code` names the reason (words.WORDS), `values` what it is about."""

    def __init__(self, code: str, **values: Any) -> None:
        super().__init__(code, values)
        self.code = code
        self.values = values


def code_problem(code: str) -> str | None:
    """Why a unit code cannot be used, or None: lower-case letters, digits, hyphens."""
    if not code:
        return "code_required"
    if not CODE_PATTERN.fullmatch(code):
        return "code_malformed"
    return None


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
        # The routing map's rows that the hospital has not set otherwise.
        for row in organisation.get("routing", []):
            db.execute(
                """INSERT INTO routing (category, department_code, branch_code)
                   SELECT ?, ?, ? WHERE NOT EXISTS (
                     SELECT 1 FROM routing
                     WHERE category = ? AND coalesce(department_code, '') = ?)""",
                [row["category"], row["department"] or None, row["branch"]]
                + [row["category"], row["department"] or ""],
            )


# ---- reading ----------------------------------------------------------------------------------


def general_branches(db: Database, *, active_only: bool = True) -> list[dict[str, Any]]:
    """General branches in the organisation's order (the active ones: the pickers)."""
    where = "WHERE active = 1" if active_only else ""
    return list(db.query(f"SELECT * FROM general_branches {where} ORDER BY sort_order, code"))


def branches(db: Database, *, active_only: bool = True) -> list[dict[str, Any]]:
    """Branches with their general branch's name, in the organisation's order."""
    where = "WHERE b.active = 1" if active_only else ""
    return list(
        db.query(
            f"""
            SELECT b.code, b.name, b.name_en, b.name_hant, b.scope, b.active, b.sort_order,
                   b.general_branch_code, b.merged_into, gb.name AS general_branch_name
            FROM branches b JOIN general_branches gb ON gb.code = b.general_branch_code
            {where}
            ORDER BY gb.sort_order, b.sort_order, b.code
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
    return list(db.query(sql + " ORDER BY sort_order, code", [kind] if kind else []))


def department(db: Database, code: str) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM departments WHERE code = ? AND active = 1", [code]))
    return rows[0] if rows else None


def unit(db: Database, kind: Kind, code: str) -> dict[str, Any] | None:
    """One unit, active or not."""
    rows = list(db.query(f"SELECT * FROM {Kind(kind).table} WHERE code = ?", [code]))
    return rows[0] if rows else None


def branch_for(db: Database, category: str, department_code: str | None = None) -> str | None:
    """The active branch the routing map gives a need's category, for the patient's department
    when the map has a row for it (it wins), else the category's row for any department; None
    when the map does not place the category (the wish then waits for triage)."""
    row = db.execute(
        """SELECT r.branch_code FROM routing r
           JOIN branches b ON b.code = r.branch_code AND b.active = 1
           WHERE r.category = ? AND (r.department_code IS NULL OR r.department_code = ?)
           ORDER BY r.department_code IS NULL
           LIMIT 1""",
        [category, department_code or ""],
    ).fetchone()
    return row[0] if row else None


# A change to the map is suggested when at least this many wishes of one category, and at
# least this share of those the map placed at a branch, were re-routed to one other branch.
SUGGEST_AFTER = 5
SUGGEST_SHARE = 0.5


def routing_suggestions(db: Database, since: str) -> list[dict[str, Any]]:
    """Where re-routes show the map is wrong for this hospital ("18 of 20 parking wishes were
    moved from 后勤 to 保卫" since `since`, a stored timestamp): category, from_branch,
    to_branch, moved, placed. Only moves to an active branch, from the map's present branch."""
    sql = """
        WITH placed AS (
          SELECT w.id, w.category, w.router_branch_code AS from_branch, w.branch_code
          FROM wishes w
          WHERE w.created_at >= ? AND w.category IS NOT NULL
            AND w.router_branch_code IS NOT NULL
        ), moved AS (
          SELECT p.category, p.from_branch, p.branch_code AS to_branch, count(*) AS moved
          FROM placed p
          WHERE p.branch_code IS NOT NULL AND p.branch_code != p.from_branch
            AND EXISTS (SELECT 1 FROM wish_events e
                        WHERE e.wish_id = p.id AND e.action IN ('reroute', 'triage'))
          GROUP BY 1, 2, 3
        )
        SELECT m.*, (SELECT count(*) FROM placed p
                     WHERE p.category = m.category AND p.from_branch = m.from_branch) AS placed
        FROM moved m
        JOIN branches b ON b.code = m.to_branch AND b.active = 1
        JOIN routing r ON r.category = m.category AND r.department_code IS NULL
                       AND r.branch_code = m.from_branch
        WHERE m.moved >= ?
        ORDER BY m.moved DESC
    """
    return [
        row
        for row in db.query(sql, [since, SUGGEST_AFTER])
        if row["moved"] >= SUGGEST_SHARE * row["placed"]
    ]


def routing_rows(db: Database) -> list[dict[str, Any]]:
    """The routing map's rows in the order they were given: category, department, branch."""
    return list(
        db.query(
            "SELECT category, department_code, branch_code FROM routing ORDER BY id",
        )
    )


def uses(db: Database, kind: Kind, code: str) -> dict[str, int]:
    """What still needs a unit to be active (empty when it may be deactivated): open wishes,
    active accounts, unpublished assessment rounds, routing rows, active branches."""
    marks = ", ".join("?" * len(OPEN_STATES))
    queries: dict[str, tuple[str, list[Any]]] = {}
    if kind is Kind.BRANCH:
        queries = {
            "open_wishes": (
                f"SELECT count(*) FROM wishes WHERE branch_code = ? AND state IN ({marks})",
                [code, *OPEN_STATES],
            ),
            "members": ("SELECT count(*) FROM users WHERE branch_code = ? AND active = 1", [code]),
            "open_rounds": (
                """SELECT count(*) FROM assessment_round_branches rb
                   JOIN assessment_rounds r ON r.id = rb.round_id
                   WHERE rb.branch_code = ? AND r.stage != 'published'""",
                [code],
            ),
            "routing": ("SELECT count(*) FROM routing WHERE branch_code = ?", [code]),
        }
    elif kind is Kind.DEPARTMENT:
        queries = {
            "open_wishes": (
                f"SELECT count(*) FROM wishes WHERE department_code = ? AND state IN ({marks})",
                [code, *OPEN_STATES],
            ),
            "routing": ("SELECT count(*) FROM routing WHERE department_code = ?", [code]),
        }
    else:
        queries = {
            "active_branches": (
                "SELECT count(*) FROM branches WHERE general_branch_code = ? AND active = 1",
                [code],
            ),
        }
    found = {name: db.execute(sql, params).fetchone()[0] for name, (sql, params) in queries.items()}
    return {name: n for name, n in found.items() if n}


# ---- changing ---------------------------------------------------------------------------------


def _record(
    db: Database,
    action: str,
    who: audit.Who,
    kind: Kind,
    code: str,
    detail: dict[str, Any] | None = None,
) -> None:
    detail = detail or {}
    audit.record(
        db,
        f"organisation_{action}",
        who,
        subject_kind=str(kind),
        subject_id=code,
        detail={key: value for key, value in detail.items() if value is not None} or None,
    )


def _existing(db: Database, kind: Kind, code: str) -> dict[str, Any]:
    found = unit(db, kind, code)
    if found is None:
        raise OrganisationError("unknown_unit", kind=str(kind), value=code)
    return found


def _active(db: Database, kind: Kind, code: str) -> dict[str, Any]:
    found = _existing(db, kind, code)
    if not found["active"]:
        raise OrganisationError("inactive", kind=str(kind), value=code)
    return found


def _text(value: str | None, limit: int, *, required: bool = False) -> str:
    text = " ".join((value or "").split())
    if required and not text:
        raise OrganisationError("name_required", value=text)
    if len(text) > limit:
        raise OrganisationError("too_long", value=text, limit=limit)
    return text


def _next_position(db: Database, kind: Kind) -> int:
    return db.execute(f"SELECT coalesce(max(sort_order) + 1, 0) FROM {kind.table}").fetchone()[0]


def _add(db: Database, kind: Kind, row: dict[str, Any], who: audit.Who) -> dict[str, Any]:
    code = row["code"]
    if problem := code_problem(code):
        raise OrganisationError(problem, value=code, limit=CODE_LIMIT)
    name = _text(row["name"], NAME_LIMIT, required=True)
    name_hant = _text(row.get("name_hant"), NAME_LIMIT) or to_traditional(name)
    with transaction(db):
        if unit(db, kind, code) is not None:
            raise OrganisationError("code_taken", value=code)
        full = {
            **row,
            "name": name,
            "name_en": _text(row.get("name_en"), NAME_LIMIT) or None,
            "name_hant": name_hant,
            "active": 1,
            "sort_order": _next_position(db, kind),
        }
        db.table(kind.table).insert(full)
        _record(db, "unit_added", who, kind, code, {k: full[k] for k in row if k != "code"})
        return _existing(db, kind, code)


def add_general_branch(
    db: Database,
    code: str,
    name: str,
    who: audit.Who,
    *,
    name_en: str = "",
    name_hant: str = "",
) -> dict[str, Any]:
    """A new general branch (总支), last in the order."""
    row = {"code": code, "name": name, "name_en": name_en, "name_hant": name_hant}
    return _add(db, Kind.GENERAL_BRANCH, row, who)


def add_branch(
    db: Database,
    code: str,
    name: str,
    general_branch: str,
    who: audit.Who,
    *,
    name_en: str = "",
    name_hant: str = "",
    scope: str = "",
) -> dict[str, Any]:
    """A new branch (支部) under an active general branch, last in the order."""
    with transaction(db):
        _active(db, Kind.GENERAL_BRANCH, general_branch)
        row = {
            "code": code,
            "name": name,
            "name_en": name_en,
            "name_hant": name_hant,
            "general_branch_code": general_branch,
            "scope": _text(scope, SCOPE_LIMIT),
        }
        return _add(db, Kind.BRANCH, row, who)


def add_department(
    db: Database,
    code: str,
    name: str,
    kind: str,
    who: audit.Who,
    *,
    campus: str = "",
    name_en: str = "",
    name_hant: str = "",
) -> dict[str, Any]:
    """A new department or ward (`kind`: department or ward), last in the order."""
    if kind not in DEPARTMENT_KINDS:
        raise OrganisationError("unknown_kind", value=kind)
    row = {
        "code": code,
        "name": name,
        "name_en": name_en,
        "name_hant": name_hant,
        "kind": kind,
        "campus": _text(campus, CAMPUS_LIMIT) or None,
    }
    return _add(db, Kind.DEPARTMENT, row, who)


def _change(
    db: Database, kind: Kind, code: str, changes: dict[str, Any], who: audit.Who
) -> dict[str, Any]:
    """Write the fields that differ; audit them as before → after. No change, no audit row."""
    with transaction(db):
        before = _existing(db, kind, code)
        changed = {key: value for key, value in changes.items() if before[key] != value}
        if changed:
            db.table(kind.table).update(code, changed)
            _record(
                db,
                "unit_changed",
                who,
                kind,
                code,
                {key: [before[key], value] for key, value in changed.items()},
            )
        return {**before, **changed}


def rename(
    db: Database,
    kind: Kind,
    code: str,
    name: str,
    who: audit.Who,
    *,
    name_en: str | None = None,
    name_hant: str | None = None,
) -> dict[str, Any]:
    """A unit's new name. The Traditional name is the one typed, or else OpenCC's conversion
    of the name; the English name is changed when given ('' clears it)."""
    name = _text(name, NAME_LIMIT, required=True)
    changes: dict[str, Any] = {
        "name": name,
        "name_hant": _text(name_hant, NAME_LIMIT) or to_traditional(name),
    }
    if name_en is not None:
        changes["name_en"] = _text(name_en, NAME_LIMIT) or None
    return _change(db, Kind(kind), code, changes, who)


def move_branch(db: Database, code: str, general_branch: str, who: audit.Who) -> dict[str, Any]:
    """Put a branch under another (active) general branch."""
    with transaction(db):
        _active(db, Kind.GENERAL_BRANCH, general_branch)
        return _change(db, Kind.BRANCH, code, {"general_branch_code": general_branch}, who)


def set_scope(db: Database, code: str, scope: str, who: audit.Who) -> dict[str, Any]:
    """What a branch handles, in the office's words."""
    return _change(db, Kind.BRANCH, code, {"scope": _text(scope, SCOPE_LIMIT)}, who)


def branch_webhook(db: Database, code: str) -> str:
    """The branch's own webhook address ('' for none)."""
    row = db.execute("SELECT webhook_url FROM branches WHERE code = ?", [code]).fetchone()
    return (row[0] or "").strip() if row else ""


def set_webhook(db: Database, code: str, url: str, who: audit.Who) -> None:
    """The branch's own webhook address; the audit log says it was set or cleared, never the
    address (a robot's key is in it)."""
    with transaction(db):
        before = _existing(db, Kind.BRANCH, code).get("webhook_url") or ""
        if before != url:
            db.execute("UPDATE branches SET webhook_url = ? WHERE code = ?", [url or None, code])
            _record(db, "unit_changed", who, Kind.BRANCH, code, {"webhook_url": bool(url)})


def set_department_place(
    db: Database, code: str, kind: str, campus: str, who: audit.Who
) -> dict[str, Any]:
    """Whether a unit is a department or a ward, and its campus ('' for a one-campus hospital)."""
    if kind not in DEPARTMENT_KINDS:
        raise OrganisationError("unknown_kind", value=kind)
    changes = {"kind": kind, "campus": _text(campus, CAMPUS_LIMIT) or None}
    return _change(db, Kind.DEPARTMENT, code, changes, who)


def reorder(db: Database, kind: Kind, codes: list[str], who: audit.Who) -> None:
    """Put the given units in this order, in the places they held among all of their kind
    (so a page may reorder the branches of one general branch alone)."""
    kind = Kind(kind)
    with transaction(db):
        current = [
            row["code"]
            for row in db.query(f"SELECT code FROM {kind.table} ORDER BY sort_order, code")
        ]
        known = set(current)
        for code in codes:
            if code not in known:
                raise OrganisationError("not_all_units", kind=str(kind), value=code)
        if len(set(codes)) != len(codes):
            raise OrganisationError(
                "code_duplicate", value=next(c for c in codes if codes.count(c) > 1)
            )
        wanted = set(codes)
        places = [i for i, code in enumerate(current) if code in wanted]
        order = list(current)
        for place, code in zip(places, codes, strict=True):
            order[place] = code
        positions = {
            row["code"]: row["sort_order"]
            for row in db.query(f"SELECT code, sort_order FROM {kind.table}")
        }
        for i, code in enumerate(order):
            if positions[code] != i:
                db.execute(f"UPDATE {kind.table} SET sort_order = ? WHERE code = ?", [i, code])
        if order != current:
            audit.record(
                db,
                "organisation_unit_changed",
                who,
                subject_kind=str(kind),
                detail={"order": [code for code in order if code in wanted]},
            )


def siblings(db: Database, kind: Kind, code: str) -> list[str]:
    """The units a page orders together with `code`, in their order: every general branch;
    the branches of its general branch; the departments and wards of its campus."""
    kind = Kind(kind)
    found = _existing(db, kind, code)
    if kind is Kind.BRANCH:
        where, params = "WHERE general_branch_code = ?", [found["general_branch_code"]]
    elif kind is Kind.DEPARTMENT:
        where, params = "WHERE coalesce(campus, '') = ?", [found["campus"] or ""]
    else:
        where, params = "", []
    sql = f"SELECT code FROM {kind.table} {where} ORDER BY sort_order, code"
    return [row["code"] for row in db.query(sql, params)]


def shift(db: Database, kind: Kind, code: str, step: int, who: audit.Who) -> bool:
    """Move a unit one place up (step -1) or down (+1) among its siblings; False when it is
    already first or last."""
    with transaction(db):
        order = siblings(db, kind, code)
        place = order.index(code)
        other = place + step
        if not 0 <= other < len(order):
            return False
        order[place], order[other] = order[other], order[place]
        reorder(db, kind, order, who)
        return True


def set_order(db: Database, kind: Kind, codes: list[str], who: audit.Who) -> None:
    """Number the given units 0, 1, 2 … in this order (a workbook's rows); the others keep
    their places. Nothing written, nothing audited when the numbers are already these."""
    kind = Kind(kind)
    with transaction(db):
        positions = {
            row["code"]: row["sort_order"]
            for row in db.query(f"SELECT code, sort_order FROM {kind.table}")
        }
        moved = [code for i, code in enumerate(codes) if positions.get(code) != i]
        if not moved:
            return
        for i, code in enumerate(codes):
            if positions.get(code) != i:
                db.execute(f"UPDATE {kind.table} SET sort_order = ? WHERE code = ?", [i, code])
        audit.record(
            db,
            "organisation_unit_changed",
            who,
            subject_kind=str(kind),
            detail={"order": list(codes)},
        )


def deactivate(db: Database, kind: Kind, code: str, who: audit.Who) -> None:
    """Take a unit out of the pickers, keeping it for the history that names it. Refused
    while anything still needs it (`uses`): merge a branch instead, or finish its wishes."""
    kind = Kind(kind)
    with transaction(db):
        found = _existing(db, kind, code)
        if not found["active"]:
            return
        if in_use := uses(db, kind, code):
            raise OrganisationError(
                "still_referred", kind=str(kind), value=code, name=found["name"], uses=in_use
            )
        db.execute(f"UPDATE {kind.table} SET active = 0 WHERE code = ?", [code])
        _record(db, "unit_deactivated", who, kind, code)


def reactivate(db: Database, kind: Kind, code: str, who: audit.Who) -> None:
    """Bring a unit back into the pickers (a branch only under an active general branch; a
    merged branch stops being marked merged)."""
    kind = Kind(kind)
    with transaction(db):
        found = _existing(db, kind, code)
        if found["active"]:
            return
        changes: dict[str, Any] = {"active": 1}
        if kind is Kind.BRANCH:
            _active(db, Kind.GENERAL_BRANCH, found["general_branch_code"])
            changes.update(merged_into=None, merged_at=None)
        db.table(kind.table).update(code, changes)
        _record(db, "unit_reactivated", who, kind, code, {"merged_into": found.get("merged_into")})


def set_served_departments(
    db: Database, branch: str, department_codes: Iterable[str], who: audit.Who
) -> None:
    """Which departments and wards a branch serves (none: the whole hospital). Rows naming
    an inactive department are history (the assessment of past periods) and are kept."""
    wanted = list(dict.fromkeys(department_codes))
    with transaction(db):
        _active(db, Kind.BRANCH, branch)
        for code in wanted:
            _active(db, Kind.DEPARTMENT, code)
        current = {
            row["department_code"]
            for row in db.query(
                """SELECT bd.department_code FROM branch_departments bd
                   JOIN departments d ON d.code = bd.department_code
                   WHERE bd.branch_code = ? AND d.active = 1""",
                [branch],
            )
        }
        added = [code for code in wanted if code not in current]
        removed = sorted(current - set(wanted))
        if not added and not removed:
            return
        for code in removed:
            db.execute(
                "DELETE FROM branch_departments WHERE branch_code = ? AND department_code = ?",
                [branch, code],
            )
        db.table("branch_departments").insert_all(
            {"branch_code": branch, "department_code": code} for code in added
        )
        _record(
            db,
            "unit_changed",
            who,
            Kind.BRANCH,
            branch,
            {"serves_added": added or None, "serves_removed": removed or None},
        )


def set_routing(db: Database, rows: list[dict[str, Any]], who: audit.Who) -> None:
    """Replace the routing map's rows (category, department_code or None, branch_code), in
    order; the branches and departments must be active. The same rows again change nothing."""
    clean = [
        {
            "category": row["category"],
            "department_code": row.get("department_code") or None,
            "branch_code": row["branch_code"],
        }
        for row in rows
    ]
    with transaction(db):
        before = routing_rows(db)
        if before == clean:
            return
        for row in clean:
            if not needs.is_routable(row["category"]):
                raise OrganisationError("unknown_category", value=row["category"])
            _active(db, Kind.BRANCH, row["branch_code"])
            if row["department_code"]:
                _active(db, Kind.DEPARTMENT, row["department_code"])
        db.execute("DELETE FROM routing")
        db.table("routing").insert_all(clean)

        def placed(rows: list[dict[str, Any]]) -> dict[str, str]:
            return {
                f"{r['category']}/{r['department_code'] or '*'}": r["branch_code"] for r in rows
            }

        old, new = placed(before), placed(clean)
        audit.record(
            db,
            "organisation_unit_changed",
            who,
            subject_kind="routing",
            detail={
                "rows": len(clean),
                "changed": {
                    key: [old.get(key), new.get(key)]
                    for key in sorted(old.keys() | new.keys())
                    if old.get(key) != new.get(key)
                },
            },
        )


def merge_branches(db: Database, source: str, target: str, who: audit.Who) -> dict[str, Any]:
    """Merge branch `source` into `target`, in one transaction: its open wishes, its accounts
    and its routing rows move to the target, the departments it served are added to the
    target's (when the target serves named departments), and the source is deactivated and
    marked merged. History keeps the source's code and name: wish events, claims, assessment
    rounds and scores. Returns what moved (counts and the wish ids)."""
    if source == target:
        raise OrganisationError("merge_into_itself", value=source)
    with transaction(db):
        moving = _existing(db, Kind.BRANCH, source)
        if moving["merged_into"]:
            raise OrganisationError("already_merged", value=source, into=moving["merged_into"])
        _active(db, Kind.BRANCH, source)
        _active(db, Kind.BRANCH, target)
        marks = ", ".join("?" * len(OPEN_STATES))
        wish_ids = [
            row[0]
            for row in db.execute(
                f"SELECT id FROM wishes WHERE branch_code = ? AND state IN ({marks}) ORDER BY id",
                [source, *OPEN_STATES],
            )
        ]
        now = utcnow()
        db.execute(
            f"UPDATE wishes SET branch_code = ?, updated_at = ? "
            f"WHERE branch_code = ? AND state IN ({marks})",
            [target, now, source, *OPEN_STATES],
        )
        members = db.execute(
            "UPDATE users SET branch_code = ? WHERE branch_code = ?", [target, source]
        ).rowcount
        routing = db.execute(
            "UPDATE routing SET branch_code = ? WHERE branch_code = ?", [target, source]
        ).rowcount
        served_by_target = db.execute(
            "SELECT count(*) FROM branch_departments WHERE branch_code = ?", [target]
        ).fetchone()[0]
        if served_by_target:
            db.execute(
                """INSERT OR IGNORE INTO branch_departments (branch_code, department_code)
                   SELECT ?, bd.department_code FROM branch_departments bd
                   JOIN departments d ON d.code = bd.department_code
                   WHERE bd.branch_code = ? AND d.active = 1""",
                [target, source],
            )
        db.table("branches").update(source, {"active": 0, "merged_into": target, "merged_at": now})
        moved = {"wishes": wish_ids, "members": members, "routing": routing}
        _record(
            db,
            "branches_merged",
            who,
            Kind.BRANCH,
            source,
            {"name": moving["name"], "into": target, **moved},
        )
        return moved
