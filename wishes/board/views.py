"""The claim board: the list of wishes, one wish's page, and every move on a wish.

Every move is a POST with a CSRF token to its own view (`/board/wishes/<id>/<move>`), with its
own form (forms.py). The view loads the wish, checks the visitor's role and branch
(accounts.permissions) and the form (`_posted`), then makes the move through the state machine
(lifecycle), telling it how the permission check saw the wish (`lifecycle.Seen`): the move
re-checks state, branch and claimer inside its transaction and refuses with a code if the wish
changed meanwhile; `_moved` says what was done, or why not (glossary), on the wish's page.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

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
from werkzeug.wrappers import Response

from .. import audit, glossary, hospital, inbox, lifecycle, organisation
from ..accounts import BRANCH_ROLES, Role, active_staff, may, staff_required, who
from ..audiences import AreaBlueprint, Audience
from ..deadlines import Deadlines, overdue_for_navigation
from ..lifecycle import Action, Actor, ClaimantKind, IllegalMove, Seen, State, UnknownBranch
from ..measures import COUNTED, SHOWN
from ..paging import page_number
from ..storage import get_db, utcnow
from . import moving, store
from .forms import (
    WISH_FORMS,
    ActionForm,
    AssignForm,
    BoardFilterForm,
    ClaimForm,
    DeclineForm,
    FollowUpForm,
    FulfilForm,
    HandBackForm,
    MergeForm,
    NoteForm,
    RerouteForm,
    StartForm,
    TriageForm,
    WishActionForm,
    photo_type,
)

bp = AreaBlueprint("board", __name__, audience=Audience.STAFF)
F = TypeVar("F", bound=WishActionForm)


def _now() -> datetime:
    return datetime.now(UTC)


def _deadlines() -> Deadlines:
    return Deadlines.from_config(hospital.config())


def _actor() -> Actor:
    return Actor("staff", current_user.name, current_user.id)


# ---- the board ----------------------------------------------------------------------------


def _board_query(form: BoardFilterForm) -> store.BoardQuery:
    branch = form.branch.data
    if not branch:  # the default view: a branch's people see their branch
        branch = current_user.branch_code if current_user.role in ("member", "secretary") else ""
        form.branch.data = branch or "all"
    state = form.state.data if form.state.data in glossary.STATES else ""
    if form.sort.data not in store.SORTS:
        form.sort.data = _default_sort(state)  # the select shows the order used
    return store.BoardQuery(
        branch=None if branch in ("", "all") else branch,
        states=(state,) if state else (),
        overdue=form.overdue.data,
        claimed_by=current_user.id if form.mine.data else None,
        created_from=form.created_from.data and form.created_from.data.isoformat(),
        created_to=form.created_to.data and form.created_to.data.isoformat(),
        text=(form.q.data or "")[:100],
        counted=form.counted.data if form.counted.data in COUNTED else "",
        unhappy=form.unhappy.data,
        sort=form.sort.data,
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
    if form.q.data and (found := _wish_by_code(db, form.q.data)):
        # A tracking code finds its wish wherever it is, whatever the filters say.
        return redirect(url_for("board.wish_page", wish_id=found["id"]))
    query = _board_query(form)
    page = store.board_page(db, query, _deadlines(), _now())
    elsewhere = 0
    if not page.rows and query.branch and query.text:
        # The branch filter hid what was searched for: say so, and how many it hid.
        everywhere = dataclasses.replace(query, branch=None, page=1)
        elsewhere = store.board_page(db, everywhere, _deadlines(), _now()).total
    return render_template(
        "board/index.html",
        form=form,
        page=page,
        query=query,
        state_tabs=_state_tabs(form, page),
        now=_now(),
        search_limit=store.SEARCH_LIMIT,
        first_wish_to_come=not page.rows and not store.any_wishes(db),
        elsewhere=elsewhere,
        counted=SHOWN.get(query.counted, ""),
        filtered=_filtered(form),
    )


def _default_sort(state: str) -> str:
    """Newest first, but the triage queue oldest first: the wish waiting longest (overdue
    first of all) is the one to triage now."""
    return "oldest" if state == "triage" else "newest"


def _wish_by_code(db, typed: str) -> dict[str, Any] | None:
    code = lifecycle.normalise_tracking_code(typed)
    return lifecycle.find_by_tracking_code(db, code) if len(code) == 7 else None


def _filtered(form: BoardFilterForm) -> bool:
    """Whether a filter other than the branch narrows the board (its empty page offers to
    clear them)."""
    return bool(
        form.state.data
        or form.overdue.data
        or form.mine.data
        or form.created_from.data
        or form.created_to.data
        or form.q.data
        or form.counted.data in COUNTED
        or form.unhappy.data
    )


def _state_tabs(form: BoardFilterForm, page: store.BoardPage) -> list[dict[str, Any]]:
    """One link per state with its count, keeping every other filter."""
    args = MultiDict(request.args)
    args.pop("page", None)
    args["branch"] = form.branch.data
    tabs = []
    for state, label in [("", "全部"), *glossary.STATES.items()]:
        args["state"] = state
        query: dict[str, Any] = args.to_dict()
        count = page.counts.get(state, 0) if state else sum(page.counts.values())
        tabs.append(
            {
                "label": label,
                "count": count,
                "current": (form.state.data or "") == state,
                "url": url_for("board.index", **query),
            }
        )
    return tabs


# ---- one wish -----------------------------------------------------------------------------


def _wish_or_404(wish_id: int) -> dict[str, Any]:
    db = get_db()
    wish = store.wish_detail(db, wish_id, _deadlines(), _now())
    if wish is None:
        abort(404)
    return moving.with_placements(db, wish)


def _forms(wish: dict[str, Any], posted: type[F] | None = None) -> dict[Action, WishActionForm]:
    """A form for every move this visitor may make on this wish in its current state, in the
    page's order. Only the posted move's form reads the request; the others start empty."""
    db = get_db()
    branches, departments = organisation.branches(db), organisation.departments(db)
    forms: dict[Action, WishActionForm] = {}
    for form_class in WISH_FORMS:
        move = form_class.move
        if not lifecycle.allows(move, wish) or not may(current_user, move, wish):
            continue
        form = form_class() if form_class is posted else form_class(formdata=None)
        form.fit(wish, branches, departments)
        for field in form:  # the forms share field names (reason, note): ids of their own
            field.id = field.label.field_id = f"{move}-{field.id}"
        forms[move] = form
    return forms


def _members(wish: dict[str, Any]) -> list[tuple[int, str]]:
    """Whom the wish may be assigned to: the active members and secretary of its branch."""
    branch = wish["branch_code"]
    return active_staff(get_db(), BRANCH_ROLES, branch) if branch else []


def _beside(
    wish: dict[str, Any], note_form: NoteForm | None = None, assign_form: AssignForm | None = None
) -> dict[str, Any]:
    """What the wish page shows beside the moves: internal notes, whom it is assigned to,
    similar wishes (which may be merged into it) and the wishes merged into it."""
    db = get_db()
    members = _members(wish)
    if assign_form is None:
        assign_form = AssignForm(formdata=None, user=wish["assigned_user_id"])
    assign_form.fit(members)
    may_assign = (
        may(current_user, "assign", wish)
        and wish["state"] in (State.CLAIMED, State.IN_PROGRESS)
        and not wish["merged_into_id"]
        and bool(members)
    )
    may_merge = may(current_user, "merge", wish) and wish["state"] in lifecycle.MERGEABLE
    similar = [] if wish["merged_into_id"] else store.similar_to(db, wish["id"])
    main = lifecycle.find_by_id(db, wish["merged_into_id"]) if wish["merged_into_id"] else None
    return {
        "notes": store.notes(db, wish["id"]),
        "note_form": note_form or NoteForm(formdata=None),
        "may_note": may(current_user, "note", wish),
        "assignee": dict(members).get(wish["assigned_user_id"]),
        "assign_form": assign_form if may_assign else None,
        "similar": [
            {**other, "mergeable": may_merge and may(current_user, "merge", other)}
            for other in similar
        ],
        "merged": store.merged_into(db, wish["id"]),
        "main": main,
        "may_unmerge": bool(main) and may_merge,
        "patients": lifecycle.group_size(db, wish),
    }


def _render_wish(
    wish: dict[str, Any],
    forms: dict[Action, WishActionForm],
    *,
    phone: str | None = None,
    status: int = 200,
    **beside: Any,
):
    db = get_db()
    response = make_response(
        render_template(
            "board/wish.html",
            wish=wish,
            forms=forms,
            revealed_phone=phone,
            events=store.timeline(db, wish["id"]),
            rating=lifecycle.rating_of(db, wish["id"]),
            branch_names=organisation.branch_names(db),
            may_reveal=bool(wish["phone"]) and may(current_user, "reveal_phone", wish),
            reveal_form=ActionForm(formdata=None),
            action_form=ActionForm(formdata=None),
            now=_now(),
            **_beside(wish, **beside),
        ),
        status,
    )
    response.headers["Cache-Control"] = "no-store"  # the page may hold a revealed phone number
    return response


@bp.get("/board/wishes/<int:wish_id>")
@staff_required()
def wish_page(wish_id: int):
    wish = _wish_or_404(wish_id)
    inbox.mark_wish_read(get_db(), current_user.id, wish_id, utcnow())
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


def _posted(wish_id: int, form_class: type[F]) -> tuple[dict[str, Any], F]:
    """The wish and the valid form of a posted move; or the request ends here: 404 (no such
    wish), 403 (not this visitor's to make), a refusal (not in the wish's state as read now),
    400 (no valid CSRF token) or the page again with what was typed and what is wrong."""
    move = form_class.move
    wish = _wish_or_404(wish_id)
    if not may(current_user, move, wish):
        abort(403)
    forms = _forms(wish, posted=form_class)
    form = forms.get(move)
    if form is None:  # allowed for the role, but not in the wish's state as read now
        if not ActionForm().validate_on_submit():  # the CSRF token still has to be right
            abort(400)
        try:
            lifecycle.target(move, wish)
        except IllegalMove as error:
            flash(glossary.refusal(error), "error")
        abort(_back_to(wish_id))
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            form.form_errors.append("页面停留太久已过期，请再提交一次（填写的内容还在）。")
        abort(_render_wish(wish, forms, status=400))
    return wish, form


def _moved(wish: dict[str, Any], move: Action, make: Callable[[Seen], dict[str, Any]]):
    """Make the move (`make`, given the wish as the permission check saw it) and go back to
    the wish's page saying what was done, or why the state machine refused."""
    try:
        moved = make(Seen.of(wish))
    except (IllegalMove, UnknownBranch) as error:
        flash(glossary.refusal(error), "error")
    else:
        flash(glossary.done(move, moved), "success")
    return _back_to(wish["id"])


