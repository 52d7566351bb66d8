"""The wish state machine: the only code that changes a wish.

Every move is one function. It runs in one transaction that holds the write lock
(BEGIN IMMEDIATE), re-reads the wish inside it, refuses an illegal move, updates the wish and
appends its event (who, when, what, why). What is checked is what is read inside the
transaction: the wish's state (against TRANSITIONS), and, when the caller says how it saw
the wish (`Seen`: its branch and claimer, what a permission is decided on), that the wish is
still so. Two simultaneous claims cannot both succeed, and a claim that races a re-route
cannot land on the wish at its new branch.

    submitted ─► triage ─(triage)─► open ─(claim)─► claimed ─(start)─► in_progress
                  │                  ▲  │             │  │                 │
                  └──────────────────┼──┴─(decline)───┴──┼─────────────────┴─► declined
                                     └─(hand back / re-route)                   │
                                      claimed / in_progress ─(fulfil)─► fulfilled
                                     fulfilled ─(follow up)─► followed_up
                                   followed_up ─(follow up)─► followed_up  (after a low answer)

Once fulfilled, the patient answers one question on the tracking page (`rate`: 1–5, once per
wish; an event, not a move). A low answer (LOW_RATING or less) puts the wish on the
Party-building office's follow-up list (`follow_up_due_at`) until a follow-up is recorded:
from `fulfilled` as ever, and from `followed_up` again for such an answer alone; while it
waits, only the office records it (accounts/permissions.py).

Refusals are exceptions with a `code`; the words for people are in wishes/glossary.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlite_utils import Database

from . import accounts, inbox, notifications, states
from .accounts import BRANCH_ROLES
from .clock import local_day
from .routing import RouteDecision
from .search import index_text
from .storage import transaction, utcnow


class State(StrEnum):
    TRIAGE = "triage"
    OPEN = "open"
    CLAIMED = "claimed"
    IN_PROGRESS = "in_progress"
    FULFILLED = "fulfilled"
    FOLLOWED_UP = "followed_up"
    DECLINED = "declined"


class Action(StrEnum):
    """What happens to a wish: the two events of its arrival, then the moves of TRANSITIONS."""

    SUBMIT = "submit"
    ROUTE = "route"
    TRIAGE = "triage"
    CLAIM = "claim"
    HAND_BACK = "hand_back"
    REROUTE = "reroute"
    START = "start"
    FULFIL = "fulfil"
    FOLLOW_UP = "follow_up"
    DECLINE = "decline"
    RATE = "rate"  # the patient's answer to "was it fulfilled as you hoped?": not a move
    MERGE = "merge"  # a duplicate joins the main wish, whose state it follows from then on
    UNMERGE = "unmerge"  # a duplicate that was not one goes its own way again
    ASSIGN = "assign"  # a secretary hands a claimed wish to a member: not a move


class ClaimantKind(StrEnum):
    BRANCH = "branch"
    DEPARTMENT = "department"
    PERSON = "person"


# move -> (states it may start from, state it leads to)
TRANSITIONS: states.Transitions[State, Action] = states.Transitions(
    {
        Action.TRIAGE: ({State.TRIAGE}, State.OPEN),
        Action.CLAIM: ({State.OPEN}, State.CLAIMED),
        Action.HAND_BACK: ({State.CLAIMED, State.IN_PROGRESS}, State.OPEN),
        Action.REROUTE: ({State.OPEN, State.CLAIMED, State.IN_PROGRESS}, State.OPEN),
        Action.START: ({State.CLAIMED}, State.IN_PROGRESS),
        Action.FULFIL: ({State.CLAIMED, State.IN_PROGRESS}, State.FULFILLED),
        # from followed_up only when a patient's low answer waits for one (`target`)
        Action.FOLLOW_UP: ({State.FULFILLED, State.FOLLOWED_UP}, State.FOLLOWED_UP),
        Action.DECLINE: (
            {State.TRIAGE, State.OPEN, State.CLAIMED, State.IN_PROGRESS},
            State.DECLINED,
        ),
    }
)

# The moves that carry a claim on: made on the claim seen, never on one made since.
ON_A_CLAIM = frozenset({Action.HAND_BACK, Action.START, Action.FULFIL})

# The states in which wishes may be merged (and a merged one unmerged): not yet closed.
MERGEABLE = frozenset({State.TRIAGE, State.OPEN, State.CLAIMED, State.IN_PROGRESS})
# The move a merged wish may make on its own: the follow-up of its own patient's low answer.
# Every move is made on the main wish and followed by the wishes merged into it.
OWN_MOVES = frozenset({Action.FOLLOW_UP})

# The alphabet of tracking codes: no 0/O, 1/I/L, so a code can be read aloud and typed back.
TRACKING_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
TRACKING_CODE_LENGTH = 7


@dataclass(frozen=True)
class Actor:
    """Who made a change: `kind` is patient, router, system or staff."""

    kind: str
    label: str = ""
    user_id: int | None = None


PATIENT = Actor("patient")
ROUTER = Actor("router")


@dataclass(frozen=True)
class WishEntry:
    """A wish as the patient entered it, already cleaned and validated by the form."""

    text: str
    channel: str
    reason: str = ""
    department_code: str | None = None
    location: str = ""
    patient_name: str = ""
    phone: str = ""
    contact_consent: bool = False
    language: str = ""  # the page's language (i18n.LANGUAGES): the patient's texts are in it


@dataclass(frozen=True)
class Seen:
    """The wish as the caller decided on it: its branch and its claimer, which are what a
    permission reads (accounts/permissions.py). A move given one is refused when the wish,
    read inside the move's transaction, is at another branch now, or (for the moves that carry
    a claim on, ON_A_CLAIM) has another claimer: the decision was about another wish."""

    branch_code: str | None
    claimed_by_user_id: int | None = None

    @classmethod
    def of(cls, wish: dict[str, Any]) -> Seen:
        return cls(wish.get("branch_code"), wish.get("claimed_by_user_id"))


# The refusals. Each has a `code`, which the glossary turns into words.
IllegalMove = states.IllegalMove  # the move does not start from the wish's state


class AlreadyClaimed(IllegalMove):
    """A claim of a wish someone else claimed first."""

    code = "already_claimed"


class BranchChanged(IllegalMove):
    """The wish was sent to another branch after the caller saw it (a re-route, say)."""

    code = "branch_changed"


class ClaimerChanged(IllegalMove):
    """The wish was handed back, or claimed by someone else, after the caller saw it."""

    code = "claimer_changed"


class SameBranch(IllegalMove):
    """A re-route to the branch the wish is at already."""

    code = "same_branch"


class AlreadyRated(IllegalMove):
    """A second answer to the patient's question: the first one stands. `same` when it is
    the very page that was stored (a double submit), which needs no word of refusal."""

    code = "already_rated"

    def __init__(self, state: State, same: bool) -> None:
        super().__init__(Action.RATE, state)
        self.same = same


class Merged(IllegalMove):
    """A move on a wish merged into another: it follows its main wish, which is moved instead."""

    code = "merged"


class NotMergeable(IllegalMove):
    """A merge of a wish into itself, into a wish merged into another, or of a closed wish."""

    code = "not_mergeable"


class NotAMember(IllegalMove):
    """An assignment to someone who is not an active member of the wish's branch."""

    code = "not_a_member"


