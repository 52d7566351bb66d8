"""/admin/deliveries: the administrator's delivery log of the one outbox (branch notifications,
patients' texts, webhooks out), with every attempt, and a replay of one delivery (audited)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from .. import audit
from ..accounts import staff_required, who
from ..audiences import AreaBlueprint, Audience
from ..paging import page_number
from ..storage import get_db, transaction, utcnow
from . import store

bp = AreaBlueprint("deliveries", __name__, audience=Audience.STAFF, url_prefix="/admin/deliveries")

PER_PAGE = 50
# The kinds of the outbox, as the page names them.
KINDS = {
    store.STATE_CHANGE: "Webhook（状态变化）",
    store.PATIENT_TEXT: "患者短信",
    "assigned": "支部通知：新心愿",
    "overdue": "支部通知：超时提醒",
    store.INBOX: "员工待办：发到支部 Webhook",
}


@bp.get("")
@staff_required("manage_settings")
def index():
    kind = request.args.get("kind") or None
    if kind is not None and kind not in KINDS:
        abort(404)
    page = page_number(request.args)
    db = get_db()
    rows = store.deliveries(db, kind, PER_PAGE, (page - 1) * PER_PAGE)
    attempts = store.attempts_for(db, [row["id"] for row in rows])
    total = store.count_deliveries(db, kind)
    return render_template(
        "notifications/deliveries.html",
        rows=rows,
        attempts=attempts,
        kinds=KINDS,
        kind=kind,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
    )


@bp.post("/<int:notification_id>/replay")
@staff_required("manage_settings")
def replay(notification_id: int):
    db = get_db()
    with transaction(db):
        row = store.replay(db, notification_id, utcnow())
        if row is not None:
            audit.record(
                db,
                "delivery_replayed",
                who(),
                subject_kind="notification",
                subject_id=notification_id,
                detail={"kind": row["kind"], "wish_id": row["wish_id"]},
            )
    if row is None:
        abort(404)
    flash(f"第 {notification_id} 条已重新排队，后台进程会在下一轮发送。", "success")
    return redirect(url_for(".index", kind=request.args.get("kind") or None))
