"""The organisation pages (issue 17): the office and the administrator add, rename, reorder,
deactivate and merge units, and bring the whole organisation in and out as one workbook
(upload, a preview of every change, confirm). Every change is a store or workbook function,
each in its transaction with its audit row; the words are the glossary's."""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from .. import audit, lifecycle, needs
from ..accounts import staff_required, who
from ..audiences import AreaBlueprint, Audience
from ..glossary import organisation as words
from ..storage import TIMESTAMP_FORMAT, get_db
from . import store, workbook
from .forms import (
    ADD_FORMS,
    ActionForm,
    BranchPlaceForm,
    ConfirmForm,
    DepartmentPlaceForm,
    MergeForm,
    RenameForm,
    ServesForm,
    ShiftForm,
    UploadForm,
)
from .store import Kind, OrganisationError

bp = AreaBlueprint(
    "organisation", __name__, audience=Audience.STAFF, url_prefix="/admin/organisation"
)
RIGHT = "manage_organisation"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UPLOAD_LIMIT = 5 * 1024 * 1024
UPLOAD_NAME = re.compile(r"[A-Za-z0-9_-]{20,40}\.(xlsx|json)")
UPLOAD_HOURS = 24  # an upload never confirmed is removed after a day


def _kind(kind: str) -> Kind:
    try:
        return Kind(kind)
    except ValueError:
        abort(404)


def _unit(kind: Kind, code: str) -> dict[str, Any]:
    return store.unit(get_db(), kind, code) or abort(404)


def _refused(error: OrganisationError) -> None:
    flash(f"没有修改：{words.message(error.code, error.values)}", "error")


def _form_problems(form) -> str:
    return "；".join(str(error) for errors in form.errors.values() for error in errors)


def _general_choices(db) -> list[tuple[str, str]]:
    return [(g["code"], g["name"]) for g in store.general_branches(db)]


def _add_forms(db) -> dict[str, Any]:
    forms = {kind: form() for kind, form in ADD_FORMS.items()}
    forms["branch"].general_branch.choices = _general_choices(db)
    return forms


def _back(kind: Kind | None = None, code: str = "") -> Any:
    target = request.form.get("back", "")
    if target == "unit" and kind is not None:
        return redirect(url_for(".unit_page", kind=str(kind), code=code))
    anchor = f"{kind}-{code}" if kind is not None and code else None
    return redirect(url_for(".index", _anchor=anchor))


# ---- the overview ---------------------------------------------------------------------------


@bp.get("")
@staff_required(RIGHT)
def index():
    db = get_db()
    general = store.general_branches(db, active_only=False)
    branches = store.branches(db, active_only=False)
    departments = store.departments(db, active_only=False)
    names = {d["code"]: d["name"] for d in departments}
    served = store.served_departments(db)
    by_general: dict[str, list[dict[str, Any]]] = {}
    for branch in branches:
        by_general.setdefault(branch["general_branch_code"], []).append(branch)
    campuses: dict[str, list[dict[str, Any]]] = {}
    for department in departments:
        campuses.setdefault(department["campus"] or "", []).append(department)
    return render_template(
        "organisation/index.html",
        general=general,
        by_general=by_general,
        served={code: [names.get(d, d) for d in codes] for code, codes in served.items()},
        campuses=campuses,
        forms=_add_forms(db),
        action_form=ActionForm(),
        shift_form=ShiftForm(),
        kinds=words.KINDS,
        department_kinds=words.DEPARTMENT_KINDS,
        empty=not (general or branches or departments),
    )


@bp.post("/add/<kind>")
@staff_required(RIGHT)
def add(kind: str):
    kind = _kind(kind)
    db = get_db()
    form = _add_forms(db)[str(kind)]
    if not form.validate_on_submit():
        flash(f"没有新增：{_form_problems(form)}", "error")
        return redirect(url_for(".index", _anchor=f"add-{kind}"))
    names = {"name_en": form.name_en.data, "name_hant": form.name_hant.data}
    try:
        if kind is Kind.GENERAL_BRANCH:
            added = store.add_general_branch(db, form.code.data, form.name.data, who(), **names)
        elif kind is Kind.BRANCH:
            added = store.add_branch(
                db,
                form.code.data,
                form.name.data,
                form.general_branch.data,
                who(),
                scope=form.scope.data,
                **names,
            )
        else:
            added = store.add_department(
                db,
                form.code.data,
                form.name.data,
                form.kind.data,
                who(),
                campus=form.campus.data,
                **names,
            )
    except OrganisationError as error:
        _refused(error)
        return redirect(url_for(".index", _anchor=f"add-{kind}"))
    flash(f"已新增{words.KINDS[str(kind)]}“{added['name']}”。", "success")
    return redirect(url_for(".index", _anchor=f"{kind}-{added['code']}"))


