"""The operations of /api/v1: public (submit a wish, track it, a questionnaire and its
answers) and staff (list, read and move wishes, with a token).

Each one reuses what the pages use: the wish form's checks (intake), the tracking page's view
of a wish, the questionnaire page's form (questionnaires), the board's query and move checks
(board: the permission table and the state machine), and the forms' rate limits.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from flask import g, request, url_for
from flask_smorest import Blueprint
from werkzeug.exceptions import HTTPException

from .. import (
    audit,
    board,
    hospital,
    i18n,
    intake,
    lifecycle,
    organisation,
    questionnaires,
    ratelimit,
)
from ..audiences import AreaBlueprint, Audience
from ..cards import public_url
from ..deadlines import Deadlines
from ..lifecycle import Action, ClaimantKind, State
from ..storage import get_db
from . import schemas
from .auth import SECURITY, token_required
from .errors import ApiError, handle_api_error, handle_http, handle_unexpected

# A body the API takes is a few kilobytes (a wish is 500 characters at most); 64 KiB is far
# above any, and keeps a hostile body from costing the server.
BODY_MAX = 64 * 1024
CHANNEL = "api"


class ApiBlueprint(Blueprint, AreaBlueprint):
    """flask-smorest's blueprint that says whom it serves (wishes/audiences.py): programs, not
    people: no page layout, no language cookie, no first-run redirect."""


bp = ApiBlueprint(
    "api",
    __name__,
    audience=Audience.SERVICE,
    url_prefix="/api/v1",
    description="点亮微心愿 JSON API, version 1 (README, API).",
)

bp.register_error_handler(ApiError, handle_api_error)
bp.register_error_handler(HTTPException, handle_http)
bp.register_error_handler(Exception, handle_unexpected)


def errors(*statuses: int):
    """Declare the error responses an operation may give (each the Error body)."""

    def decorator(view):
        for status in statuses:
            view = bp.alt_response(status, response=HTTPStatus(status).name)(view)
        return view

    return decorator


@bp.before_request
def _body_checks():
    """Size, media type and JSON syntax of a body, before anything reads it."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return None
    request.max_content_length = BODY_MAX
    if request.content_length is not None and request.content_length > BODY_MAX:
        raise ApiError(413, "body_too_large")
    data = request.get_data(cache=True)  # over BODY_MAX without a length: 413 here
    if not data:
        return None
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type")
    try:
        json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: [[[[…]]]] nested thousands deep
        raise ApiError(400, "malformed_json") from None
    return None


@bp.after_request
def _no_store(response):
    response.headers["Cache-Control"] = "no-store"  # staff answers hold patients' wishes
    return response


def _limited(name: str) -> None:
    if wait := ratelimit.wait_for(name):
        raise ApiError(429, "rate_limited", headers={"Retry-After": str(wait)})


# ---- public: wishes --------------------------------------------------------------------------


@bp.post("/wishes")
@bp.arguments(schemas.WishIn)
@bp.response(201, schemas.WishReceived)
@errors(400, 413, 415, 429)
@bp.doc(summary="Submit a wish", description="The wish form's checks; returns its tracking code.")
def submit_wish(body: dict[str, Any]):
    db = get_db()
    form = intake.checked_form(db, body)
    if form.errors:
        raise ApiError(422, "invalid_field", fields=_messages(form.errors))
    _limited("wish")
    wish = intake.receive(db, form, channel=CHANNEL)
    path = url_for("tracking.wish_status", code=wish["tracking_code"])
    location = url_for(".track_wish", code=wish["tracking_code"])
    return (
        {
            "tracking_code": wish["tracking_code"],
            "state": wish["state"],
            "tracking_url": public_url(path),
        },
        {"Location": location},
    )


def _messages(found: dict[str, Any]) -> dict[str, list[str]]:
    return {name: [str(message) for message in messages] for name, messages in found.items()}


def _claimant(db, wish: dict[str, Any]) -> str:
    """Who claimed the wish, as the tracking page says it (tracking/views.py, `_claimant`)."""
    kind, name = wish.get("claimant_kind"), wish.get("claimant_name") or ""
    if kind == ClaimantKind.BRANCH:
        units = organisation.branches(db, active_only=False)
    elif kind == ClaimantKind.DEPARTMENT:
        units = organisation.departments(db, active_only=False)
    else:
        return name
    unit = next((u for u in units if u["name"] == name), None)
    return i18n.unit_name(unit) if unit else i18n.unit_name({"name": name})


CLAIMED = {State.CLAIMED, State.IN_PROGRESS, State.FULFILLED, State.FOLLOWED_UP}


