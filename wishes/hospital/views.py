"""The administrator's settings page (/admin/settings) and the first run's set-up (/setup)."""

from __future__ import annotations

from pathlib import Path

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user

from .. import accounts, audit, organisation, ratelimit
from ..accounts import staff_required, who
from ..audiences import AreaBlueprint, Audience
from ..storage import backup_runs, get_db, transaction
from . import EDITABLE_BY_NAME, GROUPS, change, overridden, setup, shown, value
from .forms import AccountsForm, CodeForm, HospitalForm, WorkbookForm

settings_bp = AreaBlueprint(
    "hospital_settings", __name__, audience=Audience.STAFF, url_prefix="/admin/settings"
)
setup_bp = AreaBlueprint("setup", __name__, audience=Audience.STAFF, url_prefix="/setup")
SESSION_KEY = "setup_code"


# ---- the settings page ------------------------------------------------------------------------


def _settings_page(errors: dict[str, tuple[str, str]] | None = None, status: int = 200):
    db = get_db()
    return (
        render_template(
            "hospital/settings.html",
            settings=shown(db),
            groups=GROUPS,
            errors=errors or {},
            backups=backup_runs(db),
        ),
        status,
    )


@settings_bp.get("")
@staff_required("manage_settings")
def index():
    return _settings_page()


@settings_bp.post("")
@staff_required("manage_settings")
def save():
    name = request.form.get("setting", "")
    editable = EDITABLE_BY_NAME.get(name)
    if editable is None:
        abort(400)
    typed = request.form.get("value", "")
    if name in overridden():
        return _settings_page({name: (f"由环境变量 {name} 设定，此处修改不生效", typed)}, 400)
    db = get_db()
    before = value(name)
    try:
        with transaction(db):
            change(db, name, typed, user_id=current_user.id, label=current_user.username)
            detail = {"setting": name}
            if not editable.secret:
                detail.update({"from": str(before), "to": typed.strip()})
            audit.record(
                db,
                "hospital_setting_changed",
                who(),
                subject_kind="setting",
                subject_id=name,
                detail=detail,
            )
    except ValueError:
        return _settings_page({name: (editable.error, typed)}, 400)
    flash(f"已保存：{editable.label}", "success")
    return redirect(url_for(".index") + f"#{name}")


# ---- the first run ----------------------------------------------------------------------------


def _pending_db():
    db = get_db()
    if not setup.pending(db):
        abort(404)
    return db


def _unlocked(db) -> bool:
    stored = setup.code_hash(db)
    return bool(stored) and session.get(SESSION_KEY) == stored


def _unlocked_db():
    db = _pending_db()
    if not _unlocked(db):
        abort(403)
    return db


def _upload_path() -> Path:
    return Path(current_app.config["WISHES_DATA_DIR"]) / "setup-workbook"


def _step_page(db, status: int = 200, **forms):
    at = setup.step(db)
    context = {
        "step": at,
        "hospital_form": forms.get("hospital_form") or _hospital_form(),
        "workbook_form": forms.get("workbook_form") or WorkbookForm(formdata=None),
        "accounts_form": forms.get("accounts_form") or AccountsForm(formdata=None),
        "preview": forms.get("preview"),
        "problems": forms.get("problems") or [],
        "overridden": overridden(),
        "departments": organisation.departments(db),
    }
    return render_template("hospital/setup.html", **context), status


def _hospital_form() -> HospitalForm:
    form = HospitalForm(formdata=None)
    form.name.data = value("WISHES_HOSPITAL_NAME")
    form.name_hant.data = value("WISHES_HOSPITAL_NAME_HANT")
    form.name_en.data = value("WISHES_HOSPITAL_NAME_EN")
    form.public_url.data = value("WISHES_PUBLIC_URL")
    return form


@setup_bp.get("")
def start():
    db = _pending_db()
    if not _unlocked(db):
        return render_template(
            "hospital/setup_code.html", form=CodeForm(), has_code=bool(setup.code_hash(db))
        )
    return _step_page(db)[0]


@setup_bp.post("/code")
def code():
    db = _pending_db()
    form = CodeForm()
    if form.validate_on_submit():
        if wait := ratelimit.wait_for("setup_code"):
            form.form_errors.append(f"尝试次数过多，请 {-(-wait // 60)} 分钟后再试。")
            return render_template(
                "hospital/setup_code.html", form=form, has_code=bool(setup.code_hash(db))
            ), 429
        if found := setup.check_code(db, form.code.data):
            session[SESSION_KEY] = found
            return redirect(url_for(".start"))
        form.code.errors = ["设置码不对。请看运行 wishes serve 的控制台，或运行 wishes setup-code"]
    return (
        render_template("hospital/setup_code.html", form=form, has_code=bool(setup.code_hash(db))),
        400,
    )


