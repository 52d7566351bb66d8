"""Who may do what: the roles and the one table of permissions, checked on every action.

A view asks `may(user, "claim", wish)`; the wish's state is the state machine's business
(lifecycle.py), this module only knows about roles and branches.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Protocol


class Role(StrEnum):
    MEMBER = "member"  # a Party member; belongs to one branch
    SECRETARY = "secretary"  # leads a branch
    TRIAGER = "triager"  # the Party-building office: triage, re-route, follow-up
    INSPECTOR = "inspector"  # a member of the assessment's joint inspection team
    MANAGER = "manager"  # reads the board and the figures
    ADMIN = "admin"  # staff accounts and the audit log


ROLE_LABELS = {
    Role.MEMBER: "党员",
    Role.SECRETARY: "支部书记",
    Role.TRIAGER: "党建办分诊员",
    Role.INSPECTOR: "考评组成员",
    Role.MANAGER: "管理者",
    Role.ADMIN: "系统管理员",
}
BRANCH_ROLES = frozenset({Role.MEMBER, Role.SECRETARY})


class StaffLike(Protocol):
    id: int
    role: str
    branch_code: str | None


def _in_branch(user: StaffLike, wish: Mapping[str, Any]) -> bool:
    return (
        user.role in BRANCH_ROLES
        and user.branch_code is not None
        and user.branch_code == wish.get("branch_code")
    )


def _secretary_of(user: StaffLike, wish: Mapping[str, Any]) -> bool:
    return user.role == Role.SECRETARY and _in_branch(user, wish)


def _claimer(user: StaffLike, wish: Mapping[str, Any]) -> bool:
    return wish.get("claimed_by_user_id") == user.id


def _office(user: StaffLike, _wish: Mapping[str, Any]) -> bool:
    return user.role == Role.TRIAGER


# action -> rule(user, wish). Read it as a sentence: "claim: a member or secretary of the
# wish's branch". Anything not listed is refused.
WISH_RULES = {
    "triage": _office,
    "claim": _in_branch,
    "start": _in_branch,
    "fulfil": _in_branch,
    "hand_back": lambda u, w: _claimer(u, w) or _secretary_of(u, w),
    "reroute": lambda u, w: _secretary_of(u, w) or _office(u, w),
    "decline": lambda u, w: _secretary_of(u, w) or _office(u, w),
    # a patient's low answer sends the wish back to the office: its follow-up is the office's
    "follow_up": lambda u, w: _office(u, w) or (_in_branch(u, w) and not w.get("follow_up_due_at")),
    "reveal_phone": lambda u, w: (_claimer(u, w) and u.role in BRANCH_ROLES) or _secretary_of(u, w),
    # a secretary hands a claimed wish to a member of the branch
    "assign": _secretary_of,
    # internal notes: the wish's branch and the office write them (every staff member reads)
    "note": lambda u, w: _in_branch(u, w) or _office(u, w),
    # merge a duplicate into a wish (asked of both), and undo it: the office, or the secretary
    # of the branch both are at
    "merge": lambda u, w: _secretary_of(u, w) or _office(u, w),
}

# Rights that do not concern one wish.
ROLE_RIGHTS = {
    "view_board": frozenset(Role),
    "manage_users": frozenset({Role.ADMIN}),
    "read_audit": frozenset({Role.ADMIN}),
    # The hospital's settings (its name, public address, deadlines…: /admin/settings).
    "manage_settings": frozenset({Role.ADMIN}),
    # A patient's request to erase their name and phone number (/admin/personal-data).
    "erase_personal_data": frozenset({Role.ADMIN}),
    # The BRIEF: the Party-building office manages questionnaires; managers read the figures.
    "manage_questionnaires": frozenset({Role.TRIAGER, Role.ADMIN}),
    "view_dashboard": frozenset({Role.MANAGER, Role.ADMIN}),
    # One patient's answers, one by one, and their downloads: the office and who reads figures.
    "read_responses": frozenset({Role.TRIAGER, Role.MANAGER, Role.ADMIN}),
    # Praise in patients' comments, passed on by the office to the people praised.
    "pass_on_thanks": frozenset({Role.TRIAGER, Role.ADMIN}),
    # The branch assessment: the office runs the rounds and edits the rubric; the office and
    # the inspection team score every branch; managers and admins read everything. A branch's
    # secretary and members see their own branch (wishes/assessment/views.py).
    "manage_assessment": frozenset({Role.TRIAGER, Role.ADMIN}),
    "inspect_assessment": frozenset({Role.TRIAGER, Role.INSPECTOR}),
    "view_all_assessments": frozenset({Role.TRIAGER, Role.INSPECTOR, Role.MANAGER, Role.ADMIN}),
    # Issue 17: the office and the administrator keep the organisation (units, workbook).
    "manage_organisation": frozenset({Role.TRIAGER, Role.ADMIN}),
}


def may(user: StaffLike, action: str, wish: Mapping[str, Any] | None = None) -> bool:
    """True if `user` may do `action` (on `wish`, for actions on a wish)."""
    if action in ROLE_RIGHTS:
        return user.role in ROLE_RIGHTS[action]
    rule = WISH_RULES.get(action)
    return bool(rule and wish is not None and rule(user, wish))