class WishNotFound(LookupError):
    code = "wish_not_found"


class UnknownBranch(ValueError):
    """A triage or re-route to a branch that does not exist or is no longer active."""

    code = "unknown_branch"


def new_tracking_code() -> str:
    return "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(TRACKING_CODE_LENGTH))


def normalise_tracking_code(typed: str) -> str:
    """Accept what people type back: lower case, spaces and dashes between the groups."""
    return "".join(ch for ch in typed.upper() if ch.isascii() and ch.isalnum())


# How many category corrections one account may teach the router in a week (corrected_labels).
WEEKLY_CORRECTIONS = 50


def _event(
    db: Database,
    wish_id: int,
    action: Action,
    actor: Actor,
    at: str,
    *,
    from_state: State | None,
    to_state: State | None,
    branch_code: str | None = None,
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> None:
    """Append the event, and queue what tells of it (the patient's text, the webhook out) in
    the same transaction: every move comes through here."""
    event = {
        "wish_id": wish_id,
        "at": at,
        "action": str(action),
        "from_state": from_state and str(from_state),
        "to_state": to_state and str(to_state),
        "branch_code": branch_code,
        "actor_kind": actor.kind,
        "actor_label": actor.label,
        "actor_user_id": actor.user_id,
        "reason": reason,
        "data": json.dumps(data, ensure_ascii=False) if data else None,
    }
    notifications.wish_moved(db, event, _insert(db, "wish_events", event))


def _insert(db: Database, table: str, row: dict[str, Any]) -> int:
    """One row by plain SQL, inside the write lock: sqlite-utils' `insert` reads sqlite_master
    three times and opens a savepoint on every call."""
    columns = ", ".join(row)
    marks = ", ".join("?" * len(row))
    cursor = db.conn.execute(
        f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(row.values())
    )
    if cursor.lastrowid is None:  # set by every INSERT that succeeded
        raise LookupError(table)
    return cursor.lastrowid


def _is_active_branch(db: Database, code: str) -> bool:
    return (
        db.execute("SELECT 1 FROM branches WHERE code = ? AND active = 1", [code]).fetchone()
        is not None
    )


def submit(
    db: Database,
    entry: WishEntry,
    route: RouteDecision | None,
    branch: str | None = None,
    *,
    at: str | None = None,
) -> dict[str, Any]:
    """Store a new wish with a fresh tracking code and the category the router gave it.

    `branch` is the routing map's branch for that category (and the patient's department).
    The wish opens there when the router is confident and it is a wish; otherwise (unsure, not
    a wish, a category the map does not place) it waits for triage, where a person decides.
    """
    at = at or utcnow()
    if branch is not None and not _is_active_branch(db, branch):
        branch = None
    confidence = route.confidence if route else None
    routed = route is not None and route.routes_to(branch)
    state = State.OPEN if routed else State.TRIAGE
    row: dict[str, Any] = {
        "text": entry.text,
        "reason": entry.reason,
        "department_code": entry.department_code or None,
        "location": entry.location,
        "patient_name": entry.patient_name or None,
        "phone": entry.phone or None,
        "contact_consent": int(entry.contact_consent),
        "language": entry.language or None,
        # the key of the link in a text that stops further texts
        "texts_stop_token": secrets.token_urlsafe(12) if entry.phone else None,
        "channel": entry.channel,
        "state": str(state),
        "branch_code": branch if routed else None,
        "category": route.category if route else None,
        "router_branch_code": branch,
        "router_confidence": confidence,
        "router_suggestions": json.dumps(route.suggestions) if route else None,
        "router_model": route.model_version if route else None,
        "tags": json.dumps(route.tags, ensure_ascii=False) if route else None,
        "created_at": at,
        "updated_at": at,
        "routed_at": at if routed else None,
        "local_day": local_day(at),
    }
    row["search_text"] = index_text(row)

    def store(db: Database) -> int:
        for _attempt in range(5):
            row["tracking_code"] = new_tracking_code()
            try:
                wish_id = _insert(db, "wishes", row)
                break
            except sqlite3.IntegrityError as error:  # the failed INSERT changed nothing
                if "tracking_code" not in str(error):
                    raise
        else:
            raise RuntimeError("could not draw an unused tracking code")  # 31**7: never
        _event(db, wish_id, Action.SUBMIT, PATIENT, at, from_state=None, to_state=state)
        if routed:
            _event(
                db,
                wish_id,
                Action.ROUTE,
                ROUTER,
                at,
                from_state=state,
                to_state=state,
                branch_code=row["branch_code"],
                data={
                    "confidence": confidence,
                    "category": row["category"],
                    "model": row["router_model"],
                },
            )
            _reached_branch(db, wish_id, row["branch_code"], at)
        else:  # the office's queue: its people's inbox
            people = inbox.branch_people(db, None)
            inbox.deliver(db, people, wish_id, inbox.NEW_WISH, f"new:{wish_id}:triage", at)
        return wish_id

    with transaction(db):
        wish_id = store(db)
    return {**row, "id": wish_id}


def target(move: Action, wish: dict[str, Any]) -> State:
    """The state `move` leads the wish to from its state; raises the refusal it meets there."""
    state = State(wish["state"])
    if move is Action.CLAIM and state in (State.CLAIMED, State.IN_PROGRESS):
        raise AlreadyClaimed(move, state, wish)  # someone was quicker
    if move is Action.FOLLOW_UP and state is State.FOLLOWED_UP and not wish.get("follow_up_due_at"):
        raise IllegalMove(move, state, wish)  # followed up, and no low answer since
    return TRANSITIONS.target(move, state, wish)


def allows(move: Action, wish: dict[str, Any]) -> bool:
    """Whether `move` may start from the wish as it is (`target` would not refuse it)."""
    try:
        target(move, wish)
    except IllegalMove:
        return False
    return True


def _move(
    db: Database,
    wish_id: int,
    action: Action,
    actor: Actor,
    *,
    seen: Seen | None = None,
    at: str | None = None,
    reason: str = "",
    changes: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Make one move in one transaction, checked against the wish as read inside it."""
    at = at or utcnow()
    with transaction(db):
        wish = _wish(db, wish_id)
        state = State(wish["state"])
        to_state = target(action, wish)
        if seen is not None and wish["branch_code"] != seen.branch_code:
            raise BranchChanged(action, state, wish)
        claimer = wish["claimed_by_user_id"]
        if seen is not None and action in ON_A_CLAIM and claimer != seen.claimed_by_user_id:
            raise ClaimerChanged(action, state, wish)
        if wish["merged_into_id"] is not None and action not in OWN_MOVES:
            raise Merged(action, state, wish)
        update = {"state": str(to_state), "updated_at": at, **(changes or {})}
        branch = update.get("branch_code", wish["branch_code"])
        _update(db, wish_id, update)
        _event(
            db,
            wish_id,
            action,
            actor,
            at,
            from_state=state,
            to_state=to_state,
            branch_code=branch,
            reason=reason,
            data=data,
        )
        # the wishes merged into this one follow it, each with its event (and its text); one
        # whose patient's own low answer waits keeps it for a follow-up of its own
        for merged_id, merged_state in _merged_into(db, wish_id, waiting=False):
            if TRANSITIONS.allows(action, State(merged_state)):
                _update(db, merged_id, update)
                _event(
                    db,
                    merged_id,
                    action,
                    actor,
                    at,
                    from_state=State(merged_state),
                    to_state=to_state,
                    branch_code=branch,
                    reason=reason,
                    data={**(data or {}), "with": wish["tracking_code"]},
                )
        return {**wish, **update}


def _update(db: Database, wish_id: int, update: dict[str, Any]) -> None:
    assignments = ", ".join(f"{column} = ?" for column in update)
    db.execute(f"UPDATE wishes SET {assignments} WHERE id = ?", [*update.values(), wish_id])


def _merged_into(db: Database, wish_id: int, *, waiting: bool = True) -> list[tuple[int, str]]:
    """(id, state) of the wishes merged into this one (a partial index: as many as there are);
    without those whose patient's low answer waits for a follow-up unless `waiting`."""
    sql = "SELECT id, state FROM wishes WHERE merged_into_id = ?"
    if not waiting:
        sql += " AND follow_up_due_at IS NULL"
    return [(row[0], row[1]) for row in db.execute(sql + " ORDER BY id", [wish_id])]


_NO_CLAIM = {
    "claimant_kind": None,
    "claimant_name": None,
    "claimant_user_id": None,
    "claimed_by_user_id": None,
    "claimed_at": None,
    "assigned_user_id": None,
    "assigned_at": None,
}

# Every move below takes `seen`: the wish as the caller decided on it (None: no such check,
# for the demo data and the command line). The board passes what its permission check read.


def triage(
    db: Database,
    wish_id: int,
    branch_code: str,
    actor: Actor,
    *,
    category: str | None = None,
    seen: Seen | None = None,
    at: str | None = None,
) -> dict[str, Any]:
    """The Party-building office sends a wish waiting for triage to a branch, confirming or
    correcting its category of need (None: the wish keeps the one it has)."""
    at = at or utcnow()
    return _send_to_branch(db, wish_id, Action.TRIAGE, branch_code, actor, at, "", seen, category)


def claim(
    db: Database,
    wish_id: int,
    actor: Actor,
    kind: ClaimantKind,
    name: str,
    *,
    seen: Seen | None = None,
    at: str | None = None,
) -> dict[str, Any]:
    """Claim an open wish as a branch, a department or a person; `name` is what patients see."""
    at = at or utcnow()
    changes = {
        "claimant_kind": str(kind),
        "claimant_name": name,
        "claimant_user_id": actor.user_id if kind is ClaimantKind.PERSON else None,
        "claimed_by_user_id": actor.user_id,
        "claimed_at": at,
    }
    return _move(db, wish_id, Action.CLAIM, actor, seen=seen, at=at, changes=changes)


def hand_back(
    db: Database,
    wish_id: int,
    actor: Actor,
    reason: str,
    *,
    seen: Seen | None = None,
    at: str | None = None,
) -> dict[str, Any]:
    return _move(
        db, wish_id, Action.HAND_BACK, actor, seen=seen, at=at, reason=reason, changes=_NO_CLAIM
    )


def reroute(
    db: Database,
    wish_id: int,
    branch_code: str,
    actor: Actor,
    reason: str,
    *,
    category: str | None = None,
    seen: Seen | None = None,
    at: str | None = None,
) -> dict[str, Any]:
    """Send a wish to another branch; the router's first choice stays beside the new branch.
    `category`: the need as the person sending it on sees it (None: unchanged)."""
    at = at or utcnow()
    return _send_to_branch(
        db, wish_id, Action.REROUTE, branch_code, actor, at, reason, seen, category
    )


def _send_to_branch(
    db: Database,
    wish_id: int,
    action: Action,
    branch_code: str,
    actor: Actor,
    at: str,
    reason: str,
    seen: Seen | None,
    category: str | None = None,
) -> dict[str, Any]:
    """Triage and re-route: the new branch must exist, and its time to claim starts now. The
    category a person confirmed is recorded on the event: it is a lesson for the router."""
    with transaction(db):
        if not _is_active_branch(db, branch_code):
            raise UnknownBranch(branch_code)
        current = db.execute(
            "SELECT state, branch_code FROM wishes WHERE id = ?", [wish_id]
        ).fetchone()
        if action is Action.REROUTE and current and current[1] == branch_code:
            raise SameBranch(action, State(current[0]), {"branch_code": branch_code})
        wish = _move(
            db,
            wish_id,
            action,
            actor,
            seen=seen,
            at=at,
            reason=reason,
            changes={
                **_NO_CLAIM,
                "branch_code": branch_code,
                "routed_at": at,
                **({"category": category} if category else {}),
            },
            data={"category": category} if category else None,
        )
        _reached_branch(db, wish_id, branch_code, at)
        return wish


def _reached_branch(db: Database, wish_id: int, branch_code: str, at: str) -> None:
    """A wish reached a branch: the branch's notification, and an item in its people's inbox."""
    notifications.wish_reached_branch(db, wish_id, branch_code, at)
    people = inbox.branch_people(db, branch_code)
    inbox.deliver(db, people, wish_id, inbox.NEW_WISH, f"new:{wish_id}:{branch_code}:{at}", at)


def start(
    db: Database, wish_id: int, actor: Actor, *, seen: Seen | None = None, at: str | None = None
) -> dict[str, Any]:
    return _move(db, wish_id, Action.START, actor, seen=seen, at=at)


def fulfil(
    db: Database,
    wish_id: int,
    actor: Actor,
    note: str,
    *,
    photo: str | None = None,
    seen: Seen | None = None,
    at: str | None = None,
) -> dict[str, Any]:
    """Record what was done; `note` is shown to the patient, `photo` (a file name) to staff."""
    at = at or utcnow()
    return _move(
        db,
        wish_id,
        Action.FULFIL,
        actor,
        seen=seen,
        at=at,
        changes={"fulfilment_note": note, "fulfilment_photo": photo, "fulfilled_at": at},
    )


def follow_up(
    db: Database,
    wish_id: int,
    actor: Actor,
    confirmed: bool,
    note: str = "",
    *,
    seen: Seen | None = None,
    at: str | None = None,
) -> dict[str, Any]:
    at = at or utcnow()
    return _move(
        db,
        wish_id,
        Action.FOLLOW_UP,
        actor,
        seen=seen,
        at=at,
        reason=note,
        # a low answer of the patient's waited for this follow-up: it no longer does
        changes={"patient_confirmed": int(confirmed), "closed_at": at, "follow_up_due_at": None},
    )


# The patient's answer to "was your wish fulfilled as you hoped?" (1–5): at most this is low.
LOW_RATING = 2
RATEABLE = frozenset({State.FULFILLED, State.FOLLOWED_UP})


def rate(
    db: Database,
    wish_id: int,
    rating: int,
    comment: str,
    *,
    language: str,
    channel: str,
    submission_id: str,
    at: str | None = None,
) -> dict[str, Any]:
    """Store the patient's one answer about a fulfilled wish, with its event; a low one puts the
    wish on the office's follow-up list. Refused (AlreadyRated) when the wish has an answer:
    the first stands, so a page open twice, or sent twice, stores one. `comment` is cleaned
    and checked by the form, like every comment."""
    if not 1 <= rating <= 5:
        raise ValueError(rating)
    at = at or utcnow()
    with transaction(db):
        wish = _wish(db, wish_id)
        state = State(wish["state"])
        if state not in RATEABLE:
            raise IllegalMove(Action.RATE, state)
        stored = db.execute(
            "SELECT submission_id FROM wish_ratings WHERE wish_id = ?", [wish_id]
        ).fetchone()
        if stored is not None:
            raise AlreadyRated(state, same=stored[0] == submission_id)
        answer = {
            "wish_id": wish_id,
            "rating": rating,
            "comment": comment,
            "language": language,
            "channel": channel,
            "submission_id": submission_id,
            "rated_at": at,
        }
        _insert(db, "wish_ratings", answer)
        low = rating <= LOW_RATING
        if low:
            db.execute(
                "UPDATE wishes SET follow_up_due_at = ?, updated_at = ? WHERE id = ?",
                [at, at, wish_id],
            )
            # sent back: in the inbox of who did it and of the branch's secretary
            people = [wish["claimed_by_user_id"], wish["assigned_user_id"]]
            if wish["branch_code"]:
                people += inbox.branch_people(db, wish["branch_code"], ["secretary"])
            inbox.deliver(db, people, wish_id, inbox.SENT_BACK, f"sent_back:{wish_id}", at)
        _event(
            db,
            wish_id,
            Action.RATE,
            PATIENT,
            at,
            from_state=state,
            to_state=state,
            data={"rating": rating, "follow_up": low},
        )
    return answer


def rating_of(db: Database, wish_id: int) -> dict[str, Any] | None:
    """The patient's answer about the wish, if any."""
    rows = list(db.query("SELECT * FROM wish_ratings WHERE wish_id = ?", [wish_id]))
    return rows[0] if rows else None


def decline(
    db: Database,
    wish_id: int,
    actor: Actor,
    reason: str,
    *,
    seen: Seen | None = None,
    at: str | None = None,
) -> dict[str, Any]:
    """Decline with a reason the patient reads on the tracking page."""
    at = at or utcnow()
    return _move(
        db,
        wish_id,
        Action.DECLINE,
        actor,
        seen=seen,
        at=at,
        reason=reason,
        changes={"decline_reason": reason, "closed_at": at},
    )


# What a duplicate takes from the wish it is merged into: where it is and who holds it.
FOLLOWED = (
    "state", "branch_code", "routed_at", "claimant_kind", "claimant_name", "claimant_user_id",
    "claimed_by_user_id", "claimed_at", "assigned_user_id", "assigned_at",
)  # fmt: skip


def merge(
    db: Database, duplicate_id: int, main_id: int, actor: Actor, *, at: str | None = None
) -> dict[str, Any]:
    """Merge a duplicate into the main wish: from now on it follows the main wish's state (its
    patient hears of each move and sees the shared progress). Wishes merged into the duplicate
    follow the main wish too. Both must still be open (MERGEABLE); the main one not merged."""
    at = at or utcnow()
    with transaction(db):
        duplicate, main = _wish(db, duplicate_id), _wish(db, main_id)
        state = State(duplicate["state"])
        if (
            duplicate_id == main_id
            or main["merged_into_id"] is not None
            or duplicate["merged_into_id"] is not None
            or state not in MERGEABLE
            or State(main["state"]) not in MERGEABLE
        ):
            raise NotMergeable(Action.MERGE, state, duplicate)
        follow = {column: main[column] for column in FOLLOWED}
        for wish_id, from_state in [(duplicate_id, state.value), *_merged_into(db, duplicate_id)]:
            _update(db, wish_id, {**follow, "merged_into_id": main_id, "updated_at": at})
            _event(
                db,
                wish_id,
                Action.MERGE,
                actor,
                at,
                from_state=State(from_state),
                to_state=State(main["state"]),
                branch_code=main["branch_code"],
                data={"into": main["tracking_code"]},
            )
        _event(
            db,
            main_id,
            Action.MERGE,
            actor,
            at,
            from_state=State(main["state"]),
            to_state=State(main["state"]),
            branch_code=main["branch_code"],
            data={"merged": duplicate["tracking_code"]},
        )
        return {**duplicate, **follow, "merged_into_id": main_id}


def unmerge(db: Database, wish_id: int, actor: Actor, *, at: str | None = None) -> dict[str, Any]:
    """A merged wish that is not the same need after all goes its own way: it waits for a
    claim at the branch it is at (for triage when it has none), without the main one's claim."""
    at = at or utcnow()
    with transaction(db):
        wish = _wish(db, wish_id)
        state = State(wish["state"])
        if wish["merged_into_id"] is None or state not in MERGEABLE:
            raise NotMergeable(Action.UNMERGE, state, wish)
        to_state = State.OPEN if wish["branch_code"] else State.TRIAGE
        update = {**_NO_CLAIM, "state": str(to_state), "merged_into_id": None, "updated_at": at}
        _update(db, wish_id, update)
        _event(
            db,
            wish_id,
            Action.UNMERGE,
            actor,
            at,
            from_state=state,
            to_state=to_state,
            branch_code=wish["branch_code"],
        )
        return {**wish, **update}


def group_size(db: Database, wish: dict[str, Any]) -> int:
    """How many patients asked for this wish: the main wish and the wishes merged into it."""
    main_id = wish.get("merged_into_id") or wish["id"]
    sql = "SELECT 1 + count(*) FROM wishes WHERE merged_into_id = ?"
    return db.execute(sql, [main_id]).fetchone()[0]


def assign(
    db: Database,
    wish_id: int,
    user_id: int,
    actor: Actor,
    *,
    seen: Seen | None = None,
    at: str | None = None,
) -> dict[str, Any]:
    """A secretary hands a claimed wish to a member of its branch, who finds it in their inbox;
    the wishes merged into it follow. Not a move: the wish stays claimed or in progress."""
    at = at or utcnow()
    with transaction(db):
        wish = _wish(db, wish_id)
        state = State(wish["state"])
        if state not in (State.CLAIMED, State.IN_PROGRESS) or wish["merged_into_id"] is not None:
            raise IllegalMove(Action.ASSIGN, state, wish)
        if seen is not None and wish["branch_code"] != seen.branch_code:
            raise BranchChanged(Action.ASSIGN, state, wish)
        name = dict(accounts.active_staff(db, BRANCH_ROLES, wish["branch_code"])).get(user_id)
        if name is None:
            raise NotAMember(Action.ASSIGN, state, wish)
        update = {"assigned_user_id": user_id, "assigned_at": at, "updated_at": at}
        for target_id, target_state in [(wish_id, state.value), *_merged_into(db, wish_id)]:
            _update(db, target_id, update)
            _event(
                db,
                target_id,
                Action.ASSIGN,
                actor,
                at,
                from_state=State(target_state),
                to_state=State(target_state),
                branch_code=wish["branch_code"],
                data={"user_id": user_id, "name": name},
            )
        inbox.deliver(db, [user_id], wish_id, inbox.ASSIGNED, f"assigned:{wish_id}:{at}", at)
        return {**wish, **update, "assignee_name": name}


def _wish(db: Database, wish_id: int) -> dict[str, Any]:
    wish = find_by_id(db, wish_id)
    if wish is None:
        raise WishNotFound(wish_id)
    return wish


def find_by_id(db: Database, wish_id: int) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM wishes WHERE id = ?", [wish_id]))
    return rows[0] if rows else None


def find_by_tracking_code(db: Database, code: str) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM wishes WHERE tracking_code = ?", [code]))
    return rows[0] if rows else None


def history(db: Database, wish_id: int) -> list[dict[str, Any]]:
    """A wish's events, oldest first."""
    return list(db.query("SELECT * FROM wish_events WHERE wish_id = ? ORDER BY id", [wish_id]))


def uncategorised(db: Database, limit: int, after: int = 0) -> list[tuple[int, str]]:
    """(id, text) of wishes stored before categories, oldest first, from id `after` on."""
    sql = "SELECT id, text FROM wishes WHERE category IS NULL AND id > ? ORDER BY id LIMIT ?"
    return [(row[0], row[1]) for row in db.execute(sql, [after, limit])]


def set_categories(db: Database, categories: list[tuple[int, str]]) -> None:
    """Give wishes stored before categories the one the router predicts now (`wishes
    categorise`); a wish that has one already, from a person or the router, keeps it."""
    with transaction(db):
        db.conn.executemany(
            "UPDATE wishes SET category = ? WHERE id = ? AND category IS NULL",
            [(category, wish_id) for wish_id, category in categories],
        )


_CORRECTIONS_SQL = """
    SELECT w.id, w.text, json_extract(e.data, '$.category') AS category,
           e.actor_user_id, e.actor_label, strftime('%Y-%W', e.at) AS week,
           r.actor_user_id IS NOT NULL AS reviewed
    FROM wish_events e JOIN wishes w ON w.id = e.wish_id
    LEFT JOIN correction_reviews r
      ON r.actor_user_id = e.actor_user_id AND r.week = strftime('%Y-%W', e.at)
    WHERE e.action IN ('triage', 'reroute')
      AND json_extract(e.data, '$.category') IS NOT NULL
    ORDER BY e.id
"""


def _corrections(db: Database, weekly_limit: int):
    """Each correction, and whether it waits: beyond `weekly_limit` from one account in one
    week, unless the office reviewed that account's week."""
    per_week: dict[tuple[Any, str], int] = {}
    for row in db.query(_CORRECTIONS_SQL):
        key = (row["actor_user_id"], row["week"])
        per_week[key] = per_week.get(key, 0) + 1
        yield row, per_week[key] > weekly_limit and not row["reviewed"]


def corrected_labels(
    db: Database, weekly_limit: int = WEEKLY_CORRECTIONS
) -> tuple[list[tuple[str, str]], int]:
    """(text, category) of every wish whose category a person confirmed or corrected when
    triaging or re-routing it: the router's lessons, whatever it had said. The latest word on
    a wish counts. One account's corrections beyond `weekly_limit` in a week are left out
    until the office reviews that week (one account cannot retrain the router on its own);
    returns the lessons and how many wait."""
    lessons: dict[int, tuple[str, str]] = {}
    waiting = 0
    for row, waits in _corrections(db, weekly_limit):
        if waits:
            waiting += 1
        else:
            lessons[row["id"]] = (row["text"], row["category"])
    return list(lessons.values()), waiting


def waiting_corrections(
    db: Database, weekly_limit: int = WEEKLY_CORRECTIONS
) -> list[dict[str, Any]]:
    """Accounts and weeks whose corrections wait for the office: actor_user_id, actor_label,
    week, waiting (how many), examples (three texts with their categories)."""
    found: dict[tuple[Any, str], dict[str, Any]] = {}
    for row, waits in _corrections(db, weekly_limit):
        if waits:
            entry = found.setdefault(
                (row["actor_user_id"], row["week"]),
                {
                    "actor_user_id": row["actor_user_id"],
                    "actor_label": row["actor_label"],
                    "week": row["week"],
                    "waiting": 0,
                    "examples": [],
                },
            )
            entry["waiting"] += 1
            if len(entry["examples"]) < 3:
                entry["examples"].append((row["text"], row["category"]))
    return list(found.values())


def accept_corrections(db: Database, actor_user_id: int, week: str, reviewer: Actor) -> None:
    """The office reviewed one account's corrections of one week: all of them teach the router."""
    with transaction(db):
        db.execute(
            """INSERT OR IGNORE INTO correction_reviews
               (actor_user_id, week, reviewed_by_user_id, reviewed_by, reviewed_at)
               VALUES (?, ?, ?, ?, ?)""",
            [actor_user_id, week, reviewer.user_id, reviewer.label, utcnow()],
        )
