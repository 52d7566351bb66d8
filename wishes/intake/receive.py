"""Turning a validated wish form into a stored, routed wish."""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from .. import lifecycle, routing
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
    )


def receive(db: Database, form: WishForm, channel: str) -> dict[str, Any]:
    """Route the wish outside the write transaction (routing takes milliseconds), then store it."""
    entry = entry_from_form(form, channel)
    return lifecycle.submit(db, entry, routing.route(entry.text))
