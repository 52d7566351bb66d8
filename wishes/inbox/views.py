"""/inbox: a staff member's items, newest first, each opening its wish (and read so), and
their choice of the kinds that also go out to the branch's webhook."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms import SelectMultipleField
from wtforms.widgets import CheckboxInput, ListWidget

from .. import organisation
from ..accounts import staff_required
from ..audiences import AreaBlueprint, Audience
from ..pageform import PageForm
from ..paging import page_number
from ..storage import get_db, utcnow
from . import store

bp = AreaBlueprint("inbox", __name__, audience=Audience.STAFF, url_prefix="/inbox")

PER_PAGE = 25
# Each kind as the page names it.
KIND_WORDS = {
    store.NEW_WISH: "支部有新心愿",
    store.ASSIGNED: "指派给我",
    store.OVERDUE: "已超时",
    store.SENT_BACK: "患者评价不满意，退回",
}


class WebhookKindsForm(PageForm):
    kinds = SelectMultipleField(
        "同时发到本支部的 Webhook（如企业微信群机器人）",
        choices=lambda: list(KIND_WORDS.items()),
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
        validate_choice=True,
    )


@bp.get("")
@staff_required()
def index():
    db = get_db()
    page = page_number(request.args)
    total = store.count(db, current_user.id)
    form = WebhookKindsForm(formdata=None, kinds=sorted(store.webhook_kinds(db, current_user.id)))
    return render_template(
        "inbox/index.html",
        items=store.items(db, current_user.id, PER_PAGE, (page - 1) * PER_PAGE),
        unread=store.unread_count(db, current_user.id),
        kind_words=KIND_WORDS,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        form=form,
        branch_webhook=bool(
            current_user.branch_code and organisation.branch_webhook(db, current_user.branch_code)
        ),
    )


@bp.get("/<int:item_id>")
@staff_required()
def open_item(item_id: int):
    wish_id = store.open_item(get_db(), current_user.id, item_id, utcnow())
    if wish_id is None:
        abort(404)
    return redirect(url_for("board.wish_page", wish_id=wish_id))


@bp.post("/read")
@staff_required()
def read_all():
    if not PageForm().validate_on_submit():
        abort(400)
    marked = store.mark_all_read(get_db(), current_user.id, utcnow())
    flash(f"已将 {marked} 条标为已读。", "success")
    return redirect(url_for(".index"), 303)


@bp.post("/webhook")
@staff_required()
def webhook_kinds():
    form = WebhookKindsForm()
    if not form.validate_on_submit():
        flash("没有保存：请重新选择。", "error")
        return redirect(url_for(".index"), 303)
    store.set_webhook_kinds(get_db(), current_user.id, form.kinds.data or [])
    flash("已保存：所选的待办也会发到本支部的 Webhook。", "success")
    return redirect(url_for(".index"), 303)


def _unread_navigation() -> int:
    """The unread count in the staff navigation."""
    if not current_user.is_authenticated:
        return 0
    return store.unread_count(get_db(), current_user.id)


def init_app(app) -> None:
    app.add_template_global(_unread_navigation, "inbox_unread")
