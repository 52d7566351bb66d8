"""Turning a validated wish form into a stored, routed wish."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlite_utils import Database
from werkzeug.datastructures import MultiDict

from .. import i18n, lifecycle, organisation, routing
from .forms import WishForm, normalise_phone


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
    then store it."""
    entry = entry_from_form(form, channel)
    route, branch = route_and_place(db, entry.text, entry.department_code)
    return lifecycle.submit(db, entry, route, branch)


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
