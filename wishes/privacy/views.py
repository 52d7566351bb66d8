"""The administrator's page for a patient's request: find their wishes by tracking code or
phone number, and erase the name and phone number from one (/admin/personal-data)."""

from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, url_for

from .. import glossary
from ..accounts import staff_required, who
from ..audiences import AreaBlueprint, Audience
from ..storage import get_db
from . import erase_on_request
from .forms import EraseForm, LookupForm
from .lookup import wishes_named_by

bp = AreaBlueprint("privacy", __name__, audience=Audience.STAFF, url_prefix="/admin/personal-data")
RIGHT = "erase_personal_data"
NAMES = {"patient_name": "称呼", "phone": "电话"}


def _page(form: LookupForm, found: list | None = None, status: int = 200):
    response = make_response(
        render_template(
            "privacy/index.html",
            form=form,
            found=found,
            erase_form=EraseForm(formdata=None),
            states=glossary.STATES,
        ),
        status,
    )
    response.headers["Cache-Control"] = "no-store"  # it may list patients' names
    return response


@bp.get("")
@staff_required(RIGHT)
def index():
    return _page(LookupForm(formdata=None))


@bp.post("")
@staff_required(RIGHT)
def lookup():
    form = LookupForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    found = wishes_named_by(get_db(), form.typed.data or "")
    # The field is not filled in again: a full phone number appears on no page (the board
    # shows it on an audited click only).
    return _page(LookupForm(formdata=None), found)


@bp.post("/<int:wish_id>/erase")
@staff_required(RIGHT)
def erase(wish_id: int):
    if not EraseForm().validate_on_submit():
        abort(400)
    erased = erase_on_request(get_db(), wish_id, who())
    if erased is None:
        abort(404)
    if erased.columns:
        words = "、".join(NAMES[column] for column in erased.columns)
        flash(f"已删除心愿 {erased.tracking_code} 的患者{words}，并记入审计日志。", "success")
    else:
        flash(f"心愿 {erased.tracking_code} 已没有患者个人信息。", "success")
    return redirect(url_for(".index"))
