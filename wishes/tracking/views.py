"""Tracking pages: a lookup box and the state and history of one wish, in patient words.

The tracking code is the only key: the page shows that wish alone, never the patient's
name or phone, and never a staff member's personal data.
"""

from __future__ import annotations

from flask import redirect, render_template, request, url_for

from .. import i18n, lifecycle, organisation
from ..audiences import AreaBlueprint, Audience
from ..storage import get_db

bp = AreaBlueprint("tracking", __name__, audience=Audience.PHONE)
kiosk = AreaBlueprint(
    "tracking_kiosk", __name__, audience=Audience.KIOSK, area="tracking", url_prefix="/kiosk"
)


@kiosk.get("/t")
@bp.get("/t")
def lookup():
    typed = request.args.get("code", "")
    if typed:
        code = lifecycle.normalise_tracking_code(typed)
        if code:
            return redirect(url_for(".wish_status", code=code))
    return render_template("tracking/lookup.html", typed=typed)


@kiosk.get("/t/<code>")
@bp.get("/t/<code>")
def wish_status(code: str):
    db = get_db()
    normalised = lifecycle.normalise_tracking_code(code)
    wish = lifecycle.find_by_tracking_code(db, normalised)
    if wish is None:
        return render_template("tracking/unknown.html", code=code), 404
    events = lifecycle.history(db, wish["id"])
    return render_template(
        "tracking/status.html",
        wish=wish,
        events=events,
        branch_names=i18n.unit_names(organisation.branches(db, active_only=False)),
        claimant=_claimant(db, wish),
    )


def _claimant(db, wish: dict) -> str:
    """Who claimed the wish, as the patient reads it: a branch or department by its name in
    the page's language (the wish keeps the Chinese name it had when claimed), a person as
    their name is written."""
    kind, name = wish.get("claimant_kind"), wish.get("claimant_name") or ""
    if kind == lifecycle.ClaimantKind.BRANCH:
        units = organisation.branches(db, active_only=False)
    elif kind == lifecycle.ClaimantKind.DEPARTMENT:
        units = organisation.departments(db, active_only=False)
    else:
        return name
    unit = next((u for u in units if u["name"] == name), None)
    return i18n.unit_name(unit) if unit else i18n.unit_name({"name": name})
