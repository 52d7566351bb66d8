"""The branch assessment pages: rounds, the ranking, a branch's score sheet and its A4 report,
evidence files, the rubric editor, and the culture-corridor screen.

Who sees what (README, "Branch assessment"): the office, the inspection team, managers and
admins see every branch; a secretary sees and self-assesses their own branch; a member sees
their branch's published results; nobody else sees anything but the corridor screen, and an
anonymous visitor sees that only when WISHES_CORRIDOR_PUBLIC is on.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user
from sqlite_utils import Database

from .. import audit, hospital, organisation
from ..accounts import BRANCH_ROLES, Role, may, staff_required, who
from ..audiences import AreaBlueprint, Audience
from ..dashboard import to_csv, to_xlsx
from ..glossary import assessment as words
from ..measures import COUNTED
from ..states import IllegalMove
from ..storage import get_db
from . import results, store
from . import scheme as schemes
from .forms import (
    AttachmentForm,
    InspectForm,
    RoundForm,
    SchemeForm,
    SelfScoreForm,
    StageForm,
    attachment_type,
    safe_filename,
)
from .store import AssessmentError, Round, RoundMove, Work

bp = AreaBlueprint("assessment", __name__, audience=Audience.STAFF)


# ---- who may do what ------------------------------------------------------------------------


def _sees_all() -> bool:
    return may(current_user, "view_all_assessments")


def _own_branch(code: str) -> bool:
    return current_user.role in BRANCH_ROLES and current_user.branch_code == code


def _may_view(current: Round, code: str) -> bool:
    if _sees_all():
        return True
    return _own_branch(code) and (current_user.role == Role.SECRETARY or current.published)


def _work(code: str) -> Work | None:
    """What this visitor scores on a branch's sheet, in the stage that takes it: the branch's
    secretary assesses it, the inspection team inspects it. The store checks the stage."""
    if current_user.role == Role.SECRETARY and _own_branch(code):
        return Work.SELF_ASSESS
    if may(current_user, "inspect_assessment"):
        return Work.INSPECT
    return None


def _offered(current: Round, code: str) -> Work | None:
    """The work whose forms the sheet shows now (none when the round's stage takes no work of
    this visitor's)."""
    work = _work(code)
    return work if work and current.open_for(work) else None


def _round_or_404(round_id: int) -> Round:
    found = store.get_round(get_db(), round_id)
    if found is None:
        abort(404)
    return found


def _branch_of(current: Round, code: str) -> None:
    if code not in current.branch_codes:
        abort(404)
    if not _may_view(current, code):
        abort(403)


def _claim_hours() -> int:
    return hospital.value("WISHES_CLAIM_HOURS")


def _ranked(current: Round, codes: list[str] | None = None) -> list[results.BranchScore]:
    return results.branch_scores(get_db(), current, _claim_hours(), datetime.now(UTC), codes)


def _problems(form) -> str:
    return "；".join(error for errors in form.errors.values() for error in errors)


# ---- rounds -------------------------------------------------------------------------------


@bp.get("/assessment")
@staff_required()
def index():
    """The rounds this visitor may open, newest first."""
    db = get_db()
    listed = store.rounds(db)
    if not _sees_all():
        code = current_user.branch_code
        listed = [r for r in listed if code in r.branch_codes and _may_view(r, code)]
    return render_template(
        "assessment/index.html",
        rounds=listed,
        sees_all=_sees_all(),
        manages=may(current_user, "manage_assessment"),
    )


@bp.route("/assessment/rounds/new", methods=["GET", "POST"])
@staff_required("manage_assessment")
def new_round():
    db = get_db()
    form = RoundForm()
    branches = organisation.branches(db)
    form.branches.choices = [
        (b["code"], f"{b['general_branch_name']} · {b['name']}") for b in branches
    ]
    if request.method != "POST":
        form.branches.data = [b["code"] for b in branches]
    if form.validate_on_submit():
        try:
            round_id = store.create_round(
                db,
                form.name.data,
                form.first_day.data,
                form.last_day.data,
                form.branches.data,
                who(),
            )
        except AssessmentError as error:
            form.form_errors.append(words.refusal(error))
        else:
            flash("已新建考评轮次，各支部书记现在可以自评。", "success")
            return redirect(url_for("assessment.ranking", round_id=round_id))
    status = 400 if request.method == "POST" else 200
    return render_template("assessment/new_round.html", form=form), status


@bp.get("/assessment/rounds/<int:round_id>")
@staff_required("view_all_assessments")
def ranking(round_id: int):
    current = _round_or_404(round_id)
    ranked = _ranked(current)
    return render_template(
        "assessment/ranking.html",
        round=current,
        ranked=ranked,
        generals=results.general_scores(current, ranked),
        previous=store.previous_round(get_db(), current),
        stage_form=StageForm(),
        manages=may(current_user, "manage_assessment"),
        stages=words.STAGES,
        moves=words.MOVES,
        needs_reason=store.NEEDS_REASON,
    )


@bp.post("/assessment/rounds/<int:round_id>/moves/<move>")
@staff_required("manage_assessment")
def move(round_id: int, move: str):
    """One of the office's moves: forward one stage, or back one stage with a reason.
    Publishing needs every manual item scored, and freezes the computed items' figures."""
    db, current = get_db(), _round_or_404(round_id)
    form = StageForm()
    if move not in words.MOVES:
        abort(404)
    if not form.validate_on_submit():
        flash(f"没有变更：{_problems(form)}", "error")
        return redirect(url_for("assessment.ranking", round_id=round_id))
    figures = None
    if move == RoundMove.PUBLISH:
        ranked = _ranked(current)
        if missing := sum(b.missing for b in ranked):
            flash(f"还有 {missing} 个项目没有评分，不能公布。", "error")
            return redirect(url_for("assessment.ranking", round_id=round_id))
        figures = results.frozen(ranked)
    try:
        to = store.move(db, current, RoundMove(move), who(), form.reason.data or "", figures)
    except (AssessmentError, IllegalMove) as error:
        flash(f"没有变更：{words.refusal(error)}", "error")
    else:
        flash(f"本轮已进入「{words.STAGES[to]}」阶段。", "success")
    return redirect(url_for("assessment.ranking", round_id=round_id))


@bp.get("/assessment/rounds/<int:round_id>/export.<fmt>")
@staff_required("view_all_assessments")
def export(round_id: int, fmt: str):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    current = _round_or_404(round_id)
    table = results.ranking_table(current, _ranked(current))
    if request.method == "GET":  # a HEAD request downloads nothing
        audit.record(
            get_db(),
            "exported",
            who(),
            subject_kind="assessment",
            subject_id=str(round_id),
            detail={"format": fmt, "round": current.name},
        )
    if fmt == "csv":
        body, mimetype = to_csv(table), "text/csv; charset=utf-8"
    else:
        first, last = current.days
        body = to_xlsx(table, f"{first} 至 {last} · {current.stage_label}")
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    filename = f"assessment_{round_id}.{fmt}"
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# ---- one branch ---------------------------------------------------------------------------


def _evidence_links(current: Round, code: str, departments: dict[str, list[str]]) -> dict:
    """Metric → where its counted wishes or answers can be read."""
    first, last = current.days
    board: dict[str, Any] = {"branch": code, "created_from": first, "created_to": last}
    served = departments.get(code)
    return {
        **{metric: url_for("board.index", counted=metric, **board) for metric in COUNTED},
        "served_top_box": [
            (d, url_for("dashboard.index", first=first, last=last, department=d))
            for d in (served or [""])
        ],
    }


def _sheet(current: Round, code: str, **page: Any) -> dict[str, Any]:
    db = get_db()
    everyone = _ranked(current)
    return {
        "round": current,
        "entry": next(b for b in everyone if b.code == code),
        "mean": results.hospital_mean(everyone),
        "branches_ranked": len(everyone),
        "attachments": store.attachments(db, current.id, code),
        "evidence": _evidence_links(current, code, organisation.served_departments(db)),
        "department_names": {d["code"]: d["name"] for d in organisation.departments(db)},
        "metric_labels": schemes.METRICS,
        "may_rank": _sees_all(),
        **page,
    }


@bp.get("/assessment/rounds/<int:round_id>/branches/<code>")
@staff_required()
def branch(round_id: int, code: str):
    current = _round_or_404(round_id)
    _branch_of(current, code)
    return _branch_page(current, code)


def _branch_page(current: Round, code: str, typed: dict[str, Any] | None = None) -> str:
    """The score sheet; `typed` is a refused entry shown again, with its message, as typed."""
    offered = _offered(current, code)
    return render_template(
        "assessment/branch.html",
        self_form=SelfScoreForm(formdata=None) if offered is Work.SELF_ASSESS else None,
        inspect_form=InspectForm(formdata=None) if offered is Work.INSPECT else None,
        upload_form=AttachmentForm(formdata=None) if offered else None,
        typed=typed or {},
        **_sheet(current, code),
    )


@bp.get("/assessment/rounds/<int:round_id>/branches/<code>/report")
@staff_required()
def report(round_id: int, code: str):
    """The branch's result on one A4 page (two for the item list), printed from the browser."""
    current = _round_or_404(round_id)
    _branch_of(current, code)
    return render_template("assessment/report.html", **_sheet(current, code))


@bp.post("/assessment/rounds/<int:round_id>/branches/<code>/items/<key>")
@staff_required()
def score(round_id: int, code: str, key: str):
    """A self-assessment (the branch's secretary) or an inspection score (the team); the
    store refuses one that the round's stage no longer (or not yet) takes."""
    db, current = get_db(), _round_or_404(round_id)
    _branch_of(current, code)
    back = url_for("assessment.branch", round_id=round_id, code=code) + f"#item-{key}"
    work = _work(code)
    save: Callable[[Database, Round, str, str, float, str, audit.Who], None]
    if work is Work.SELF_ASSESS:
        form, save, text = SelfScoreForm(), store.self_assess, "note"
    elif work is Work.INSPECT:
        form, save, text = InspectForm(), store.inspect, "reason"
    else:
        abort(403)
    problem = None if form.validate_on_submit() else _problems(form)
    if problem is None:
        try:
            save(db, current, code, key, float(form.points.data), form[text].data or "", who())
        except AssessmentError as error:
            problem = words.refusal(error)
    if problem is not None:
        typed = {
            "key": key,
            "points": request.form.get("points", ""),
            "text": request.form.get(text, ""),
            "error": f"没有保存：{problem}",
        }
        return _branch_page(current, code, typed), 400
    flash("已保存。", "success")
    return redirect(back)


# ---- evidence -----------------------------------------------------------------------------


def _attachment_dir() -> Path:
    return Path(current_app.config["WISHES_DATA_DIR"]) / "attachments"


@bp.post("/assessment/rounds/<int:round_id>/branches/<code>/items/<key>/attachments")
@staff_required()
def upload(round_id: int, code: str, key: str):
    db, current = get_db(), _round_or_404(round_id)
    _branch_of(current, code)
    work = _work(code)
    if work is None:
        abort(403)
    back = url_for("assessment.branch", round_id=round_id, code=code) + f"#item-{key}"
    form = AttachmentForm()
    if not form.validate_on_submit():
        flash(f"没有上传：{_problems(form)}", "error")
        return redirect(back)
    upload_file = form.file.data
    kind = attachment_type(upload_file.filename or "", upload_file.stream.read(16))
    if kind is None:  # AttachmentForm.validate_file refused such a file already
        abort(400)
    extension, content_type = kind
    upload_file.stream.seek(0)
    folder = _attachment_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stored_name = f"{round_id}-{secrets.token_hex(12)}.{extension}"
    upload_file.save(folder / stored_name)
    filename = safe_filename(upload_file.filename or "", extension)
    try:
        store.add_attachment(
            db,
            current,
            code,
            key,
            {
                "filename": filename,
                "stored_name": stored_name,
                "content_type": content_type,
                "size": (folder / stored_name).stat().st_size,
            },
            who(),
            work,
        )
    except AssessmentError as error:
        (folder / stored_name).unlink(missing_ok=True)
        flash(f"没有上传：{words.refusal(error)}", "error")
    else:
        flash(f"已上传「{filename}」。", "success")
    return redirect(back)


@bp.get("/assessment/attachments/<int:attachment_id>")
@staff_required()
def attachment(attachment_id: int):
    db = get_db()
    row = store.attachment(db, attachment_id)
    if row is None:
        abort(404)
    _branch_of(_round_or_404(row["round_id"]), row["branch_code"])
    path = _attachment_dir() / Path(row["stored_name"]).name
    if not path.is_file():
        abort(404)
    # Named by what its content is (the stored name's extension), also for files kept before.
    name = safe_filename(row["filename"], path.suffix.lstrip("."))
    response = send_file(path, mimetype=row["content_type"], as_attachment=True, download_name=name)
    response.headers["Cache-Control"] = "private, no-store"
    return response


# ---- the rubric ---------------------------------------------------------------------------


@bp.route("/admin/assessment/scheme", methods=["GET", "POST"])
@staff_required("manage_assessment")
def scheme():
    """The rubric as JSON: saved in place until a round uses it, then as a new version."""
    db = get_db()
    latest = store.latest_version(db) or store.ensure_default(db)
    form = SchemeForm()
    status = 200
    if request.method != "POST":
        form.definition.data = json.dumps(latest.definition, ensure_ascii=False, indent=2)
    elif form.validate_on_submit():
        try:
            saved = store.save_scheme(db, form.definition.data, who())
        except schemes.SchemeError as error:
            form.definition.errors.append(str(error))
            status = 400
        else:
            note = "新版本" if saved.number != latest.number else "当前版本"
            flash(f"考评方案已保存为{note}（第 {saved.number} 版）。", "success")
            return redirect(url_for("assessment.scheme"))
    else:
        status = 400
    return render_template(
        "assessment/scheme.html", form=form, latest=latest, versions=store.scheme_versions(db)
    ), status


@bp.get("/admin/assessment/scheme/<int:number>.json")
@staff_required("manage_assessment")
def scheme_json(number: int):
    db = get_db()
    version = next((v for v in store.scheme_versions(db) if v["number"] == number), None)
    scheme = store.scheme_version(db, version["id"]) if version is not None else None
    if scheme is None:
        abort(404)
    definition = scheme.definition
    return Response(
        json.dumps(definition, ensure_ascii=False, indent=2),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="scheme-{number}.json"'},
    )


# ---- the culture corridor -----------------------------------------------------------------


@bp.get("/corridor")
def corridor():
    """A lobby screen: the latest published round, one general branch at a time."""
    if not current_user.is_authenticated and not current_app.config["WISHES_CORRIDOR_PUBLIC"]:
        abort(404)
    db = get_db()
    published = store.rounds(db, published_only=True)
    current = published[0] if published else None
    ranked = _ranked(current) if current else []
    generals = results.general_scores(current, ranked) if current else []
    return render_template(
        "assessment/corridor.html",
        round=current,
        generals=generals,
        ranked=ranked,
        today=date.today(),
        seconds=current_app.config["WISHES_CORRIDOR_SECONDS"],
    )