# ---- one unit -------------------------------------------------------------------------------


def _unit_forms(db, kind: Kind, found: dict[str, Any]) -> dict[str, Any]:
    forms: dict[str, Any] = {
        "rename": RenameForm(
            data={"name": found["name"], "name_en": found["name_en"] or "", "name_hant": ""}
        ),
        "action": ActionForm(),
    }
    if kind is Kind.BRANCH:
        place = BranchPlaceForm(
            data={
                "general_branch": found["general_branch_code"],
                "scope": found["scope"] or "",
                "webhook_url": found.get("webhook_url") or "",
            }
        )
        place.general_branch.choices = _general_choices(db)
        forms["place"] = place
        serves = ServesForm(data={"departments": store.served_departments(db).get(found["code"])})
        serves.departments.choices = [(d["code"], d["name"]) for d in store.departments(db)]
        forms["serves"] = serves
    elif kind is Kind.DEPARTMENT:
        forms["place"] = DepartmentPlaceForm(
            data={"kind": found["kind"], "campus": found["campus"] or ""}
        )
    return forms


@bp.get("/units/<kind>/<code>")
@staff_required(RIGHT)
def unit_page(kind: str, code: str):
    kind = _kind(kind)
    found = _unit(kind, code)
    db = get_db()
    return render_template(
        "organisation/unit.html",
        kind=str(kind),
        unit=found,
        uses=store.uses(db, kind, code),
        use_words=words.USES,
        forms=_unit_forms(db, kind, found),
        kinds=words.KINDS,
        general_names=dict(_general_choices(db)),
    )


@bp.post("/units/<kind>/<code>/rename")
@staff_required(RIGHT)
def rename(kind: str, code: str):
    kind = _kind(kind)
    found = _unit(kind, code)
    form = RenameForm()
    if not form.validate_on_submit():
        flash(f"没有修改：{_form_problems(form)}", "error")
        return redirect(url_for(".unit_page", kind=str(kind), code=code))
    # A Traditional name typed before is kept while the name stays; a new name without one
    # typed gets OpenCC's conversion.
    typed = form.name_hant.data or (found["name_hant"] if form.name.data == found["name"] else "")
    try:
        store.rename(
            get_db(), kind, code, form.name.data, who(), name_en=form.name_en.data, name_hant=typed
        )
    except OrganisationError as error:
        _refused(error)
        return redirect(url_for(".unit_page", kind=str(kind), code=code))
    flash(f"已保存“{form.name.data}”的名称。", "success")
    return redirect(url_for(".unit_page", kind=str(kind), code=code))


@bp.post("/units/<kind>/<code>/place")
@staff_required(RIGHT)
def place(kind: str, code: str):
    kind = _kind(kind)
    if kind is Kind.GENERAL_BRANCH:
        abort(404)
    found = _unit(kind, code)
    db = get_db()
    form = _unit_forms(db, kind, found)["place"]
    back = redirect(url_for(".unit_page", kind=str(kind), code=code))
    if not form.validate_on_submit():
        flash(f"没有修改：{_form_problems(form)}", "error")
        return back
    try:
        if kind is Kind.BRANCH:
            store.move_branch(db, code, form.general_branch.data, who())
            store.set_scope(db, code, form.scope.data, who())
            store.set_webhook(db, code, form.webhook_url.data or "", who())
        else:
            store.set_department_place(db, code, form.kind.data, form.campus.data, who())
    except OrganisationError as error:
        _refused(error)
        return back
    flash(f"已保存“{found['name']}”。", "success")
    return back


