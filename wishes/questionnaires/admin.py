"""The Party-building office's questionnaire pages: list, edit, preview, publish, import/export,
and the printable QR cards that open a questionnaire with the department already chosen."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from flask import (
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import force_locale
from werkzeug.datastructures import MultiDict
from wtforms import DateField, Form, SelectField, StringField
from wtforms.validators import Optional

from .. import audit, i18n, organisation
from ..accounts import staff_required, who
from ..audiences import AreaBlueprint, Audience, patient_languages
from ..cards import public_url, qr_svg
from ..clock import today
from ..dashboard import to_csv, to_xlsx
from ..glossary import questionnaires as words
from ..i18n import qr_language, unit_name
from ..pageform import PageForm, clean_line
from ..paging import page_number
from ..states import IllegalMove
from ..storage import get_db
from . import definition as definitions
from . import editing, responses, store, xlsform
from .forms import answer_form
from .views import render_answer_page

bp = AreaBlueprint(
    "questionnaire_admin", __name__, audience=Audience.STAFF, url_prefix="/admin/questionnaires"
)
RIGHT = "manage_questionnaires"


def _questionnaire(qid: int) -> dict[str, Any]:
    row = next(iter(get_db().query("SELECT * FROM questionnaires WHERE id = ?", [qid])), None)
    if row is None:
        abort(404)
    return row


def _audit(db, action: str, qid: int, **detail: Any) -> None:
    audit.record(db, action, who(), subject_kind="questionnaire", subject_id=qid, detail=detail)


def _problems(form) -> str:
    return "；".join(error for errors in form.errors.values() for error in errors)


def _save(qid: int, changed: dict[str, Any]):
    """Store a changed definition as the draft; a refusal is shown, nothing half-saved."""
    db = get_db()
    try:
        saved = store.save_draft(db, qid, changed, who().label)
    except (definitions.DefinitionError, store.QuestionnaireError) as error:
        flash(f"没有保存：{words.refusal(error)}", "error")
        return None
    _audit(db, "questionnaire_saved", qid, version=saved.number)
    flash(f"已保存为草稿（版本 {saved.number}），发布后患者才会看到。", "success")
    return saved


@bp.get("")
@staff_required(RIGHT)
def index():
    db = get_db()
    listed = store.questionnaires(db)
    for row in listed:
        row["title"] = definitions.text_in(
            definitions.parse(row["latest_definition"])["title"], "zh_Hans"
        )
    return render_template(
        "questionnaires/admin_index.html",
        questionnaires=listed,
        import_form=editing.ImportForm(),
        new_form=editing.NewQuestionnaireForm(),
    )


@bp.post("/new")
@staff_required(RIGHT)
def create():
    form = editing.NewQuestionnaireForm()
    if not form.validate_on_submit():
        flash("没有新建：" + _problems(form), "error")
        return redirect(url_for(".index"))
    db = get_db()
    try:
        qid = store.create(db, form.definition(), who().label)
    except (definitions.DefinitionError, store.QuestionnaireError) as error:
        flash(f"没有新建：{words.refusal(error)}", "error")
        return redirect(url_for(".index"))
    _audit(db, "questionnaire_saved", qid, version=1, created=True)
    flash("已新建问卷草稿（版本 1），请添加题目，预览后发布。", "success")
    return redirect(url_for(".edit", qid=qid))


@bp.post("/import")
@staff_required(RIGHT)
def import_json():
    form = editing.ImportForm()
    if not form.validate_on_submit():
        flash(_problems(form), "error")
        return redirect(url_for(".index"))
    raw = form.file.data.read(1024 * 1024 + 1)
    if len(raw) > 1024 * 1024:
        flash("文件太大：问卷文件（JSON 或 XLSForm）不应超过 1 MB", "error")
        return redirect(url_for(".index"))
    db = get_db()
    notes: list[str] = []
    try:
        qid, version = store.import_definition(db, xlsform.readable(raw, notes), who().label)
    except (definitions.DefinitionError, store.QuestionnaireError) as error:
        flash(f"没有导入：{words.refusal(error)}", "error")
        return redirect(url_for(".index"))
    _audit(db, "questionnaire_saved", qid, version=version.number, imported=True)
    flash(f"已导入为草稿（版本 {version.number}）。预览无误后请发布。", "success")
    for note in notes:
        flash(f"注意：{note}", "info")
    return redirect(url_for(".edit", qid=qid))


@bp.get("/<int:qid>")
@staff_required(RIGHT)
def edit(qid: int):
    questionnaire = _questionnaire(qid)
    db = get_db()
    versions = store.versions(db, qid)
    title_form = editing.TitleForm()
    editing.fill_title(title_form, versions[0].definition)
    open_days_form = OpenDaysForm(
        opens_on=_day(questionnaire["opens_on"]), closes_on=_day(questionnaire["closes_on"])
    )
    return render_template(
        "questionnaires/admin_edit.html",
        open_days_form=open_days_form,
        open_now=store.open_on(questionnaire, today().isoformat()),
        questionnaire=questionnaire,
        versions=versions,
        draft=versions[0],
        title_form=title_form,
        question_form=_new_question_form(versions[0].definition),
        types=definitions.QUESTION_TYPES,
    )


@bp.post("/<int:qid>/title")
@staff_required(RIGHT)
def save_title(qid: int):
    _questionnaire(qid)
    form = editing.TitleForm()
    if form.validate_on_submit():
        latest = store.latest_version(get_db(), qid)
        _save(qid, editing.with_title(latest.definition, form))
    else:
        flash(_problems(form), "error")
    return redirect(url_for(".edit", qid=qid))


@bp.route("/<int:qid>/questions/new", methods=["POST"])
@bp.route("/<int:qid>/questions/<key>", methods=["GET", "POST"])
@staff_required(RIGHT)
def question(qid: int, key: str | None = None):
    questionnaire = _questionnaire(qid)
    latest = store.latest_version(get_db(), qid)
    existing = next((q for q in latest.questions if q["key"] == key), None)
    if key is not None and existing is None:
        abort(404)
    form = editing.QuestionForm()
    form.offer_conditions(latest.definition, key)
    if request.method == "GET":
        if existing is not None:  # always, on a GET: a new question's form is only posted
            form.fill(existing)
    elif form.change_rows(request.form.get("row_action")):
        pass  # a row added, removed or moved: the form again, nothing saved
    elif form.validate_on_submit():
        changed = editing.with_question(latest.definition, form.question(existing), key)
        if _save(qid, changed):
            return redirect(url_for(".edit", qid=qid) + f"#q-{form.key.data}")
    status = 400 if form.errors else 200
    page = render_template(
        "questionnaires/admin_question.html",
        questionnaire=questionnaire,
        form=form,
        key=key,
        draft=latest,
    )
    return page, status


PREVIEW_DEVICES = {"phone": "layouts/phone.html", "kiosk": "layouts/kiosk.html"}


@bp.post("/<int:qid>/preview-question")
@staff_required(RIGHT)
def preview_question(qid: int):
    """The draft with the question being edited, as a patient sees it on a phone or at the
    kiosk (`device`), in `lang`: shown beside the editor, nothing saved."""
    latest = store.latest_version(get_db(), _questionnaire(qid)["id"])
    key = request.args.get("key") or None
    existing = next((q for q in latest.questions if q["key"] == key), None)
    form = editing.QuestionForm()
    form.offer_conditions(latest.definition, key)
    device = request.args.get("device", "phone")
    device = device if device in PREVIEW_DEVICES else "phone"
    lang = request.args.get("lang")
    lang = lang if lang in definitions.LANGUAGES else None
    try:
        question = form.question(existing) if form.key.data else None
        changed = editing.with_question(latest.definition, question, key) if question else None
        draft = replace(latest, definition=definitions.parse(changed or latest.definition))
    except definitions.DefinitionError as error:
        return render_template("questionnaires/preview_problem.html", problem=str(error))
    with force_locale(i18n.BABEL_LOCALES[lang or "zh_Hans"]):
        page = render_template(
            "questionnaires/answer.html",
            form=answer_form(draft, organisation.departments(get_db()), lang, MultiDict()),
            version=draft,
            action="#",
            preview=True,
            layout="questionnaires/preview_frame.html",
            device_layout=PREVIEW_DEVICES[device],
        )
    return page


@bp.post("/<int:qid>/questions/<key>/<any(up, down, delete):move>")
@staff_required(RIGHT)
def rearrange(qid: int, key: str, move: str):
    _questionnaire(qid)
    latest = store.latest_version(get_db(), qid)
    if move == "delete":
        changed = editing.without_question(latest.definition, key)
    else:
        changed = editing.moved(latest.definition, key, -1 if move == "up" else 1)
    _save(qid, changed)
    return redirect(url_for(".edit", qid=qid))


@bp.route("/<int:qid>/versions/<int:vid>/preview", methods=["GET", "POST"])
@staff_required(RIGHT)
def preview(qid: int, vid: int):
    version = store.version(get_db(), vid)
    if version is None or version.questionnaire_id != qid:
        abort(404)
    form = answer_form(version, organisation.departments(get_db()))
    if form.validate_on_submit():
        flash("预览：所有回答都通过了检查（没有保存）。", "success")
    return render_answer_page(form, version, request.path, preview=True)


@bp.post("/<int:qid>/versions/<int:vid>/publish")
@staff_required(RIGHT)
def publish(qid: int, vid: int):
    _questionnaire(qid)
    db = get_db()
    chosen = store.version(db, vid)
    missing = definitions.missing_translations(chosen.definition) if chosen else []
    chinese_only = request.form.get("chinese_only") == "y"
    if missing and not chinese_only:
        more = f"；还有 {len(missing) - 8} 处" if len(missing) > 8 else ""
        shown = "；".join(missing[:8]) + more
        flash(
            f"没有发布：{len(missing)} 处文字缺少繁体或英文，用这两种语言的患者会看到简体中文"
            f"（{shown}）。补上译文，或勾选“只用中文发布”后再发布。",
            "error",
        )
        return redirect(url_for(".edit", qid=qid) + f"#version-{vid}")
    try:
        version = store.publish(db, qid, vid)
    except (store.QuestionnaireError, IllegalMove) as error:
        flash(words.refusal(error), "error")
        return redirect(url_for(".edit", qid=qid))
    _audit(
        db,
        "questionnaire_published",
        qid,
        version=version.number,
        chinese_only=bool(missing) or None,
    )
    flash(f"版本 {version.number} 已发布：患者现在看到的就是它。", "success")
    return redirect(url_for(".edit", qid=qid))


class OpenDaysForm(PageForm):
    opens_on = DateField("开始日期（留空：发布即开放）", validators=[Optional()])
    closes_on = DateField("结束日期（含当天；留空：一直开放）", validators=[Optional()])


@bp.post("/<int:qid>/open-days")
@staff_required(RIGHT)
def open_days(qid: int):
    """The days patients may answer; "close now" ends it yesterday, "reopen" clears the end."""
    questionnaire = _questionnaire(qid)
    form = OpenDaysForm()
    action = request.form.get("action", "save")
    if action == "close_now":
        first = questionnaire["opens_on"]
        last = (today() - timedelta(days=1)).isoformat()
        if first and first > last:
            first = None  # a questionnaire closed before it opened: no start either
    elif action == "reopen":
        first, last = questionnaire["opens_on"], None
    elif form.validate_on_submit():
        first = form.opens_on.data.isoformat() if form.opens_on.data else None
        last = form.closes_on.data.isoformat() if form.closes_on.data else None
        if first and last and last < first:
            flash("没有保存：结束日期不能早于开始日期", "error")
            return redirect(url_for(".edit", qid=qid) + "#open-days")
    else:
        flash("没有保存：" + _problems(form), "error")
        return redirect(url_for(".edit", qid=qid) + "#open-days")
    db = get_db()
    store.set_open_days(db, qid, first, last)
    _audit(db, "questionnaire_open_days", qid, opens_on=first, closes_on=last)
    if store.open_on({"opens_on": first, "closes_on": last}, today().isoformat()):
        flash("已保存：患者现在可以作答。", "success")
    else:
        flash("已保存：患者现在打开这份问卷，会看到它不在开放时间。", "success")
    return redirect(url_for(".edit", qid=qid) + "#open-days")


def _asked_version(qid: int) -> tuple[dict[str, Any], store.Version]:
    """The questionnaire and the version an export asks for (`version`; the latest if none)."""
    questionnaire = _questionnaire(qid)
    number = request.args.get("version", type=int)
    versions = store.versions(get_db(), qid)
    return questionnaire, next((v for v in versions if v.number == number), versions[0])


@bp.get("/<int:qid>/export.json")
@staff_required(RIGHT)
def export_json(qid: int):
    questionnaire, chosen = _asked_version(qid)
    filename = f"{questionnaire['slug']}-v{chosen.number}.json"
    return Response(
        definitions.dumps(chosen.definition),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.get("/<int:qid>/export.xlsx")
@staff_required(RIGHT)
def export_xlsform(qid: int):
    """A version (the latest unless `version` says) as an XLSForm for KoboToolbox or ODK."""
    questionnaire, chosen = _asked_version(qid)
    body = xlsform.xlsform_from_definition(chosen.definition, organisation.departments(get_db()))
    filename = f"{questionnaire['slug']}.xlsx"  # the slug is [a-z0-9-]: nothing to escape
    return Response(
        body,
        mimetype=DOWNLOADS["xlsx"],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.get("/<int:qid>/cards")
@staff_required(RIGHT)
@patient_languages  # the cards are printed for patients, in the language chosen for them
def cards(qid: int):
    """One QR code per department: scanning it opens the questionnaire with it chosen."""
    questionnaire = _questionnaire(qid)
    slug = questionnaire["slug"]
    departments = []
    for department in organisation.departments(get_db()):
        # Printed in Traditional Chinese or English, the card opens the survey in that language.
        url = public_url(
            url_for("survey.answer", slug=slug, dept=department["code"], lang=qr_language())
        )
        label = unit_name(department)
        departments.append({**department, "url": url, "qr": qr_svg(url, label=label)})
    version = store.live_version(get_db(), slug)
    return render_template(
        "questionnaires/cards.html",
        questionnaire=questionnaire,
        version=version,
        departments=departments,
    )


# ---- responses: the list, one response, the downloads ---------------------------------------

READ_RESPONSES = "read_responses"
DOWNLOADS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "sav": "application/x-spss-sav",
}


class ResponseFilterForm(Form):
    """The list's filters, in the query string (bookmarkable; a bad date is ignored, said)."""

    first = DateField("提交日期从", validators=[Optional()])
    last = DateField("到", validators=[Optional()])
    department = SelectField("科室", choices=[], validate_choice=False)
    version = SelectField("问卷版本", choices=[], validate_choice=False)
    question = SelectField("问题", choices=[], validate_choice=False)
    answer = StringField("回答（分值、选项代码或文字）", filters=[clean_line])


