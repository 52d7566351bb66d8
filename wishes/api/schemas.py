"""The API's bodies, as marshmallow schemas: what flask-smorest checks requests against and
writes into the OpenAPI document.

A request schema checks JSON types only, and refuses a field it does not know (marshmallow's
RAISE); what a value must be (lengths, a real phone number, a department of the hospital…)
is the page's form's business, checked by that same form (intake, board, questionnaires).
"""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from ..lifecycle import ClaimantKind, State

STATES = [str(state) for state in State]
ERROR_CODES = [
    "malformed_json",
    "bad_request",
    "unsupported_media_type",
    "body_too_large",
    "invalid_field",
    "unknown_field",
    "token_missing",
    "token_invalid",
    "token_expired",
    "token_revoked",
    "insufficient_scope",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "illegal_move",
    "already_claimed",
    "branch_changed",
    "claimer_changed",
    "same_branch",
    "merged",
    "questionnaire_closed",
    "rate_limited",
    "server_error",
]


class StrictBoolean(fields.Boolean):
    """A JSON true or false, nothing that merely looks like one."""

    truthy = {True}
    falsy = {False}


class Closed(ma.Schema):
    """A request body: any field it does not name is refused (unknown_field)."""

    class Meta:
        unknown = ma.RAISE


# ---- errors ----------------------------------------------------------------------------------


class ErrorBody(ma.Schema):
    code = fields.String(
        required=True,
        validate=validate.OneOf(ERROR_CODES),
        metadata={"description": "Stable, for programs: one of the listed codes."},
    )
    message = fields.String(required=True, metadata={"description": "For people (English)."})
    fields_ = fields.Dict(
        data_key="fields",
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "invalid_field / unknown_field: what is wrong, by field."},
    )


class Error(ma.Schema):
    error = fields.Nested(ErrorBody, required=True)


# ---- public: wishes --------------------------------------------------------------------------


class WishIn(Closed):
    text = fields.String(required=True, metadata={"description": "The wish (2–500 characters)."})
    reason = fields.String(metadata={"description": "Why (optional, up to 300 characters)."})
    department = fields.String(
        metadata={"description": "A department's code (GET the hospital's list on /w/new)."}
    )
    location = fields.String(metadata={"description": "Ward, bed or place (optional)."})
    patient_name = fields.String(metadata={"description": "How to address the patient."})
    phone = fields.String(metadata={"description": "A mainland mobile number (optional)."})
    contact_consent = StrictBoolean(
        metadata={"description": "Required true when a phone number is given."}
    )


class WishReceived(ma.Schema):
    tracking_code = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf(STATES))
    tracking_url = fields.String(required=True)


class PublicEvent(ma.Schema):
    at = fields.String(required=True, metadata={"description": "UTC, YYYY-MM-DD HH:MM:SS"})
    action = fields.String(required=True)
    state = fields.String(required=True, allow_none=True)
    branch = fields.String(required=True, allow_none=True)
    reason = fields.String(required=True, allow_none=True)


class PublicWish(ma.Schema):
    """What the tracking page shows: the wish and its progress, nothing personal."""

    tracking_code = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf(STATES))
    text = fields.String(required=True)
    reason = fields.String(required=True)
    category = fields.String(required=True, allow_none=True)
    branch = fields.String(required=True, allow_none=True)
    claimant = fields.String(required=True, allow_none=True)
    fulfilment_note = fields.String(required=True, allow_none=True)
    decline_reason = fields.String(required=True, allow_none=True)
    created_at = fields.String(required=True)
    events = fields.List(fields.Nested(PublicEvent), required=True)


# ---- public: questionnaires ------------------------------------------------------------------


class Questionnaire(ma.Schema):
    slug = fields.String(required=True)
    version = fields.Integer(required=True)
    title = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    intro = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)
    questions = fields.List(
        fields.Dict(),
        required=True,
        metadata={"description": "The questions as the questionnaire's definition has them."},
    )
    open_now = fields.Boolean(required=True)
    opens_on = fields.String(required=True, allow_none=True)
    closes_on = fields.String(required=True, allow_none=True)


