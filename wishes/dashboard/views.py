"""The managers' dashboard (`/dashboard`), its downloads and the printable monthly report."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Response, abort, current_app, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from .. import audit, hospital, needs, organisation, questionnaires
from ..accounts import staff_required, who
from ..audiences import AreaBlueprint, Audience
from ..clock import today
from ..deadlines import Deadlines
from ..paging import page_number
from ..storage import get_db
from . import exports, figures
from .forms import EARLIEST, LATEST, DashboardFilterForm

bp = AreaBlueprint("dashboard", __name__, audience=Audience.STAFF, url_prefix="/dashboard")


@dataclass(frozen=True)
class Scope:
    """What a page or a download is about: the filters and the questionnaire's questions."""

    db: Any
    filters: figures.Filters
    questions: list[dict]


def _deadlines() -> Deadlines:
    return Deadlines.from_config(hospital.config())


# Every table a manager can download, by name: the page shows the same builders' output.
TABLES: dict[str, Callable[[Scope], figures.Table]] = {
    "satisfaction": lambda s: figures.satisfaction_by_question(s.db, s.filters, s.questions),
    "nps": lambda s: figures.nps_breakdown(s.db, s.filters, s.questions),
    "satisfaction_trend": lambda s: figures.satisfaction_trend(s.db, s.filters, s.questions),
    "departments": lambda s: figures.department_comparison(s.db, s.filters, s.questions),
    "choices": lambda s: figures.choice_answers(s.db, s.filters, s.questions),
    "branches": lambda s: figures.wishes_by_branch(
        s.db, s.filters, _deadlines(), datetime.now(UTC)
    ),
    "patient_ratings": lambda s: figures.patient_ratings(s.db, s.filters),
    "categories": lambda s: figures.wishes_by_category(s.db, s.filters),
    "wish_trend": lambda s: figures.wish_trend(s.db, s.filters),
    "tags": lambda s: figures.top_tags(s.db, s.filters),
    "comment_moods": lambda s: figures.comment_moods(s.db, s.filters),
    "comment_trend": lambda s: figures.comment_trend(s.db, s.filters),
    "comment_departments": lambda s: figures.comment_departments(s.db, s.filters),
    "drivers": lambda s: figures.satisfaction_drivers(s.db, s.filters, s.questions),
}


def _questionnaire_choices(db) -> tuple[list[dict], dict[str, int]]:
    listed = [
        {
            "slug": q["slug"],
            "id": q["id"],
            "title": questionnaires.text_in(json.loads(q["latest_definition"])["title"], "zh_Hans"),
        }
        for q in questionnaires.questionnaires(db)
    ]
    return listed, {q["slug"]: q["id"] for q in listed}


def _scope(args) -> tuple[Scope, DashboardFilterForm]:
    db = get_db()
    form = DashboardFilterForm(args)
    listed, ids = _questionnaire_choices(db)
    form.set_choices(organisation.departments(db), listed)
    filters = form.filters(today(), ids, current_app.config["WISHES_MIN_RESPONSES"])
    questions = (
        questionnaires.questions_over_versions(db, filters.questionnaire_id)
        if filters.questionnaire_id
        else []
    )
    return Scope(db, filters, questions), form


def _headline(scope: Scope, now: figures.Table) -> dict[str, Any]:
    """The four numbers at the top (from the per-question table `now`), each beside the same
    figure for the previous range."""
    before = figures.satisfaction_by_question(scope.db, scope.filters.previous(), scope.questions)
    by_key = {row["key"]: row for row in now.rows}
    before_key = {row["key"]: row for row in before.rows}
    return {
        "responses": figures.response_count(scope.db, scope.filters),
        "previous_responses": figures.response_count(scope.db, scope.filters.previous()),
        "overall": by_key.get("overall"),
        "overall_before": before_key.get("overall"),
        "recommend": by_key.get("recommend"),
        "recommend_before": before_key.get("recommend"),
    }


def _link_comments(table: figures.Table, query: dict[str, Any]) -> None:
    """Each count of the comments table opens the comments behind it."""
    for row in table.rows:
        row["links"] = {
            key: url_for(".comments", category=row["code"], sentiment=key, **query)
            for key in figures.SENTIMENTS
        } | {"total": url_for(".comments", category=row["code"], **query)}


def _link_departments(table: figures.Table, query: dict[str, Any]) -> None:
    """Each department's count opens its own view of its unhappy comments."""
    for row in table.rows:
        chosen = query | {"department": row["code"]}
        row["links"] = {
            "negative": url_for(".comments", sentiment="negative", **chosen),
            "total": url_for(".comments", **chosen),
        }