@bp.post("/units/branch/<code>/serves")
@staff_required(RIGHT)
def serves(code: str):
    found = _unit(Kind.BRANCH, code)
    db = get_db()
    form = _unit_forms(db, Kind.BRANCH, found)["serves"]
    back = redirect(url_for(".unit_page", kind="branch", code=code))
    if not form.validate_on_submit():
        flash(f"没有修改：{_form_problems(form)}", "error")
        return back
    try:
        store.set_served_departments(db, code, form.departments.data or [], who())
    except OrganisationError as error:
        _refused(error)
        return back
    flash(f"已保存“{found['name']}”服务的科室和病区。", "success")
    return back


@bp.post("/units/<kind>/<code>/move")
@staff_required(RIGHT)
def move(kind: str, code: str):
    kind = _kind(kind)
    found = _unit(kind, code)
    form = ShiftForm()
    if not form.validate_on_submit():
        abort(400)
    step = -1 if form.direction.data == "up" else 1
    if not store.shift(get_db(), kind, code, step, who()):
        flash(f"“{found['name']}”已经在{'最前' if step < 0 else '最后'}。", "info")
    return _back(kind, code)


@bp.post("/units/<kind>/<code>/deactivate")
@staff_required(RIGHT)
def deactivate(kind: str, code: str):
    return _switch(
        kind, code, store.deactivate, "已停用“{name}”：它不再出现在选择列表中，历史记录保留原名。"
    )


@bp.post("/units/<kind>/<code>/reactivate")
@staff_required(RIGHT)
def reactivate(kind: str, code: str):
    return _switch(kind, code, store.reactivate, "已恢复启用“{name}”。")


def _switch(kind: str, code: str, change, done: str):
    """Deactivate or reactivate a unit; the store refuses one in use (the glossary's words)."""
    unit_kind = _kind(kind)
    found = _unit(unit_kind, code)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        change(get_db(), unit_kind, code, who())
    except OrganisationError as error:
        _refused(error)
        return _back(unit_kind, code)
    flash(done.format(name=found["name"]), "success")
    return _back(unit_kind, code)


# ---- merging branches -----------------------------------------------------------------------


def _merge_form(db, **kwargs) -> MergeForm:
    form = MergeForm(**kwargs)
    choices = [("", "—（请选择）")] + [(b["code"], b["name"]) for b in store.branches(db)]
    form.source.choices = choices
    form.target.choices = choices
    return form


@bp.get("/merge")
@staff_required(RIGHT)
def merge():
    db = get_db()
    form = _merge_form(db, formdata=request.args if request.args else None, meta={"csrf": False})
    moving = None
    source, target = request.args.get("source", ""), request.args.get("target", "")
    active = {b["code"]: b for b in store.branches(db)}
    if source and target:
        if source == target:
            flash(words.message("merge_into_itself", {"value": source}), "error")
        elif source in active and target in active:
            uses = store.uses(db, Kind.BRANCH, source)
            rounds = uses.pop("open_rounds", 0)  # rounds keep the branch: they are not moved
            moving = {"moves": uses, "open_rounds": rounds}
    return render_template(
        "organisation/merge.html",
        form=form,
        confirm_form=ActionForm(),
        moving=moving,
        source=active.get(source),
        target=active.get(target),
        use_words=words.USES,
    )


@bp.post("/merge")
@staff_required(RIGHT)
def merge_confirm():
    db = get_db()
    form = _merge_form(db)
    if not form.validate_on_submit():
        flash(f"没有合并：{_form_problems(form)}", "error")
        return redirect(url_for(".merge"))
    source, target = form.source.data, form.target.data
    names = store.branch_names(db)
    try:
        moved = store.merge_branches(db, source, target, who())
    except OrganisationError as error:
        flash(f"没有合并：{words.message(error.code, error.values)}", "error")
        return redirect(url_for(".merge", source=source, target=target))
    flash(
        f"已把“{names[source]}”合并到“{names[target]}”：移交 {len(moved['wishes'])} 个"
        f"未办结的心愿、{moved['members']} 个账号、分派表 {moved['routing']} 行；"
        "历史记录保留原支部名称。",
        "success",
    )
    return redirect(url_for(".index", _anchor=f"branch-{target}"))


# ---- the workbook ---------------------------------------------------------------------------


