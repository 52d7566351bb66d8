"""Login, logout, change password, and the admin's pages for users and the audit log."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit

from flask import (
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user

from .. import audit, clock, glossary, organisation
from ..audiences import AreaBlueprint, Audience
from ..paging import page_number
from ..storage import get_db, utcnow
from . import directory, staff_required, staff_sheet, store, tokens, who
from .forms import ApiTokenForm, ChangePasswordForm, LoginForm, StaffImportForm, UserForm
from .permissions import ROLE_LABELS

bp = AreaBlueprint("accounts", __name__, audience=Audience.STAFF)


def safe_next(target: str | None, default: str) -> str:
    """A `next` address only if it stays on this site (no open redirect) and holds no control
    character (a CR or LF in a Location header ended the request in a 500)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def _home() -> str:
    return url_for("board.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        db = get_db()
        address = request.remote_addr or ""
        wait, attempt = store.begin_login_attempt(db, form.username.data, address)
        if wait or attempt is None:
            audit.record(
                db,
                "login_throttled",
                who(),
                subject_kind="user",
                subject_id=store.shown_login_name(store.login_name(db, form.username.data)),
            )
            minutes = -(-wait // 60)
            form.form_errors.append(f"尝试次数过多，请 {minutes} 分钟后再试。")
            return render_template("accounts/login.html", form=form), 429
        refusal = "wrong_password"
        try:  # the local password, or the hospital's directory (directory.py)
            user = directory.check_password(db, form.username.data, form.password.data)
        except directory.SignInRefused as refused:
            user, refusal = None, refused.code
        store.finish_login_attempt(db, attempt, user is not None)
        if user is None:
            audit.record(
                db,
                "login_failed",
                who(),
                subject_kind="user",
                subject_id=store.shown_login_name(store.login_name(db, form.username.data)),
                detail=None if refusal == "wrong_password" else {"reason": refusal},
            )
            form.form_errors.append(directory.REFUSALS[refusal])
            status = 400
        else:
            session.clear()  # a new session on login: nothing from before carries over
            token = store.start_session(db, user["id"])
            login_user(store.staff_user(user, token))
            audit.record(
                db,
                "login",
                audit.Who(user["id"], user["username"], address),
                subject_kind="user",
                subject_id=user["id"],
            )
            return redirect(safe_next(request.args.get("next"), _home()))
    elif form.errors:
        status = 400
    return render_template("accounts/login.html", form=form), status


@bp.post("/logout")
@staff_required()
def logout():
    db = get_db()
    audit.record(db, "logout", who(), subject_kind="user", subject_id=current_user.id)
    store.end_session(db, current_user.session_token)
    logout_user()
    session.clear()
    flash("您已退出登录。", "info")
    return redirect(url_for("accounts.login"))


@bp.route("/account/password", methods=["GET", "POST"])
def change_password():
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login", next=request.path))
    form = ChangePasswordForm()
    if form.validate_on_submit():
        db = get_db()
        if store.check_password(db, current_user.username, form.current.data) is None:
            form.current.errors.append("当前密码不正确。")
        elif problem := store.password_problem(form.new.data, current_user.username):
            form.new.errors.append(problem)
        else:
            store.set_password(
                db, current_user.id, form.new.data, keep_session=current_user.session_token
            )
            audit.record(
                db, "password_changed", who(), subject_kind="user", subject_id=current_user.id
            )
            flash("密码已修改，您在其他设备上的登录已失效。", "success")
            return redirect(safe_next(request.args.get("next"), _home()))
    status = 400 if form.errors else 200
    return render_template("accounts/password.html", form=form), status


# ---- my API tokens -------------------------------------------------------------------------


def _tokens_page(form: ApiTokenForm, new_token: str | None = None, status: int = 200):
    response = make_response(
        render_template(
            "accounts/tokens.html",
            form=form,
            tokens=tokens.tokens_of(get_db(), current_user.id),
            new_token=new_token,
            now=utcnow(),
        ),
        status,
    )
    response.headers["Cache-Control"] = "no-store"  # a new token is on the page once
    return response


@bp.route("/account/tokens", methods=["GET", "POST"])
@staff_required()
def api_tokens():
    """The visitor's personal access tokens for the JSON API: make one (shown once), revoke."""
    form = ApiTokenForm()
    if not form.validate_on_submit():
        return _tokens_page(form, status=400 if form.errors else 200)
    db = get_db()
    scopes = ["read", "write"] if form.write.data else ["read"]
    token, row = tokens.create_token(
        db, current_user.id, form.name.data, scopes, int(form.days.data), by=current_user.username
    )
    audit.record(
        db,
        "api_token_created",
        who(),
        subject_kind="user",
        subject_id=current_user.id,
        detail={"token": row["prefix"], "scopes": row["scopes"], "expires": row["expires_at"]},
    )
    return _tokens_page(ApiTokenForm(formdata=None), new_token=token)


@bp.post("/account/tokens/<int:token_id>/revoke")
@staff_required()
def revoke_api_token(token_id: int):
    form = ApiTokenForm()  # only its CSRF token is read
    if not form.csrf_token.validate(form):
        abort(400)
    if not tokens.revoke_token(get_db(), token_id, current_user.id):
        abort(404)
    audit.record(
        get_db(), "api_token_revoked", who(), subject_kind="api_token", subject_id=token_id
    )
    flash("令牌已吊销，用它的系统将无法再访问。", "success")
    return redirect(url_for("accounts.api_tokens"), 303)


# ---- admin: users -------------------------------------------------------------------------


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
STAFF_SHEET_LIMIT = 2 * 1024 * 1024


def _users_page(form: StaffImportForm | None = None, problems: list[str] | None = None):
    db = get_db()
    listed = {row["id"]: row for row in store.staff_list(db)}  # phone masked, source
    users = [{**user, **listed.get(user["id"], {})} for user in store.list_users(db)]
    return render_template(
        "accounts/users.html",
        users=users,
        role_labels=ROLE_LABELS,
        import_form=form or StaffImportForm(),
        problems=problems or [],
        directory_source=store.DIRECTORY,
    )


def _xlsx_download(data: bytes, filename: str):
    response = make_response(data)
    response.headers["Content-Type"] = XLSX
    response.headers["Content-Disposition"] = f"attachment; filename={filename}"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/admin/users")
@staff_required("manage_users")
def users():
    return _users_page()


@bp.post("/admin/users/import")
@staff_required("manage_users")
def import_users():
    """A staff workbook in: every problem by row, or every account created and the sheet of
    temporary passwords as this response, once. It is made in memory and never stored."""
    form = StaffImportForm()
    if not form.validate_on_submit():
        return _users_page(form), 400
    data = form.file.data.read(STAFF_SHEET_LIMIT + 1)
    db = get_db()
    try:
        if len(data) > STAFF_SHEET_LIMIT:
            raise staff_sheet.SheetRefused([staff_sheet.Problem("unreadable")])
        rows = staff_sheet.check(db, staff_sheet.read_rows(data))
        sheet = staff_sheet.import_staff(db, rows, who())
    except staff_sheet.SheetRefused as refused:
        return _users_page(form, [problem.words() for problem in refused.problems]), 400
    return _xlsx_download(sheet, "temporary-passwords.xlsx")


@bp.get("/admin/users/export.xlsx")
@staff_required("manage_users")
def export_users():
    rows = staff_sheet.export_staff(get_db(), who())
    return _xlsx_download(staff_sheet.staff_xlsx(rows), "staff.xlsx")


@bp.post("/admin/users/<int:user_id>/phone")
@staff_required("manage_users")
def reveal_phone(user_id: int):
    db = get_db()
    user = store.get_user(db, user_id) or abort(404)
    phone = staff_sheet.reveal_phone(db, user_id, who())
    response = make_response(render_template("accounts/phone.html", user=user, phone=phone))
    response.headers["Cache-Control"] = "no-store"
    return response


def _user_form(db, **kwargs) -> UserForm:
    form = UserForm(**kwargs)
    form.set_branches(organisation.branches(db))
    return form


def _shown_once(user: dict, password: str, heading: str):
    response = make_response(
        render_template(
            "accounts/password_once.html", user=user, password=password, heading=heading
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/admin/users/new", methods=["GET", "POST"])
@staff_required("manage_users")
def new_user():
    db = get_db()
    form = _user_form(db)
    if form.validate_on_submit():
        password = store.new_password()
        try:
            user = store.create_user(
                db,
                form.username.data,
                password,
                form.role.data,
                branch_code=form.branch.data or None,
                display_name=form.display_name.data,
                must_change_password=True,
            )
        except store.AccountError as error:
            form.form_errors.append(str(error))
        else:
            audit.record(
                db,
                "user_created",
                who(),
                subject_kind="user",
                subject_id=user["id"],
                detail={
                    "username": user["username"],
                    "role": user["role"],
                    "branch": user["branch_code"],
                },
            )
            return _shown_once(user, password, "用户已创建")
    status = 400 if form.errors else 200
    return render_template("accounts/user_form.html", form=form, user=None), status


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@staff_required("manage_users")
def edit_user(user_id: int):
    db = get_db()
    user = store.get_user(db, user_id) or abort(404)
    form = _user_form(
        db,
        data=None
        if request.method == "POST"
        else {
            "username": user["username"],
            "display_name": user["display_name"],
            "role": user["role"],
            "branch": user["branch_code"] or "",
            "active": user["active"],
        },
    )
    form.username.data = user["username"]  # fixed: the username is an account's identity
    if form.validate_on_submit():
        try:
            after = store.update_user(
                db,
                user_id,
                role=form.role.data,
                branch_code=form.branch.data or None,
                display_name=form.display_name.data,
                active=form.active.data,
            )
        except store.AccountError as error:
            form.form_errors.append(str(error))
        else:
            changed = {
                key: [user[key], after[key]]
                for key in ("role", "branch_code", "display_name", "active")
                if user[key] != after[key]
            }
            if changed:
                audit.record(
                    db,
                    "user_updated",
                    who(),
                    subject_kind="user",
                    subject_id=user_id,
                    detail=changed,
                )
            flash(f"已保存 {user['username']}。", "success")
            return redirect(url_for("accounts.users"))
    status = 400 if form.errors else 200
    return render_template("accounts/user_form.html", form=form, user=user), status


@bp.post("/admin/users/<int:user_id>/reset-password")
@staff_required("manage_users")
def reset_password(user_id: int):
    db = get_db()
    user = store.get_user(db, user_id) or abort(404)
    password = store.new_password()
    store.set_password(db, user_id, password, must_change=True)
    audit.record(db, "password_reset", who(), subject_kind="user", subject_id=user_id)
    return _shown_once(user, password, "密码已重置")


# ---- admin: audit log ---------------------------------------------------------------------


# What the log's details are called, and how their values read.
DETAIL_LABELS = {
    "from": "从",
    "to": "到",
    "branch": "党支部",
    "reason": "原因",
    "setting": "设置项",
    "name": "名称",
    "format": "格式",
    "round": "轮次",
    "rows": "行数",
}


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _subject(row: dict, names: dict[tuple[str, str], str]) -> tuple[str, str | None]:
    """What a log line is about, in words, and where to read it."""
    kind, number = row["subject_kind"] or "", row["subject_id"] or ""
    name = names.get((kind, number.split(":")[0]))
    if kind == "wish":
        url = url_for("board.wish_page", wish_id=int(number)) if number.isdigit() else None
        return f"心愿 {name or '#' + number}", url
    if kind == "user" and number.isdigit():
        return f"用户 {name or '#' + number}", url_for("accounts.edit_user", user_id=int(number))
    if kind == "assessment" and name:
        round_id = int(number.split(":")[0])
        return f"考评 {name}", url_for("assessment.ranking", round_id=round_id)
    if kind == "questionnaire" and name:
        return f"问卷 {name}", url_for("questionnaire_admin.edit", qid=int(number))
    if kind == "kiosk":
        return f"自助机 {name or '#' + number}", url_for("kiosks.index")
    if kind == "setting":
        return f"设置 {number}", url_for("hospital_settings.index") + f"#{number}"
    return " ".join(part for part in (kind, number) if part), None


def _details(row: dict, branch_names: dict[str, str]) -> list[tuple[str, str]]:
    shown = []
    for key, value in row["detail"].items():
        if key in ("from", "to") and value in glossary.STATES:
            value = glossary.STATES[value]
        elif key == "branch" and value in branch_names:
            value = branch_names[value]
        shown.append((DETAIL_LABELS.get(key, key), str(value)))
    return shown


@bp.get("/admin/audit")
@staff_required("read_audit")
def audit_log():
    action = request.args.get("action", "")
    actor = request.args.get("actor", "").strip()
    subject = request.args.get("subject", "").strip()
    first = _day(request.args.get("first", ""))
    last = _day(request.args.get("last", ""))
    # By the hospital's calendar day: the first day's start, the day after the last's.
    since = clock.utc_bounds(first, first)[0] if first else ""
    before = clock.utc_bounds(last, last)[1] if last else ""
    page = page_number(request.args)
    db = get_db()
    rows, total = audit.events(
        db,
        action=action if action in glossary.LOG_EVENTS else "",
        actor=actor,
        subject=subject,
        since=since,
        before=before,
        page=page,
    )
    names = audit.subject_names(db, rows)
    branch_names = organisation.branch_names(db)
    for row in rows:
        row["subject_text"], row["subject_url"] = _subject(row, names)
        row["details"] = _details(row, branch_names)
    return render_template(
        "accounts/audit.html",
        rows=rows,
        total=total,
        page=page,
        per_page=audit.PER_PAGE,
        actions=glossary.LOG_EVENTS,
        action=action,
        actor=actor,
        subject=subject,
        first=first,
        last=last,
        bad_dates=[
            name
            for name in ("first", "last")
            if request.args.get(name) and not _day(request.args[name])
        ],
    )