@bp.get("")
@staff_required("view_dashboard")
def index():
    scope, form = _scope(request.args)
    tables = {name: build(scope) for name, build in TABLES.items()}
    _link_comments(tables["comment_moods"], _filters_query(request.args))
    _link_departments(tables["comment_departments"], _filters_query(request.args))
    return render_template(
        "dashboard/index.html",
        form=form,
        scope=scope,
        tables=tables,
        headline=_headline(scope, tables["satisfaction"]),
        wish_totals=figures.wish_totals(scope.db, scope.filters),
        comments=figures.latest_comments(scope.db, scope.filters, scope.questions),
        query=request.args.to_dict(),
    )


def _filters_query(args) -> dict[str, Any]:
    """The dashboard's own filters from `args` (not a comments page's category or page)."""
    keep = ("first", "last", "period", "department", "questionnaire")
    return {key: args[key] for key in keep if args.get(key)}


@bp.get("/comments")
@staff_required("view_dashboard")
def comments():
    """The comments behind a count: one category and sentiment, the dashboard's filters."""
    scope, form = _scope(request.args)
    category = request.args.get("category")
    if category is not None and category != "" and needs.category(category) is None:
        category = None  # an unknown category: every comment, not an error page
    sentiment = request.args.get("sentiment")
    sentiment = sentiment if sentiment in figures.SENTIMENTS else None
    page = page_number(request.args)
    rows, total = figures.comments_page(scope.db, scope.filters, category, sentiment, page)
    return render_template(
        "dashboard/comments.html",
        form=form,
        scope=scope,
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // figures.COMMENTS_PER_PAGE)),
        category=category,
        sentiment=sentiment,
        sentiments=figures.SENTIMENTS,
        back=_filters_query(request.args),
    )


@bp.get("/export/<name>.<fmt>")
@staff_required("view_dashboard")
def export(name: str, fmt: str):
    if name not in TABLES or fmt not in ("csv", "xlsx"):
        abort(404)
    scope, form = _scope(request.args)
    table = TABLES[name](scope)
    f = scope.filters
    department = dict(form.department.choices).get(f.department) if f.department else "全院"
    questionnaire = dict(form.questionnaire.choices).get(form.questionnaire.data or "")
    subtitle = " · ".join(
        part
        for part in (
            f"{f.first.isoformat()} 至 {f.last.isoformat()}",
            department,
            questionnaire and f"问卷：{questionnaire}",
            f"按{figures.PERIODS.get(f.period, f.period)}",
        )
        if part
    )
    if request.method == "GET":  # a HEAD request downloads nothing
        period = {"first": f.first.isoformat(), "last": f.last.isoformat(), "period": f.period}
        detail = {"format": fmt, "department": f.department or "", **period}
        audit.record(
            scope.db, "exported", who(), subject_kind="dashboard", subject_id=name, detail=detail
        )
    filters = [f.first.isoformat(), f.last.isoformat(), f.department, form.questionnaire.data]
    filename = "_".join([name, *(part for part in filters if part)]) + f".{fmt}"
    if fmt == "csv":
        body, mimetype = exports.to_csv(table), "text/csv; charset=utf-8"
    else:
        body = exports.to_xlsx(table, subtitle)
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _month(value: str | None) -> date:
    """The first day of the asked month (`YYYY-MM`), or of last month."""
    try:
        year, month = (int(part) for part in (value or "").split("-"))
        if not EARLIEST.year <= year <= LATEST.year:
            raise ValueError(year)
        return date(year, month, 1)
    except ValueError:
        first_of_this = today().replace(day=1)
        return (first_of_this - timedelta(days=1)).replace(day=1)


def _recent_months(count: int) -> list[date]:
    months, moment = [], today().replace(day=1)
    for _ in range(count):
        months.append(moment)
        moment = (moment - timedelta(days=1)).replace(day=1)
    return months


@bp.get("/report")
@staff_required("view_dashboard")
def report():
    """The monthly report for the leadership meeting: A4, printed from the browser."""
    first = _month(request.args.get("month"))
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    args = MultiDict(
        {
            "first": first.isoformat(),
            "last": last.isoformat(),
            "period": "week",
            "questionnaire": request.args.get("questionnaire", ""),
            "department": request.args.get("department", ""),
        }
    )
    scope, form = _scope(args)
    names = (
        "satisfaction",
        "nps",
        "satisfaction_trend",
        "departments",
        "branches",
        "categories",
        "tags",
    )
    tables = {name: TABLES[name](scope) for name in names}
    return render_template(
        "dashboard/report.html",
        scope=scope,
        form=form,
        month=first,
        tables=tables,
        headline=_headline(scope, tables["satisfaction"]),
        wish_totals=figures.wish_totals(scope.db, scope.filters),
        months=_recent_months(12),
    )