class ResponseIn(Closed):
    answers = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        required=True,
        metadata={
            "description": "Question key → answer: a whole number (rating, nps, number), a "
            "string (single, text, date YYYY-MM-DD, department), a list of option keys "
            "(multiple), or item key → level (matrix).",
        },
    )
    submission_id = fields.String(
        metadata={"description": "32 hex digits; the same id sent twice is stored once."}
    )


class ResponseStored(ma.Schema):
    submission_id = fields.String(required=True)
    stored = fields.Boolean(
        required=True, metadata={"description": "False: this submission was stored before."}
    )


# ---- staff -----------------------------------------------------------------------------------


class StaffWish(ma.Schema):
    id = fields.Integer(required=True)
    tracking_code = fields.String(required=True)
    text = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf(STATES))
    branch_code = fields.String(required=True, allow_none=True)
    branch_name = fields.String(required=True, allow_none=True)
    department_code = fields.String(required=True, allow_none=True)
    department_name = fields.String(required=True, allow_none=True)
    location = fields.String(required=True, allow_none=True)
    channel = fields.String(required=True)
    category = fields.String(required=True, allow_none=True)
    tags = fields.List(fields.String(), required=True)
    claimant_kind = fields.String(required=True, allow_none=True)
    claimant_name = fields.String(required=True, allow_none=True)
    claimed_by_user_id = fields.Integer(required=True, allow_none=True)
    created_at = fields.String(required=True)
    routed_at = fields.String(required=True, allow_none=True)
    claimed_at = fields.String(required=True, allow_none=True)
    overdue = fields.Boolean(required=True)


class StaffWishDetail(StaffWish):
    reason = fields.String(required=True, allow_none=True)
    patient_name = fields.String(required=True, allow_none=True)
    phone_masked = fields.String(
        required=True, metadata={"description": "138****1234; the board reveals it (audited)."}
    )
    fulfilment_note = fields.String(required=True, allow_none=True)
    decline_reason = fields.String(required=True, allow_none=True)
    updated_at = fields.String(required=True)
    events = fields.List(fields.Nested(PublicEvent), required=True)
    merged_into_id = fields.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "The wish this one was merged into; it follows that one."},
    )
    patients = fields.Integer(
        required=True, metadata={"description": "How many patients asked for it (merged ones)."}
    )
    assigned_user_id = fields.Integer(required=True, allow_none=True)
    notes = fields.List(fields.Nested("Note"), required=True)


class Note(ma.Schema):
    """An internal note: staff only, never shown to the patient."""

    id = fields.Integer(required=True)
    author = fields.String(required=True)
    text = fields.String(required=True)
    created_at = fields.String(required=True)


class NoteIn(Closed):
    text = fields.String(
        required=True, metadata={"description": "At most 1,000 characters; staff only."}
    )


class WishPage(ma.Schema):
    wishes = fields.List(fields.Nested(StaffWish), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    pages = fields.Integer(required=True)


class WishQuery(ma.Schema):
    branch = fields.String(
        metadata={
            "description": "A branch's code, or `all`. Left out: a member's or secretary's "
            "own branch, everyone else's all (as the board)."
        }
    )
    state = fields.String(validate=validate.OneOf(STATES))
    mine = fields.Boolean(metadata={"description": "Only the wishes this token's user claimed."})
    q = fields.String(validate=validate.Length(max=100), metadata={"description": "Search."})
    page = fields.Integer(validate=validate.Range(1, 100_000), load_default=1)
    per_page = fields.Integer(validate=validate.Range(1, 100), load_default=25)


class ClaimIn(Closed):
    kind = fields.String(
        validate=validate.OneOf([str(kind) for kind in ClaimantKind]),
        load_default=str(ClaimantKind.BRANCH),
        metadata={"description": "In whose name: the branch (default), a department, a person."},
    )
    department = fields.String(metadata={"description": "The department's code (kind=department)."})


class StartIn(Closed):
    pass


class FulfilIn(Closed):
    note = fields.String(
        required=True, metadata={"description": "What was done (the patient reads it)."}
    )


class RerouteIn(Closed):
    branch = fields.String(required=True, metadata={"description": "The new branch's code."})
    reason = fields.String(required=True)
    category = fields.String(
        metadata={"description": "The category of need as you see it (default: unchanged)."}
    )