def _uploads() -> Path:
    folder = Path(current_app.config["WISHES_DATA_DIR"]) / "uploads" / "organisation"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _forget_old_uploads(folder: Path) -> None:
    limit = time.time() - UPLOAD_HOURS * 3600
    for path in folder.iterdir():
        if path.is_file() and path.stat().st_mtime < limit:
            path.unlink(missing_ok=True)


def _download(data: bytes, filename: str) -> Response:
    response = Response(data, mimetype=XLSX)
    response.headers["Content-Disposition"] = f"attachment; filename={filename}"
    return response


@bp.get("/workbook")
@staff_required(RIGHT)
def workbook_page():
    return render_template("organisation/workbook.html", form=UploadForm())


@bp.get("/workbook/export.xlsx")
@staff_required(RIGHT)
def export():
    rows = workbook.export_rows(get_db())
    return _download(workbook.to_xlsx(rows), "organisation.xlsx")


@bp.get("/workbook/template.xlsx")
@staff_required(RIGHT)
def template():
    return _download(workbook.template_xlsx(), "organisation-template.xlsx")


def _preview(book: workbook.Book, data: bytes | None, upload: str, form: UploadForm):
    """The plan of an upload (every change), or every problem; nothing is changed. A plan
    worth confirming keeps the upload under the data folder (`data`), by a random name."""
    try:
        plan = workbook.apply(get_db(), book, who(), dry_run=True)
    except workbook.WorkbookRefused as refused:
        problems = [str(problem) for problem in refused.problems]
        return render_template("organisation/workbook.html", form=form, problems=problems), 400
    if data is not None and plan:
        folder = _uploads()
        _forget_old_uploads(folder)
        (folder / upload).write_bytes(data)
    confirm = ConfirmForm(data={"upload": upload, "fingerprint": plan.fingerprint()})
    return render_template(
        "organisation/preview.html",
        plan=plan,
        counts=plan.summary(),
        confirm=confirm,
    )


@bp.post("/workbook")
@staff_required(RIGHT)
def preview():
    form = UploadForm()
    if not form.validate_on_submit():
        return render_template("organisation/workbook.html", form=form), 400
    upload = form.file.data
    data = upload.read(UPLOAD_LIMIT + 1)
    if len(data) > UPLOAD_LIMIT:
        form.file.errors.append("文件太大：组织架构工作簿不应超过 5 MB")
        return render_template("organisation/workbook.html", form=form), 400
    filename = upload.filename or ""
    suffix = "json" if filename.lower().endswith(".json") else "xlsx"
    book = workbook.read_upload(filename, data)
    if book.problems:
        return render_template(
            "organisation/workbook.html", form=form, problems=[str(p) for p in book.problems]
        ), 400
    return _preview(book, data, f"{secrets.token_urlsafe(18)}.{suffix}", form)


@bp.post("/workbook/confirm")
@staff_required(RIGHT)
def confirm():
    form = ConfirmForm()
    if not form.validate_on_submit() or not UPLOAD_NAME.fullmatch(form.upload.data):
        flash("没有导入：预览已失效，请重新上传工作簿。", "error")
        return redirect(url_for(".workbook_page"))
    path = _uploads() / form.upload.data
    if not path.is_file():
        flash("没有导入：预览已失效，请重新上传工作簿。", "error")
        return redirect(url_for(".workbook_page"))
    book = workbook.read_upload(path.name, path.read_bytes())
    try:
        plan = workbook.apply(get_db(), book, who(), expected=form.fingerprint.data)
    except workbook.WorkbookRefused as refused:
        for problem in refused.problems:
            flash(f"没有导入：{problem}", "error")
        if any(problem.code == "plan_changed" for problem in refused.problems):
            return _preview(book, None, path.name, UploadForm())
        return redirect(url_for(".workbook_page"))
    path.unlink(missing_ok=True)
    if plan:
        flash(f"已导入工作簿：{len(plan.changes)} 项修改。", "success")
    else:
        flash("工作簿与现有组织相同，没有需要修改的。", "info")
    return redirect(url_for(".index"))


# ---- the routing map --------------------------------------------------------------------------

SUGGESTION_DAYS = 90


