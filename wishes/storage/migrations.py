"""Schema migrations, applied in order and recorded in `_sqlite_migrations`.

Rule: a migration that has shipped is never edited; a schema change is a new step.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("wishes")


@migrations(name="0001_organisation_and_wishes")
def organisation_and_wishes(db: Database) -> None:
    db["general_branches"].create(
        {"code": str, "name": str, "active": int, "sort_order": int},
        pk="code",
        not_null={"name"},
        defaults={"active": 1, "sort_order": 0},
    )
    db["branches"].create(
        {
            "code": str,
            "name": str,
            "general_branch_code": str,
            "scope": str,
            "active": int,
            "sort_order": int,
        },
        pk="code",
        not_null={"name", "general_branch_code"},
        defaults={"active": 1, "sort_order": 0, "scope": ""},
        foreign_keys=[("general_branch_code", "general_branches", "code")],
    )
    db["departments"].create(
        {"code": str, "name": str, "kind": str, "active": int, "sort_order": int},
        pk="code",
        not_null={"name", "kind"},
        defaults={"active": 1, "sort_order": 0},
    )
    db["wishes"].create(
        {
            "id": int,
            "tracking_code": str,
            "text": str,
            "reason": str,
            "department_code": str,
            "location": str,
            "patient_name": str,
            "phone": str,
            "contact_consent": int,
            "channel": str,
            "state": str,
            "branch_code": str,
            "router_branch_code": str,
            "router_confidence": float,
            "router_suggestions": str,
            "router_model": str,
            "tags": str,
            "claimant_kind": str,
            "claimant_name": str,
            "fulfilment_note": str,
            "decline_reason": str,
            "patient_confirmed": int,
            "created_at": str,
            "updated_at": str,
            "routed_at": str,
            "claimed_at": str,
            "fulfilled_at": str,
            "closed_at": str,
        },
        pk="id",
        not_null={"tracking_code", "text", "state", "channel", "created_at", "updated_at"},
        defaults={"contact_consent": 0, "reason": "", "location": ""},
        foreign_keys=[
            ("department_code", "departments", "code"),
            ("branch_code", "branches", "code"),
            ("router_branch_code", "branches", "code"),
        ],
    )
    wishes = db["wishes"]
    wishes.create_index(["tracking_code"], unique=True)
    wishes.create_index(["state", "created_at"])
    wishes.create_index(["branch_code", "state", "created_at"])
    wishes.create_index(["created_at"])
    db["wish_events"].create(
        {
            "id": int,
            "wish_id": int,
            "at": str,
            "action": str,
            "from_state": str,
            "to_state": str,
            "branch_code": str,
            "actor_kind": str,
            "actor_label": str,
            "reason": str,
            "data": str,
        },
        pk="id",
        not_null={"wish_id", "at", "action", "actor_kind"},
        foreign_keys=[("wish_id", "wishes", "id"), ("branch_code", "branches", "code")],
    )
    db["wish_events"].create_index(["wish_id", "id"])
    db["wish_events"].create_index(["at"])


@migrations(name="0002_staff_users")
def staff_users(db: Database) -> None:
    db["users"].create(
        {
            "id": int,
            "username": str,
            "display_name": str,
            "password_hash": str,
            "role": str,
            "branch_code": str,
            "active": int,
            "created_at": str,
            "last_login_at": str,
        },
        pk="id",
        not_null={"username", "role", "created_at"},
        defaults={"active": 1, "display_name": ""},
        foreign_keys=[("branch_code", "branches", "code")],
    )
    db["users"].create_index(["username"], unique=True)
    # Who acted on a wish, and who holds a personal claim, now point at real accounts.
    db["wish_events"].add_column("actor_user_id", int, fk="users", fk_col="id")
    db["wishes"].add_column("claimant_user_id", int, fk="users", fk_col="id")
    db["wish_events"].create_index(["actor_user_id"])