def _response_filter(qid: int) -> tuple[store.ResponseFilter, ResponseFilterForm, list[dict]]:
    db = get_db()
    form = ResponseFilterForm(request.args)
    versions = store.versions(db, qid)
    questions = store.questions_over_versions(db, qid)
    form.department.choices = [("", "全部科室")] + [
        (d["code"], d["name"]) for d in organisation.departments(db)
    ]
    form.version.choices = [("", "全部版本")] + [(str(v.id), f"版本 {v.number}") for v in versions]
    form.question.choices = [("", "任一问题")] + [
        (q["key"], definitions.text_in(q["label"], "zh_Hans"))
        for q in questions
        if q["type"] in responses.ANSWERED
    ]
    form.validate()
    versions_by_id = {str(v.id): v.id for v in versions}
    chosen = store.ResponseFilter(
        first=form.first.data.isoformat() if form.first.data and not form.first.errors else None,
        last=form.last.data.isoformat() if form.last.data and not form.last.errors else None,
        department=form.department.data or None,
        version_id=versions_by_id.get(form.version.data or ""),
        question=form.question.data if form.question.data in dict(form.question.choices) else "",
        answer=(form.answer.data or "")[:100],
    )
    return chosen, form, questions


def _filters_in_words(chosen: store.ResponseFilter, form: ResponseFilterForm) -> list[str]:
    parts = [f"{chosen.first or '最早'} 至 {chosen.last or '今天'}"]
    if chosen.department:
        parts.append(dict(form.department.choices).get(chosen.department, chosen.department))
    if chosen.version_id:
        parts.append(dict(form.version.choices)[form.version.data])
    if chosen.question and chosen.answer:
        parts.append(f"{dict(form.question.choices)[chosen.question]}：{chosen.answer}")
    return parts