def _back_to(wish_id: int) -> Response:
    return redirect(url_for("board.wish_page", wish_id=wish_id), 303)


@bp.post("/board/wishes/<int:wish_id>/triage")
@staff_required()
def triage(wish_id: int):
    wish, form = _posted(wish_id, TriageForm)
    return _moved(
        wish,
        Action.TRIAGE,
        lambda seen: lifecycle.triage(
            get_db(),
            wish_id,
            form.branch.data,
            _actor(),
            category=moving.confirmed_category(wish, form, form.branch.data),
            seen=seen,
        ),
    )


@bp.post("/board/wishes/<int:wish_id>/claim")
@staff_required()
def claim(wish_id: int):
    wish, form = _posted(wish_id, ClaimForm)
    db, kind = get_db(), ClaimantKind(form.kind.data)
    department = dict(form.department.choices).get(form.department.data, "")
    name = moving.claimant_name(db, current_user, kind, department)
    return _moved(
        wish,
        Action.CLAIM,
        lambda seen: lifecycle.claim(db, wish_id, _actor(), kind, name, seen=seen),
    )


@bp.post("/board/wishes/<int:wish_id>/start")
@staff_required()
def start(wish_id: int):
    wish, _form = _posted(wish_id, StartForm)
    return _moved(
        wish, Action.START, lambda seen: lifecycle.start(get_db(), wish_id, _actor(), seen=seen)
    )