@setup_bp.post("/hospital")
def hospital_step():
    db = _unlocked_db()
    form = HospitalForm()
    if not form.validate_on_submit():
        return _step_page(db, 400, hospital_form=form)
    typed = {
        "WISHES_HOSPITAL_NAME": form.name.data,
        "WISHES_HOSPITAL_NAME_HANT": form.name_hant.data,
        "WISHES_HOSPITAL_NAME_EN": form.name_en.data,
        "WISHES_PUBLIC_URL": form.public_url.data,
    }
    fields = {
        "WISHES_HOSPITAL_NAME": form.name,
        "WISHES_HOSPITAL_NAME_HANT": form.name_hant,
        "WISHES_HOSPITAL_NAME_EN": form.name_en,
        "WISHES_PUBLIC_URL": form.public_url,
    }
    bad = False
    for name, text in typed.items():
        try:
            EDITABLE_BY_NAME[name].parse(text)
        except ValueError:
            fields[name].errors = [EDITABLE_BY_NAME[name].error]
            bad = True
    if bad:
        return _step_page(db, 400, hospital_form=form)
    with transaction(db):
        for name, text in typed.items():
            if name not in overridden():
                change(db, name, text, user_id=None, label="setup")
                audit.record(
                    db,
                    "hospital_setting_changed",
                    audit.Who(label="setup", address=request.remote_addr or ""),
                    subject_kind="setting",
                    subject_id=name,
                    detail={"setting": name, "to": text},
                )
        setup.move_to(db, setup.Step.ORGANISATION)
    return redirect(url_for(".start"))


@setup_bp.post("/organisation")
def organisation_step():
    db = _unlocked_db()
    action = request.form.get("action", "")
    form = WorkbookForm()
    refused = organisation.workbook_refused()
    if action == "demo":
        organisation.load_organisation(db, organisation.read_organisation_file())
    elif action == "upload" and form.validate_on_submit() and form.workbook.data:
        upload = form.workbook.data
        data = upload.read()
        suffix = ".json" if (upload.filename or "").lower().endswith(".json") else ".xlsx"
        try:
            plan = organisation.preview_workbook(db, f"upload{suffix}", data)
        except refused as error:
            return _step_page(db, 400, problems=[str(p) for p in error.problems])
        path = _upload_path().with_suffix(suffix)
        path.write_bytes(data)
        return _step_page(
            db,
            preview={
                "lines": plan.lines(),
                "counts": plan.summary(),
                "fingerprint": plan.fingerprint(),
            },
        )
    elif action == "confirm":
        found = [
            p for p in (_upload_path().with_suffix(s) for s in (".xlsx", ".json")) if p.exists()
        ]
        if not found:
            return _step_page(db, 400, problems=["请先上传工作簿"])
        path = found[0]
        try:
            organisation.import_workbook(
                db,
                path.name,
                path.read_bytes(),
                audit.Who(label="setup"),
                request.form.get("fingerprint", ""),
            )
        except refused as error:
            return _step_page(db, 400, problems=[str(p) for p in error.problems])
        path.unlink(missing_ok=True)
    elif action != "skip":
        return _step_page(db, 400, problems=["请选择一种方式：上传工作簿、使用示范组织架构或跳过"])
    setup.move_to(db, setup.Step.ACCOUNTS)
    return redirect(url_for(".start"))


@setup_bp.post("/accounts")
def accounts_step():
    db = _unlocked_db()
    form = AccountsForm()
    if not form.validate_on_submit():
        return _step_page(db, 400, accounts_form=form)
    pairs = (
        (form.admin_username, form.admin_password),
        (form.office_username, form.office_password),
    )
    for username, password in pairs:
        if problem := accounts.password_problem(password.data, username.data):
            password.errors = [problem]
    if form.admin_username.data == form.office_username.data:
        form.office_username.errors = ["两个账号的用户名不能相同"]
    if any(field.errors for field in form):
        return _step_page(db, 400, accounts_form=form)
    who_set_up = audit.Who(label="setup", address=request.remote_addr or "")
    try:
        with transaction(db):
            made = [
                accounts.create_user(
                    db,
                    form.admin_username.data,
                    form.admin_password.data,
                    accounts.Role.ADMIN,
                    display_name="系统管理员",
                ),
                accounts.create_user(
                    db,
                    form.office_username.data,
                    form.office_password.data,
                    accounts.Role.TRIAGER,
                    display_name=form.office_name.data,
                ),
            ]
            for user in made:
                audit.record(
                    db,
                    "user_created",
                    who_set_up,
                    subject_kind="user",
                    subject_id=user["id"],
                    detail={"username": user["username"], "role": user["role"]},
                )
            audit.record(db, "setup_finished", who_set_up)
            setup.finish(db)
    except accounts.AccountError as error:
        form.admin_username.errors = [str(error)]
        return _step_page(db, 400, accounts_form=form)
    session.pop(SESSION_KEY, None)
    flash("设置完成。请用刚才设置的管理员账号登录。", "success")
    return redirect(url_for("accounts.login"))
