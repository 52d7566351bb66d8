"""Turning a validated wish form into a stored, routed wish."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlite_utils import Database
from werkzeug.datastructures import MultiDict

from .. import board, i18n, lifecycle, needs, organisation, routing, similar
from ..storage import TIMESTAMP_FORMAT, transaction
from .forms import WishForm, normalise_phone

log = logging.getLogger(__name__)


def entry_from_form(form: WishForm, channel: str) -> lifecycle.WishEntry:
    phone = normalise_phone(form.phone.data) if form.phone.data else ""
    return lifecycle.WishEntry(
        text=form.text.data,
        channel=channel,
        reason=form.reason.data or "",
        department_code=form.department.data or None,
        location=form.location.data or "",
        patient_name=form.patient_name.data or "",
        phone=phone,
        contact_consent=bool(phone and form.contact_consent.data),
        language=i18n.language(),
    )


def route_and_place(
    db: Database, wish_text: str, department_code: str | None = None
) -> tuple[routing.RouteDecision | None, str | None]:
    """The router's decision and the branch the hospital's routing map gives its category (for
    the patient's department when the map has a row for it); the branch is None when the map
    does not place the category. Whether the wish goes there is lifecycle.submit's rule."""
    decision = routing.route(wish_text)
    if decision is None or decision.category is None:
        return decision, None
    return decision, organisation.branch_for(db, decision.category, department_code)


def receive(db: Database, form: WishForm, channel: str) -> dict[str, Any]:
    """Find the wish's category and branch outside the write transaction (milliseconds),
    then store it, and link the open wishes with the same need."""
    entry = entry_from_form(form, channel)
    route, branch = route_and_place(db, entry.text, entry.department_code)
    wish = lifecycle.submit(db, entry, route, branch)
    try:
        link_similar(db, wish)
    except sqlite3.OperationalError:  # the write lock busy past its timeout, say: a hint lost,
        log.exception("similar wishes of %s not linked", wish["tracking_code"])  # not the wish
    return wish


def link_similar(db: Database, wish: dict[str, Any]) -> int:
    """Link the wish to the open wishes with the same need: the same category and department,
    created in the SIMILAR_DAYS before it, whose words are similar (wishes/similar.py); the
    board shows "相似 N" on them and a person decides whether to merge. Read and scored
    outside the write lock; returns how many were linked."""
    if not wish.get("category") or wish["category"] == needs.NOT_A_WISH:
        return 0
    created = datetime.strptime(wish["created_at"], TIMESTAMP_FORMAT)
    since = (created - timedelta(days=board.SIMILAR_DAYS)).strftime(TIMESTAMP_FORMAT)
    candidates = board.similar_candidates(db, wish, since)
    if not candidates:
        return 0
    scores = similar.scores(wish["text"], [text for _, text in candidates])
    found = [
        (other_id, score)
        for (other_id, _), score in zip(candidates, scores, strict=True)
        if score >= similar.THRESHOLD
    ]
    if found:
        with transaction(db):
            board.link_similar(db, wish["id"], found, wish["created_at"])
    return len(found)


def checked_form(db: Database, fields: Mapping[str, str | bool]) -> WishForm:
    """The wish form filled from another front end's fields (the JSON API: text, reason,
    department, location, patient_name, phone, contact_consent) and checked by the pages'
    rules; `form.errors` says what is wrong, and `receive` stores a form without errors."""
    data = MultiDict(
        (name, "y" if value is True else value)
        for name, value in fields.items()
        if value is not False and value is not None
    )
    data.setdefault("department", "")  # the page's select always sends one: "" is none chosen
    form = WishForm(formdata=data, meta={"csrf": False})
    form.set_departments(organisation.departments(db))
    form.validate()
    return form