def _events(events: list[dict[str, Any]], names: dict[str, str], *, reasons: bool) -> list:
    return [
        {
            "at": event["at"],
            "action": event["action"],
            "state": event["to_state"],
            "branch": names.get(event["branch_code"] or ""),
            # The tracking page shows a decline's reason only; staff read every reason.
            "reason": (event["reason"] or None)
            if reasons or event["action"] == Action.DECLINE
            else None,
        }
        for event in events
    ]


@bp.get("/wishes/<code>")
@bp.response(200, schemas.PublicWish)
@errors(404, 429)
@bp.doc(summary="Track a wish by its code", description="What the tracking page shows.")
def track_wish(code: str):
    _limited("tracking")
    db = get_db()
    wish = lifecycle.find_by_tracking_code(db, lifecycle.normalise_tracking_code(code))
    if wish is None:
        raise ApiError(404, "not_found", "no wish has this tracking code")
    names = i18n.unit_names(organisation.branches(db, active_only=False))
    state = State(wish["state"])
    done = state in (State.FULFILLED, State.FOLLOWED_UP)
    category = wish["category"]
    return {
        "tracking_code": wish["tracking_code"],
        "state": wish["state"],
        "text": wish["text"],
        "reason": wish["reason"] or "",
        "category": category if category and category != "not_a_wish" else None,
        "branch": names.get(wish["branch_code"] or "") if state is State.OPEN else None,
        "claimant": (_claimant(db, wish) or None) if state in CLAIMED else None,
        "fulfilment_note": wish["fulfilment_note"] if done else None,
        "decline_reason": wish["decline_reason"] if state is State.DECLINED else None,
        "created_at": wish["created_at"],
        "events": _events(lifecycle.history(db, wish["id"]), names, reasons=False),
    }


# ---- public: questionnaires ------------------------------------------------------------------


def _live(slug: str):
    version = questionnaires.live_version(get_db(), slug)
    if version is None:
        raise ApiError(404, "not_found", "no published questionnaire has this name")
    return version


@bp.get("/questionnaires/<slug>")
@bp.response(200, schemas.Questionnaire)
@errors(404)
@bp.doc(summary="The live questionnaire", description="Its published version's questions.")
def questionnaire(slug: str):
    version = _live(slug)
    found = questionnaires.questionnaire(get_db(), slug) or {}
    return {
        "slug": version.slug,
        "version": version.number,
        "title": version.definition.get("title") or {},
        "intro": version.definition.get("intro") or None,
        "questions": version.questions,
        "open_now": questionnaires.open_now(get_db(), slug),
        "opens_on": found.get("opens_on"),
        "closes_on": found.get("closes_on"),
    }


@bp.post("/questionnaires/<slug>/responses")
@bp.arguments(schemas.ResponseIn)
@bp.response(201, schemas.ResponseStored)
@bp.alt_response(200, schema=schemas.ResponseStored, description="Stored before", success=True)
@errors(400, 404, 409, 413, 415, 429)
@bp.doc(summary="Answer the questionnaire", description="The answering page's checks.")
def answer(body: dict[str, Any], slug: str):
    db = get_db()
    version = _live(slug)
    if not questionnaires.open_now(db, slug):
        raise ApiError(409, "questionnaire_closed")
    form, problems = questionnaires.check_answers(
        db, version, body["answers"], body.get("submission_id"), organisation.departments(db)
    )
    if problems:
        raise ApiError(422, "invalid_field", fields=problems)
    _limited("answer")
    _id, stored = questionnaires.save_answers(db, version, form, CHANNEL)
    return {"submission_id": form.submission_id.data, "stored": stored}, 201 if stored else 200


# ---- staff -----------------------------------------------------------------------------------


def _staff_wish(wish: dict[str, Any]) -> dict[str, Any]:
    return {**wish, "overdue": bool(wish.get("overdue")), "tags": wish.get("tags") or []}


@bp.get("/staff/wishes")
@token_required("read")
@bp.arguments(schemas.WishQuery, location="query")
@bp.response(200, schemas.WishPage)
@errors(401, 403)
@bp.doc(
    summary="List wishes",
    description="The board's list: every staff member reads every branch; a member's or "
    "secretary's default is their branch. Scope `read`.",
    security=SECURITY,
)
def list_wishes(query: dict[str, Any]):
    user = g.token.user
    branch = query.get("branch") or ""
    if not branch:
        branch = user.branch_code if user.role in ("member", "secretary") else ""
    found = board.BoardQuery(
        branch=None if branch in ("", "all") else branch,
        states=(query["state"],) if query.get("state") else (),
        claimed_by=user.id if query.get("mine") else None,
        text=query.get("q") or "",
        page=query["page"],
        per_page=query["per_page"],
    )
    deadlines = Deadlines.from_config(hospital.config())
    page = board.board_page(get_db(), found, deadlines, datetime.now(UTC))
    return {
        "wishes": [_staff_wish(row) for row in page.rows],
        "total": page.total,
        "page": page.page,
        "per_page": page.per_page,
        "pages": page.pages,
    }


