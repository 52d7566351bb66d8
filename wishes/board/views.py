"""The claim board: the list of wishes, one wish's page, and every action on a wish.

Every action is a POST with a CSRF token, checked against the visitor's role and branch
(accounts.permissions) and carried out by the state machine (lifecycle), which refuses
moves the wish's state does not allow and writes the event in the same transaction.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import (
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from .. import audit, lifecycle
from ..accounts import staff_required, who
from ..accounts.permissions import WISH_RULES, Role, may
from ..audiences import AreaBlueprint, Audience
from ..lifecycle import Actor, ClaimantKind, IllegalMove, State, UnknownBranch
from ..organisation import store as organisation
from ..paging import page_number
from ..storage import get_db
from . import store
from .forms import (
    STATE_LABELS,
    ActionForm,
    BoardFilterForm,
    ClaimForm,
    FollowUpForm,
    FulfilForm,
    ReasonForm,
    RerouteForm,
    TriageForm,
    photo_type,
)

bp = AreaBlueprint("board", __name__, audience=Audience.STAFF)

ACTION_LABELS = {
    "triage": "分诊",
    "claim": "认领",
    "hand_back": "退回",
    "reroute": "改派",
    "start": "开始办理",
    "fulfil": "登记办结",
    "follow_up": "登记回访",
    "decline": "标记为未能实现",
}


def _now() -> datetime:
    return datetime.now(UTC)


def _limits() -> store.Limits:
    return store.Limits.from_config(current_app.config)


def _actor() -> Actor:
    return Actor("staff", current_user.name, current_user.id)


# ---- the board ----------------------------------------------------------------------------


def _board_query(form: BoardFilterForm) -> store.BoardQuery:
    branch = form.branch.data
    if not branch:  # the default view: a branch's people see their branch
        branch = current_user.branch_code if current_user.role in ("member", "secretary") else ""
        form.branch.data = branch or "all"
    state = form.state.data if form.state.data in STATE_LABELS else ""
    return store.BoardQuery(
        branch=None if branch in ("", "all") else branch,
        states=(state,) if state else (),
        overdue=form.overdue.data,
        claimed_by=current_user.id if form.mine.data else None,
        created_from=form.created_from.data and form.created_from.data.isoformat(),
        created_to=form.created_to.data and form.created_to.data.isoformat(),
        text=(form.q.data or "")[:100],
        sort=form.sort.data if form.sort.data in store.SORTS else "newest",
        page=page_number(request.args),
    )


@bp.get("/board")
@staff_required()
def index():
    db = get_db()
    form = BoardFilterForm(request.args)
    form.set_branches(organisation.branches(db))
    form.validate()  # bad dates are shown as errors and ignored, never a 500
    for field in (form.created_from, form.created_to):
        if field.errors:
            field.data = None
    query = _board_query(form)
    page = store.board_page(db, query, _limits(), _now())
    return render_template(
        "board/index.html",
        form=form,
        page=page,
        query=query,
        state_tabs=_state_tabs(form, page),
        state_labels=STATE_LABELS,
        now=_now(),
        search_limit=store.SEARCH_LIMIT,
    )


def _state_tabs(form: BoardFilterForm, page: store.BoardPage) -> list[dict[str, Any]]:
    """One link per state with its count, keeping every other filter."""
    args = MultiDict(request.args)
    args.pop("page", None)
    args["branch"] = form.branch.data
    tabs = []
    for state, label in [("", "全部"), *STATE_LABELS.items()]:
        args["state"] = state
        count = page.counts.get(state, 0) if state else sum(page.counts.values())
        tabs.append(
            {
                "label": label,
                "count": count,
                "current": (form.state.data or "") == state,
                "url": url_for("board.index", **args.to_dict()),
            }
        )
    return tabs


# ---- one wish -----------------------------------------------------------------------------


def _wish_or_404(wish_id: int) -> dict[str, Any]:
    wish = store.wish_detail(get_db(), wish_id, _limits(), _now())
    if wish is None:
        abort(404)
    return wish


def _forms(wish: dict[str, Any], posted: str | None = None) -> dict[str, Any]:
    """A form for every action this visitor may take on this wish in its current state.

    Only the posted action's form reads the request; the others start empty.
    """
    db = get_db()
    suggestions = [tuple(s) for s in wish["router_suggestions"]]
    state = State(wish["state"])
    forms: dict[str, Any] = {}
    for action in ACTION_LABELS:
        allowed_from, _ = lifecycle.TRANSITIONS[lifecycle.Action(action)]
        if state not in allowed_from or not may(current_user, action, wish):
            continue
        form_class = ACTION_FORMS[action]
        form = form_class() if action == posted else form_class(formdata=None)
        if isinstance(form, TriageForm):
            form.set_branches(organisation.branches(db), suggestions)
        elif isinstance(form, RerouteForm):
            form.set_branches(organisation.branches(db), suggestions, exclude=wish["branch_code"])
        elif isinstance(form, ClaimForm):
            form.set_departments(organisation.departments(db))
        for field in form:  # the forms share field names (reason, note): ids of their own
            field.id = field.label.field_id = f"{action}-{field.id}"
        forms[action] = form
    return forms


def _render_wish(
    wish: dict[str, Any], forms: dict[str, Any], *, phone: str | None = None, status: int = 200
):
    db = get_db()
    response = make_response(
        render_template(
            "board/wish.html",
            wish=wish,
            forms=forms,
            revealed_phone=phone,
            events=store.timeline(db, wish["id"]),
            action_labels=ACTION_LABELS,
            state_labels=STATE_LABELS,
            branch_names=organisation.branch_names(db),
            may_reveal=bool(wish["phone"]) and may(current_user, "reveal_phone", wish),
            reveal_form=ActionForm(formdata=None),
            now=_now(),
        ),
        status,
    )
    response.headers["Cache-Control"] = "no-store"  # the page may hold a revealed phone number
    return response


@bp.get("/board/wishes/<int:wish_id>")
@staff_required()
def wish_page(wish_id: int):
    wish = _wish_or_404(wish_id)
    return _render_wish(wish, _forms(wish))


@bp.post("/board/wishes/<int:wish_id>/reveal-phone")
@staff_required()
def reveal_phone(wish_id: int):
    """Show the patient's full number: a deliberate click, written to the audit log."""
    wish = _wish_or_404(wish_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    if not wish["phone"] or not may(current_user, "reveal_phone", wish):
        abort(403)
    audit.record(
        get_db(),
        "phone_revealed",
        who(),
        subject_kind="wish",
        subject_id=wish_id,
        detail={"tracking_code": wish["tracking_code"]},
    )
    return _render_wish(wish, _forms(wish), phone=wish["phone"])


@bp.get("/board/wishes/<int:wish_id>/photo")
@staff_required()
def photo(wish_id: int):
    """The fulfilment photo: staff only, never on a patient page."""
    wish = _wish_or_404(wish_id)
    if not wish["fulfilment_photo"]:
        abort(404)
    path = _photo_dir() / Path(wish["fulfilment_photo"]).name
    if not path.is_file():
        abort(404)
    response = send_file(path, mimetype=f"image/{'png' if path.suffix == '.png' else 'jpeg'}")
    response.headers["Cache-Control"] = "private, no-store"
    return response


# ---- actions ------------------------------------------------------------------------------


def _photo_dir() -> Path:
    return Path(current_app.config["WISHES_DATA_DIR"]) / "photos"


def _save_photo(wish_id: int, form: FulfilForm) -> str | None:
    upload = form.photo.data
    if not upload:
        return None
    kind = photo_type(upload.stream.read(16))
    upload.stream.seek(0)
    folder = _photo_dir()
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{wish_id}-{secrets.token_hex(8)}.{kind}"
    upload.save(folder / name)
    return name


def _perform(action: str, wish: dict[str, Any], form: Any) -> str:
    """Carry out the action through the state machine; return what to tell the visitor."""
    db, actor, wish_id = get_db(), _actor(), wish["id"]
    if action == "triage":
        lifecycle.triage(db, wish_id, form.branch.data, actor)
        return "已分诊，心愿已转交给所选党支部。"
    if action == "claim":
        kind = ClaimantKind(form.kind.data)
        name = {
            ClaimantKind.BRANCH: organisation.branch_names(db).get(current_user.branch_code, ""),
            ClaimantKind.DEPARTMENT: dict(form.department.choices).get(form.department.data, ""),
            ClaimantKind.PERSON: current_user.name,
        }[kind]
        lifecycle.claim(db, wish_id, actor, kind, name)
        return f"认领成功：患者会看到由「{name}」认领。"
    if action == "hand_back":
        lifecycle.hand_back(db, wish_id, actor, form.reason.data)
        return "已退回，心愿重新等待认领。"
    if action == "reroute":
        lifecycle.reroute(db, wish_id, form.branch.data, actor, form.reason.data)
        return "已改派给其他党支部。"
    if action == "start":
        lifecycle.start(db, wish_id, actor)
        return "已标记为办理中。"
    if action == "fulfil":
        photo_name = _save_photo(wish_id, form)
        try:
            lifecycle.fulfil(db, wish_id, actor, form.note.data, photo=photo_name)
        except Exception:
            if photo_name:
                (_photo_dir() / photo_name).unlink(missing_ok=True)
            raise
        return "已登记办结，患者可以在查询页看到。"
    if action == "follow_up":
        lifecycle.follow_up(db, wish_id, actor, form.confirmed.data == "yes", form.note.data)
        return "已登记回访。"
    if action == "decline":
        lifecycle.decline(db, wish_id, actor, form.reason.data)
        return "已标记为未能实现，患者会看到您写的原因。"
    raise AssertionError(action)


def refusal(error: IllegalMove) -> str:
    """Why a move was refused, in words the person who tried it understands."""
    wish = error.wish or {}
    if error.action is lifecycle.Action.CLAIM and error.state in (State.CLAIMED, State.IN_PROGRESS):
        return f"手慢了一步：这个心愿已被「{wish.get('claimant_name') or '他人'}」认领。"
    if error.state is None:
        return "心愿已经在这个党支部了。"
    verb = ACTION_LABELS.get(str(error.action), str(error.action))
    return f"这个心愿现在是「{STATE_LABELS[error.state]}」，不能{verb}。页面已刷新为最新状态。"


@bp.post("/board/wishes/<int:wish_id>/<action>")
@staff_required()
def act(wish_id: int, action: str):
    if action not in ACTION_LABELS:
        abort(404)
    wish = _wish_or_404(wish_id)
    if not may(current_user, action, wish):
        abort(403)
    forms = _forms(wish, posted=action)
    form = forms.get(action)
    if form is None:  # allowed for the role, but not in the wish's state as this page saw it
        if not ActionForm().validate_on_submit():  # the CSRF token still has to be right
            abort(400)
        flash(refusal(IllegalMove(lifecycle.Action(action), State(wish["state"]), wish)), "error")
        return redirect(url_for("board.wish_page", wish_id=wish_id), 303)
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            form.form_errors.append("页面停留太久已过期，请再提交一次（填写的内容还在）。")
        return _render_wish(wish, forms, status=400)
    try:
        done = _perform(action, wish, form)
    except IllegalMove as error:
        flash(refusal(error), "error")
    except UnknownBranch:
        flash("没有这个党支部，或它已停用。", "error")
    else:
        flash(done, "success")
    return redirect(url_for("board.wish_page", wish_id=wish_id), 303)


ACTION_FORMS = {
    "triage": TriageForm,
    "claim": ClaimForm,
    "hand_back": ReasonForm,
    "reroute": RerouteForm,
    "start": ActionForm,
    "fulfil": FulfilForm,
    "follow_up": FollowUpForm,
    "decline": ReasonForm,
}
assert set(ACTION_FORMS) == set(ACTION_LABELS) <= set(WISH_RULES)


def _overdue_navigation() -> dict[str, Any]:
    """Overdue counts for the staff navigation: the visitor's branch, or every branch."""
    if not current_user.is_authenticated:
        return {}
    db = get_db()
    counts = store.overdue_for_navigation(db, _limits(), _now())
    if current_user.role in (Role.MEMBER, Role.SECRETARY):
        return {"mine": counts.get(current_user.branch_code, 0), "by_branch": None}
    names = organisation.branch_names(db)
    by_branch = sorted(
        ((code, names.get(code, "待分诊") if code else "待分诊", n) for code, n in counts.items()),
        key=lambda item: -item[2],
    )
    return {"mine": sum(counts.values()), "by_branch": by_branch}


def init_app(app) -> None:
    app.add_template_global(_overdue_navigation, "overdue_navigation")
