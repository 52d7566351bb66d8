"""/admin/kiosks: register the browser of a kiosk, see the kiosks, stop recognising one."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from .. import audit
from ..accounts import staff_required, who
from ..audiences import AreaBlueprint, Audience
from ..pageform import PageForm, clean_line
from ..storage import get_db, transaction
from . import register, remember_on, store, this_kiosk

bp = AreaBlueprint("kiosks", __name__, audience=Audience.STAFF, url_prefix="/admin/kiosks")


class KioskForm(PageForm):
    name = StringField(
        _l("自助机名称"),
        filters=[clean_line],
        validators=[DataRequired(_l("请填写自助机的名称，例如 门诊大厅 1 号机")), Length(max=40)],
    )


def _page(form: KioskForm, status: int = 200):
    kiosks = store.every(get_db())
    here = next((k for k in kiosks if k["id"] == this_kiosk()), None)
    return render_template("kiosks/index.html", form=form, kiosks=kiosks, here=here), status


@bp.get("")
@staff_required("manage_settings")
def index():
    return _page(KioskForm())


@bp.post("")
@staff_required("manage_settings")
def add():
    form = KioskForm()
    if not form.validate_on_submit():
        return _page(form, 400)
    db = get_db()
    with transaction(db):
        kiosk_id, token = register(db, form.name.data, current_user.id)
        audit.record(
            db,
            "kiosk_registered",
            who(),
            subject_kind="kiosk",
            subject_id=kiosk_id,
            detail={"name": form.name.data},
        )
    flash(f"这台设备已登记为自助机：{form.name.data}", "success")
    response = redirect(url_for(".index"))
    remember_on(response, token)
    return response


@bp.post("/<int:kiosk_id>/revoke")
@staff_required("manage_settings")
def revoke(kiosk_id: int):
    db = get_db()
    with transaction(db):
        name = store.revoke(db, kiosk_id)
        if name is not None:
            audit.record(
                db,
                "kiosk_revoked",
                who(),
                subject_kind="kiosk",
                subject_id=kiosk_id,
                detail={"name": name},
            )
    if name is None:
        flash("没有这台自助机，或它已停用", "error")
    else:
        flash(f"已停用自助机：{name}。它的提交从此按地址计数。", "success")
    return redirect(url_for(".index"))
