"""Printable A6 bedside cards: a QR code that opens the phone form with the ward filled in."""

from __future__ import annotations

from flask import abort, render_template, url_for

from .. import organisation
from ..audiences import AreaBlueprint, Audience
from ..i18n import qr_language, unit_name
from ..storage import get_db
from .qr import public_url, qr_svg

bp = AreaBlueprint("cards", __name__, audience=Audience.PHONE, url_prefix="/cards")


@bp.get("")
def index():
    return render_template("cards/index.html", departments=organisation.departments(get_db()))


@bp.get("/<ward>")
def bedside_card(ward: str):
    department = organisation.department(get_db(), ward)
    if department is None:
        abort(404)
    # A card printed in Traditional Chinese or English opens the form in that language.
    url = public_url(url_for("intake.wish_form", dept=department["code"], lang=qr_language()))
    return render_template(
        "cards/bedside.html",
        department=department,
        url=url,
        qr=qr_svg(url, label=unit_name(department)),
    )