def _map_page(db, rows: list[dict[str, Any]], problems: list[str] | None = None, status=200):
    general = {r["category"]: r["branch_code"] for r in rows if not r["department_code"]}
    since = (datetime.now(UTC) - timedelta(days=SUGGESTION_DAYS)).strftime(TIMESTAMP_FORMAT)
    return (
        render_template(
            "organisation/routing.html",
            categories=needs.routable(),
            general=general,
            department_rows=[r for r in rows if r["department_code"]],
            branches=store.branches(db),
            departments=store.departments(db),
            branch_names=store.branch_names(db),
            suggestions=store.routing_suggestions(db, since),
            waiting_corrections=lifecycle.waiting_corrections(db),
            weekly_corrections=lifecycle.WEEKLY_CORRECTIONS,
            suggestion_days=SUGGESTION_DAYS,
            form=ActionForm(),
            problems=problems or [],
        ),
        status,
    )


@bp.get("/routing")
@staff_required(RIGHT)
def routing_map():
    db = get_db()
    return _map_page(db, store.routing_rows(db))


def _posted_map() -> tuple[list[dict[str, Any]], list[str]]:
    """The map as the page sent it: one branch per category (empty: triage), then the
    department rows (a row left blank is dropped; one ticked "remove" too)."""
    form = request.form
    rows: list[dict[str, Any]] = []
    for category in needs.codes():
        if branch := form.get(f"branch-{category}", ""):
            rows.append({"category": category, "department_code": None, "branch_code": branch})
    problems = []
    removed = set(form.getlist("remove"))
    entries = zip(
        form.getlist("row_category"),
        form.getlist("row_department"),
        form.getlist("row_branch"),
        strict=False,
    )
    seen: set[tuple[str, str]] = set()
    for number, (category, department, branch) in enumerate(entries, start=1):
        if str(number) in removed or not (category or department or branch):
            continue
        if not (category and department and branch):
            problems.append(f"科室规则第 {number} 行：需求类别、科室和党支部都要选")
        elif (category, department) in seen:
            problems.append(f"科室规则第 {number} 行：与前面的规则重复")
        else:
            seen.add((category, department))
            rows.append(
                {"category": category, "department_code": department, "branch_code": branch}
            )
    return rows, problems


@bp.post("/routing")
@staff_required(RIGHT)
def save_routing_map():
    db = get_db()
    rows, problems = _posted_map()
    if not ActionForm().validate_on_submit():
        problems.append("页面停留太久已过期，请再提交一次（填写的内容还在）")
    if problems:
        return _map_page(db, rows, problems, 400)
    try:
        store.set_routing(db, rows, who())
    except OrganisationError as error:
        return _map_page(db, rows, [words.message(error.code, error.values)], 400)
    flash("分派表已保存：新的心愿按新的规则分派。", "success")
    return redirect(url_for(".routing_map"))


@bp.post("/routing/suggestion")
@staff_required(RIGHT)
def take_suggestion():
    """Send a category to the branch the re-routes suggest (the map's general row)."""
    db = get_db()
    category, branch = request.form.get("category", ""), request.form.get("branch", "")
    if not ActionForm().validate_on_submit():
        abort(400)
    rows = [
        {**row, "branch_code": branch}
        if row["category"] == category and not row["department_code"]
        else row
        for row in store.routing_rows(db)
    ]
    try:
        store.set_routing(db, rows, who())
    except OrganisationError as error:
        _refused(error)
    else:
        flash("已按建议修改分派表。", "success")
    return redirect(url_for(".routing_map"))


@bp.post("/routing/corrections")
@staff_required(RIGHT)
def accept_corrections():
    """The office reviewed one account's category corrections of one week: the router learns
    from all of them at its next training."""
    if not ActionForm().validate_on_submit():
        abort(400)
    week = request.form.get("week", "")
    user_id = request.form.get("user", type=int)
    if user_id is None or not re.fullmatch(r"\d{4}-\d{2}", week):
        abort(400)
    db = get_db()
    lifecycle.accept_corrections(
        db, user_id, week, lifecycle.Actor("staff", current_user.name, current_user.id)
    )
    audit.record(
        db,
        "router_corrections_accepted",
        who(),
        subject_kind="user",
        subject_id=str(user_id),
        detail={"week": week},
    )
    flash("已采纳：下次训练分派模型时会用到这些纠正。", "success")
    return redirect(url_for(".routing_map"))