@bp.post("/board/wishes/<int:wish_id>/fulfil")
@staff_required()
def fulfil(wish_id: int):
    wish, form = _posted(wish_id, FulfilForm)
    photo_name = _save_photo(wish_id, form)

    def make(seen: Seen) -> dict[str, Any]:
        try:
            return lifecycle.fulfil(
                get_db(), wish_id, _actor(), form.note.data, photo=photo_name, seen=seen
            )
        except Exception:
            if photo_name:
                (_photo_dir() / photo_name).unlink(missing_ok=True)
            raise

    return _moved(wish, Action.FULFIL, make)


@bp.post("/board/wishes/<int:wish_id>/follow_up")
@staff_required()
def follow_up(wish_id: int):
    wish, form = _posted(wish_id, FollowUpForm)
    confirmed = form.confirmed.data == "yes"
    return _moved(
        wish,
        Action.FOLLOW_UP,
        lambda seen: lifecycle.follow_up(
            get_db(), wish_id, _actor(), confirmed, form.note.data, seen=seen
        ),
    )


@bp.post("/board/wishes/<int:wish_id>/hand_back")
@staff_required()
def hand_back(wish_id: int):
    wish, form = _posted(wish_id, HandBackForm)
    return _moved(
        wish,
        Action.HAND_BACK,
        lambda seen: lifecycle.hand_back(get_db(), wish_id, _actor(), form.reason.data, seen=seen),
    )


@bp.post("/board/wishes/<int:wish_id>/reroute")
@staff_required()
def reroute(wish_id: int):
    wish, form = _posted(wish_id, RerouteForm)
    return _moved(
        wish,
        Action.REROUTE,
        lambda seen: lifecycle.reroute(
            get_db(),
            wish_id,
            form.branch.data,
            _actor(),
            form.reason.data,
            category=moving.confirmed_category(wish, form, form.branch.data),
            seen=seen,
        ),
    )