@bp.get("/<int:qid>/responses")
@staff_required(READ_RESPONSES)
def responses_list(qid: int):
    questionnaire = _questionnaire(qid)
    chosen, form, questions = _response_filter(qid)
    page = page_number(request.args)
    rows, total = store.response_page(get_db(), qid, chosen, page)
    overall = next((q for q in questions if q["key"] == "overall"), None)
    return render_template(
        "questionnaires/admin_responses.html",
        questionnaire=questionnaire,
        title=_title(questionnaire),
        form=form,
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // store.RESPONSES_PER_PAGE)),
        overall=overall,
        comment_keys=[q["key"] for q in questions if q["type"] == "text"],
        answer_text=responses.answer_text,
        in_words=_filters_in_words(chosen, form),
        downloads=DOWNLOADS,
    )


@bp.get("/<int:qid>/responses/<int:response_id>")
@staff_required(READ_RESPONSES)
def one_response(qid: int, response_id: int):
    questionnaire = _questionnaire(qid)
    found = store.one_response(get_db(), qid, response_id)
    if found is None:
        abort(404)
    asked = definitions.parse(found["definition"])["questions"]
    return render_template(
        "questionnaires/admin_response.html",
        questionnaire=questionnaire,
        title=_title(questionnaire),
        response=found,
        questions=[q for q in asked if q["type"] in responses.ANSWERED],
        answer_text=responses.answer_text,
    )