def _detail(wish_id: int) -> dict[str, Any]:
    db = get_db()
    wish = board.wish_for_staff(db, wish_id)
    if wish is None:
        raise ApiError(404, "not_found", "no wish has this id")
    names = organisation.branch_names(db)
    return {
        **_staff_wish(wish),
        "phone_masked": intake.mask_phone(wish.get("phone")),
        "events": _events(board.timeline(db, wish_id), names, reasons=True),
        "patients": lifecycle.group_size(db, wish),
        "notes": board.notes(db, wish_id),
    }


@bp.get("/staff/wishes/<int:wish_id>")
@token_required("read")
@bp.response(200, schemas.StaffWishDetail)
@errors(401, 403, 404)
@bp.doc(summary="Read one wish", description="Scope `read`.", security=SECURITY)
def read_wish(wish_id: int):
    return _detail(wish_id)


@contextmanager
def _on_a_wish() -> Iterator[None]:
    """What the board's checks of a change on a wish refuse, as the API's errors."""
    try:
        yield
    except lifecycle.WishNotFound:
        raise ApiError(404, "not_found", "no wish has this id") from None
    except board.MoveForbidden:
        raise ApiError(403, "forbidden") from None
    except board.MoveInvalid as invalid:
        raise ApiError(422, "invalid_field", fields=_messages(invalid.errors)) from None


def _move(wish_id: int, action: Action, fields: dict[str, Any]) -> dict[str, Any]:
    try:
        with _on_a_wish():
            board.move(get_db(), g.token.user, wish_id, action, fields)
    except lifecycle.UnknownBranch:
        raise ApiError(422, "invalid_field", fields={"branch": ["no such active branch"]}) from None
    except lifecycle.IllegalMove as refused:
        code = refused.code if refused.code in schemas.ERROR_CODES else "illegal_move"
        state = refused.state and str(refused.state)
        raise ApiError(409, code, f"cannot {action} a wish that is {state}") from None
    return _detail(wish_id)


MOVE_ERRORS = (400, 401, 403, 404, 409, 413, 415)


@bp.post("/staff/wishes/<int:wish_id>/claim")
@token_required("write")
@bp.arguments(schemas.ClaimIn, required=False)
@bp.response(200, schemas.StaffWishDetail)
@errors(*MOVE_ERRORS)
@bp.doc(summary="Claim a wish", description="Scope `write`.", security=SECURITY)
def claim(body: dict[str, Any], wish_id: int):
    return _move(wish_id, Action.CLAIM, body)


@bp.post("/staff/wishes/<int:wish_id>/start")
@token_required("write")
@bp.arguments(schemas.StartIn, required=False)
@bp.response(200, schemas.StaffWishDetail)
@errors(*MOVE_ERRORS)
@bp.doc(summary="Start work on a claimed wish", description="Scope `write`.", security=SECURITY)
def start(body: dict[str, Any], wish_id: int):
    return _move(wish_id, Action.START, body)


@bp.post("/staff/wishes/<int:wish_id>/fulfil")
@token_required("write")
@bp.arguments(schemas.FulfilIn)
@bp.response(200, schemas.StaffWishDetail)
@errors(*MOVE_ERRORS)
@bp.doc(summary="Fulfil a wish", description="Scope `write`.", security=SECURITY)
def fulfil(body: dict[str, Any], wish_id: int):
    return _move(wish_id, Action.FULFIL, body)


@bp.post("/staff/wishes/<int:wish_id>/reroute")
@token_required("write")
@bp.arguments(schemas.RerouteIn)
@bp.response(200, schemas.StaffWishDetail)
@errors(*MOVE_ERRORS)
@bp.doc(summary="Send a wish to another branch", description="Scope `write`.", security=SECURITY)
def reroute(body: dict[str, Any], wish_id: int):
    return _move(wish_id, Action.REROUTE, body)


@bp.post("/staff/wishes/<int:wish_id>/notes")
@token_required("write")
@bp.arguments(schemas.NoteIn)
@bp.response(201, schemas.Note)
@errors(400, 401, 403, 404, 413, 415)
@bp.doc(
    summary="Leave an internal note",
    description="Scope `write`. Staff read it on the wish's page; the patient never does.",
    security=SECURITY,
)
def note(body: dict[str, Any], wish_id: int):
    user = g.token.user
    by = audit.Who(user.id, user.username, request.remote_addr or "")
    with _on_a_wish():
        return board.add_note(get_db(), user, wish_id, body, by)
