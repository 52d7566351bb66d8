"""A move on a wish as the board makes it, for the board's pages and the JSON API alike.

The same checks in the same order as the board's move views (views.py): the wish exists,
the permission table allows this staff member the move (accounts.permissions), the move
starts from the wish's state (lifecycle), the move's own form accepts what was sent
(forms.py, the page's rules), and the state machine makes it, told how the permission check
saw the wish (`lifecycle.Seen`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database
from werkzeug.datastructures import MultiDict

from .. import audit, hospital, lifecycle, needs, organisation
from ..accounts import may
from ..deadlines import Deadlines
from ..lifecycle import Action, Actor, ClaimantKind, Seen
from ..storage import transaction, utcnow
from . import store
from .forms import (
    CategoryForm,
    ClaimForm,
    FulfilForm,
    NoteForm,
    RerouteForm,
    StartForm,
    WishActionForm,
)


class MoveForbidden(Exception):
    """The permission table does not give this staff member this move on this wish."""

    code = "forbidden"


class MoveInvalid(Exception):
    """What was sent fails the move form's checks: `errors` is field -> messages."""

    code = "invalid_field"

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("invalid")
        self.errors = errors


def placed(db: Database, wish: dict[str, Any]) -> list[dict[str, Any]]:
    """The router's top categories, each with the branch today's routing map gives it (for
    the wish's department). Wishes routed before categories named branches: kept as such."""
    found = []
    for code, probability in wish["router_suggestions"][:3]:
        if needs.category(code):
            branch = organisation.branch_for(db, code, wish["department_code"])
            found.append({"category": code, "branch": branch, "probability": probability})
        else:
            found.append({"category": None, "branch": code, "probability": probability})
    return found


def with_placements(db: Database, wish: dict[str, Any]) -> dict[str, Any]:
    """The wish with `placed` and `placed_branches` (each branch once, at its best
    suggestion's probability): what the move forms offer first."""
    wish["placed"] = placed(db, wish)
    branches: dict[str, float] = {}
    for place in wish["placed"]:
        if place["branch"]:
            branches.setdefault(place["branch"], place["probability"])
    wish["placed_branches"] = list(branches.items())
    return wish


def confirmed_category(wish: dict[str, Any], form: CategoryForm, branch: str) -> str | None:
    """The category sent with a triage or re-route. Left as the router had it but sent to a
    branch the map does not give it, the category is inferred from the branch: the first of
    the router's suggestions that the map places there (else it stays as chosen)."""
    chosen = form.category.data or None
    if chosen != wish.get("category"):
        return chosen
    for place in wish["placed"]:
        if place["branch"] == branch and place["category"]:
            return place["category"]
    return chosen


def claimant_name(db: Database, user: Any, kind: ClaimantKind, department_label: str) -> str:
    """The name a claim shows patients: the claimer's branch, the chosen department, or them."""
    return {
        ClaimantKind.BRANCH: organisation.branch_names(db).get(user.branch_code, ""),
        ClaimantKind.DEPARTMENT: department_label,
        ClaimantKind.PERSON: user.name,
    }[kind]


def wish_for_staff(db: Database, wish_id: int) -> dict[str, Any] | None:
    """One wish as the board's wish page reads it (branch, department, overdue, placements)."""
    deadlines = Deadlines.from_config(hospital.config())
    wish = store.wish_detail(db, wish_id, deadlines, datetime.now(UTC))
    return with_placements(db, wish) if wish else None


# The moves another front end may make, with the board's form for each.
REMOTE_MOVES: dict[Action, type[WishActionForm]] = {
    Action.CLAIM: ClaimForm,
    Action.START: StartForm,
    Action.FULFIL: FulfilForm,
    Action.REROUTE: RerouteForm,
}


def move(
    db: Database, user: Any, wish_id: int, action: Action, fields: Mapping[str, str]
) -> dict[str, Any]:
    """Make `action` on the wish as `user`, with the move form's `fields`; returns the wish as
    moved. Raises lifecycle.WishNotFound, MoveForbidden, lifecycle.IllegalMove (or one of its
    refusals), MoveInvalid, lifecycle.UnknownBranch."""
    wish = wish_for_staff(db, wish_id)
    if wish is None:
        raise lifecycle.WishNotFound(wish_id)
    if not may(user, action, wish):
        raise MoveForbidden(action)
    lifecycle.target(action, wish)  # refused before the form: the move does not start here
    form_class = REMOTE_MOVES[action]
    form = form_class(formdata=MultiDict(fields), meta={"csrf": False})
    form.fit(wish, organisation.branches(db), organisation.departments(db))
    if not form.validate():
        raise MoveInvalid(form.errors)
    actor = Actor("staff", user.name, user.id)
    seen = Seen.of(wish)
    if isinstance(form, ClaimForm):
        kind = ClaimantKind(form.kind.data)
        department = dict(form.department.choices).get(form.department.data, "")
        name = claimant_name(db, user, kind, department)
        return lifecycle.claim(db, wish_id, actor, kind, name, seen=seen)
    if isinstance(form, StartForm):
        return lifecycle.start(db, wish_id, actor, seen=seen)
    if isinstance(form, FulfilForm):
        return lifecycle.fulfil(db, wish_id, actor, form.note.data, seen=seen)
    if isinstance(form, RerouteForm):
        branch = form.branch.data
        return lifecycle.reroute(
            db,
            wish_id,
            branch,
            actor,
            form.reason.data,
            category=confirmed_category(wish, form, branch),
            seen=seen,
        )
    raise AssertionError(action)  # REMOTE_MOVES names no other form


def add_note(
    db: Database, user: Any, wish_id: int, fields: Mapping[str, str], by: audit.Who
) -> dict[str, Any]:
    """Leave an internal note on the wish as `user`, checked as the wish page checks it; the
    audit log records who (`by`) wrote one on which wish, not its words. Raises
    lifecycle.WishNotFound, MoveForbidden, MoveInvalid."""
    wish = wish_for_staff(db, wish_id)
    if wish is None:
        raise lifecycle.WishNotFound(wish_id)
    if not may(user, "note", wish):
        raise MoveForbidden("note")
    form = NoteForm(formdata=MultiDict(fields), meta={"csrf": False})
    if not form.validate():
        raise MoveInvalid(form.errors)
    with transaction(db):
        note = store.add_note(db, wish_id, user.id, user.name, form.text.data, utcnow())
        audit.record(
            db,
            "wish_note_added",
            by,
            subject_kind="wish",
            subject_id=wish_id,
            detail={"tracking_code": wish["tracking_code"], "note_id": note["id"]},
        )
    return note