@bp.get("/<int:qid>/responses.<fmt>")
@staff_required(READ_RESPONSES)
def responses_download(qid: int, fmt: str):
    if fmt not in DOWNLOADS:
        abort(404)
    questionnaire = _questionnaire(qid)
    chosen, form, questions = _response_filter(qid)
    db = get_db()
    rows = store.responses_matching(db, qid, chosen)
    answered = [q for q in questions if q["type"] in responses.ANSWERED]
    in_words = _filters_in_words(chosen, form)
    title = f"{_title(questionnaire)} · 问卷回答"
    if fmt == "sav":
        body = responses.to_sav(answered, rows)
    else:
        table = responses.table(answered, rows, title)
        body = to_csv(table) if fmt == "csv" else to_xlsx(table, " · ".join(in_words))
    if request.method == "GET":  # a HEAD request downloads nothing
        _audit(db, "exported", qid, what="responses", format=fmt, rows=len(rows))
    parts = [questionnaire["slug"], "responses", chosen.first, chosen.last, chosen.department]
    if chosen.version_id:
        numbers = {v.id: v.number for v in store.versions(db, qid)}
        parts.append(f"v{numbers[chosen.version_id]}")
    filename = "_".join(part for part in parts if part) + f".{fmt}"
    return Response(
        body,
        mimetype=DOWNLOADS[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _new_question_form(definition: dict[str, Any]) -> editing.QuestionForm:
    form = editing.QuestionForm(formdata=None)
    form.offer_conditions(definition, None)
    form.fill()
    return form


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _title(questionnaire: dict[str, Any]) -> str:
    latest = store.latest_version(get_db(), questionnaire["id"])
    return definitions.text_in(latest.definition["title"], "zh_Hans")


# ---- praise in comments, passed on by the office ----------------------------------------------

PASS_ON = "pass_on_thanks"


def _praised(comment: str | None, department: str | None, names: list[str]) -> str | None:
    """The department a praise is for: the one the patient chose, else one its words name
    ("儿科的护士" names 儿科病区 through its stem 儿科)."""
    if department:
        return department
    text = comment or ""
    for name in names:
        stem = name.removesuffix("病区").removesuffix("门诊").removesuffix("病房")
        if name in text or (len(stem) >= 2 and stem in text):
            return name
    return None


@bp.get("/thanks")
@staff_required(PASS_ON)
def thanks():
    """Praise from patients' comments, for the office to pass on to the people praised."""
    db = get_db()
    passed = request.args.get("passed") == "1"
    page = page_number(request.args)
    rows, total = store.thanks(db, waiting=not passed, page=page)
    names = [d["name"] for d in organisation.departments(db)]
    for row in rows:
        row["praised"] = _praised(row["comment"], row["department"], names)
    return render_template(
        "questionnaires/admin_thanks.html",
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // store.RESPONSES_PER_PAGE)),
        passed=passed,
        waiting=store.thanks_waiting(db) if passed else total,
    )


@bp.post("/thanks/<int:response_id>")
@staff_required(PASS_ON)
def pass_on(response_id: int):
    db = get_db()
    if store.pass_on_thanks(db, response_id, who().label):
        audit.record(db, "thanks_passed_on", who(), subject_kind="response", subject_id=response_id)
        flash("已记为转达。", "success")
    else:
        flash("这条感谢已经转达过，或不是感谢。", "error")
    return redirect(url_for(".thanks"))