@bp.post("/board/wishes/<int:wish_id>/decline")
@staff_required()
def decline(wish_id: int):
    wish, form = _posted(wish_id, DeclineForm)
    return _moved(
        wish,
        Action.DECLINE,
        lambda seen: lifecycle.decline(get_db(), wish_id, _actor(), form.reason.data, seen=seen),
    )


# ---- beside the moves: assign, notes, merge ------------------------------------------------


@bp.post("/board/wishes/<int:wish_id>/assign")
@staff_required()
def assign(wish_id: int):
    """The branch's secretary hands a claimed wish to a member, who finds it in their inbox."""
    wish = _wish_or_404(wish_id)
    if not may(current_user, "assign", wish):
        abort(403)
    form = AssignForm()
    form.fit(_members(wish))
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        return _render_wish(wish, _forms(wish), status=400, assign_form=form)
    try:
        moved = lifecycle.assign(get_db(), wish_id, form.user.data, _actor(), seen=Seen.of(wish))
    except IllegalMove as error:
        flash(glossary.refusal(error), "error")
    else:
        flash(f"已指派给{moved['assignee_name']}，对方会在“我的待办”中看到。", "success")
    return _back_to(wish_id)


@bp.post("/board/wishes/<int:wish_id>/notes")
@staff_required()
def add_note(wish_id: int):
    """An internal note, never shown to the patient; the audit log records it was written."""
    wish = _wish_or_404(wish_id)
    if not may(current_user, "note", wish):
        abort(403)
    form = NoteForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            form.form_errors.append("页面停留太久已过期，请再提交一次（填写的内容还在）。")
        return _render_wish(wish, _forms(wish), status=400, note_form=form)
    moving.add_note(get_db(), current_user, wish_id, {"text": form.text.data}, who())
    flash("备注已保存（仅工作人员可见）。", "success")
    return _back_to(wish_id)


@bp.post("/board/wishes/<int:wish_id>/merge")
@staff_required()
def merge(wish_id: int):
    """Merge a similar wish (`duplicate`) into this one: it follows this one from now on."""
    main = _wish_or_404(wish_id)
    form = MergeForm()
    if not form.validate_on_submit():
        abort(400)
    duplicate_id = form.duplicate.data
    duplicate = _wish_or_404(duplicate_id)
    if not (may(current_user, "merge", main) and may(current_user, "merge", duplicate)):
        abort(403)
    try:
        lifecycle.merge(get_db(), duplicate_id, wish_id, _actor())
    except IllegalMove as error:
        flash(glossary.refusal(error), "error")
    else:
        flash(
            f"已把心愿 {duplicate['tracking_code']} 合并到本心愿：它的患者会看到这里的进展。",
            "success",
        )
    return _back_to(wish_id)


@bp.post("/board/wishes/<int:wish_id>/unmerge")
@staff_required()
def unmerge(wish_id: int):
    """Undo a merge: the wish goes its own way again, waiting for a claim."""
    wish = _wish_or_404(wish_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    if not may(current_user, "merge", wish):
        abort(403)
    try:
        lifecycle.unmerge(get_db(), wish_id, _actor())
    except IllegalMove as error:
        flash(glossary.refusal(error), "error")
    else:
        flash("已取消合并：这个心愿重新单独办理。", "success")
    return _back_to(wish_id)


def _overdue_navigation() -> dict[str, Any]:
    """Overdue counts for the staff navigation: the visitor's branch, or every branch."""
    if not current_user.is_authenticated:
        return {}
    db = get_db()
    counts = overdue_for_navigation(db, _deadlines(), _now())
    if current_user.role in (Role.MEMBER, Role.SECRETARY):
        return {"mine": counts.get(current_user.branch_code, 0), "by_branch": None}
    names = organisation.branch_names(db)
    waiting = str(glossary.STATES[State.TRIAGE])  # no branch yet
    by_branch = sorted(
        ((code, names.get(code, waiting) if code else waiting, n) for code, n in counts.items()),
        key=lambda item: -item[2],
    )
    return {"mine": sum(counts.values()), "by_branch": by_branch}


def _unhappy_navigation() -> int:
    """For the office: how many wishes a patient's low answer sent back for follow-up."""
    if not current_user.is_authenticated or current_user.role != Role.TRIAGER:
        return 0
    return store.follow_up_due_count(get_db())


def init_app(app) -> None:
    app.add_template_global(_overdue_navigation, "overdue_navigation")
    app.add_template_global(_unhappy_navigation, "unhappy_navigation")
