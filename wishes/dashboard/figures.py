"""The dashboard's figures, aggregated in SQL.

Satisfaction is summed from the daily tallies `answer_days` / `response_days` (kept by
triggers, migration 0005), so a year of a million responses is a few thousand tally rows.
Wish waits are percentiles read off an index in order (`LIMIT 1 OFFSET k`), one query per
branch, instead of sorting a year of wishes.

Every function returns a `Table`: the page renders it, the charts draw it, and the CSV and
XLSX downloads write it, so all of them show the same numbers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from flask import g, has_request_context
from sqlite_utils import Database

from .. import needs, organisation, questionnaires
from ..deadlines import Deadlines, overdue_for_navigation
from ..glossary import ACTIONS, STATES
from ..lifecycle import Action, State
from . import stats

PERIODS = {"week": "周", "month": "月", "quarter": "季度"}
# A period's first day, from a `YYYY-MM-DD` day, in SQL.
_PERIOD_SQL = {
    "week": "date({day}, '-' || ((CAST(strftime('%w', {day}) AS INTEGER) + 6) % 7) || ' days')",
    "month": "substr({day}, 1, 7)",
    "quarter": "substr({day}, 1, 4) || '-Q' || ((CAST(substr({day}, 6, 2) AS INTEGER) + 2) / 3)",
}
# The two questions followed over time and across departments.
_TREND_ONLY = "AND question_key IN ('overall', 'recommend')"


@dataclass(frozen=True)
class Filters:
    first: date
    last: date
    period: str = "week"
    department: str | None = None
    questionnaire_id: int | None = None
    minimum: int = 30  # the setting WISHES_MIN_RESPONSES

    @property
    def days(self) -> tuple[str, str]:
        return self.first.isoformat(), self.last.isoformat()

    def previous(self) -> Filters:
        """The range of the same length just before this one (for "how it moved")."""
        length = self.last - self.first + timedelta(days=1)
        return Filters(
            self.first - length,
            self.first - timedelta(days=1),
            self.period,
            self.department,
            self.questionnaire_id,
            self.minimum,
        )


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    # text · count · number (1 decimal) · mean (2 decimals) · percent · hours · estimate ·
    # date (a datetime.date: a date cell in XLSX, YYYY-MM-DD in CSV)
    kind: str = "text"
    digits: int = 1


@dataclass
class Table:
    name: str  # the download's file name
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    note: str = ""
    chart: dict[str, Any] = field(default_factory=dict)  # how the page draws it (charts.js)


def _period(day_column: str, period: str) -> str:
    return _PERIOD_SQL[period].format(day=day_column)


def _department_clause(filters: Filters, column: str = "department_code") -> tuple[str, list]:
    if filters.department is None:
        return "", []
    return f" AND {column} = ?", [filters.department]


# --- Satisfaction -------------------------------------------------------------------------


def _scale_questions(questions: list[dict]) -> list[dict]:
    """The rated questions, a matrix's items among them (each a rating, "care.food")."""
    return [
        q for q in questionnaires.flat_questions(questions) if q["type"] in questionnaires.SCALES
    ]


def _figures(row: dict[str, Any], kind: str, minimum: int) -> dict[str, stats.Estimate]:
    """Mean, top-box and NPS of one tally row (n, total, total_sq, top, bottom)."""
    n = row["n"] or 0
    result = {"mean": stats.mean(n, row["total"] or 0, row["total_sq"] or 0, minimum)}
    if kind == "rating":
        result["top"] = stats.share(row["top"] or 0, n, minimum)
    else:
        result["nps"] = stats.nps(row["top"] or 0, row["bottom"] or 0, n, minimum)
        result["promoters"] = stats.share(row["top"] or 0, n, minimum)
        result["detractors"] = stats.share(row["bottom"] or 0, n, minimum)
        result["passives"] = stats.share(n - (row["top"] or 0) - (row["bottom"] or 0), n, minimum)
    return result


def _tally(db: Database, filters: Filters, by: str = "", where: str = "") -> list[dict]:
    """Summed tallies of the scale questions, per question (and per `by`, an SQL expression
    returned as the column `grp`). Asked twice in a request (the per-question and the NPS
    tables), it is summed once."""
    memo = g.setdefault("figures_tally", {}) if has_request_context() else {}
    key = (filters, by, where)
    if key not in memo:
        memo[key] = _summed_tally(db, filters, by, where)
    return memo[key]


def _summed_tally(db: Database, filters: Filters, by: str, where: str) -> list[dict]:
    dept, params = _department_clause(filters)
    select, group = (f"{by} AS grp, ", "grp, ") if by else ("", "")
    sql = f"""
        SELECT {select}question_key, sum(n) AS n, sum(total) AS total,
               sum(total_sq) AS total_sq, sum(top) AS top, sum(bottom) AS bottom
        FROM answer_days
        WHERE questionnaire_id = ? AND option = '' AND day BETWEEN ? AND ? {dept} {where}
        GROUP BY {group}question_key
    """
    return list(db.query(sql, [filters.questionnaire_id, *filters.days, *params]))


def satisfaction_by_question(db: Database, filters: Filters, questions: list[dict]) -> Table:
    """Each rating question: answers, mean, top-box share; NPS with its three groups."""
    rows = {row["question_key"]: row for row in _tally(db, filters)}
    out = []
    for question in _scale_questions(questions):
        row = rows.get(question["key"], {"n": 0, "total": 0, "total_sq": 0, "top": 0, "bottom": 0})
        figures = _figures(row, question["type"], filters.minimum)
        out.append(
            {
                "question": questionnaires.text_in(question["label"], "zh_Hans"),
                "key": question["key"],
                "kind": "NPS 0–10" if question["type"] == "nps" else "1–5",
                "n": row["n"],
                "mean": figures["mean"],
                "top": figures.get("top") or figures.get("promoters"),
                "nps": figures.get("nps"),
            }
        )
    return Table(
        "satisfaction",
        "各题满意度",
        [
            Column("question", "题目"),
            Column("kind", "量表"),
            Column("n", "回答数", "count"),
            Column("mean", "平均分", "estimate", 2),
            Column("top", "满意占比（4–5 分；NPS 题为推荐者 9–10 分）", "estimate"),
            Column("nps", "NPS", "estimate"),
        ],
        out,
        note="括号内为 95% 置信区间。",
    )


def nps_breakdown(db: Database, filters: Filters, questions: list[dict]) -> Table:
    rows = {row["question_key"]: row for row in _tally(db, filters)}
    out = []
    for question in questions:
        if question["type"] != "nps":
            continue
        row = rows.get(question["key"], {"n": 0, "total": 0, "total_sq": 0, "top": 0, "bottom": 0})
        figures = _figures(row, "nps", filters.minimum)
        out.append(
            {
                "question": questionnaires.text_in(question["label"], "zh_Hans"),
                "n": row["n"],
                "promoters": figures["promoters"],
                "passives": figures["passives"],
                "detractors": figures["detractors"],
                "nps": figures["nps"],
            }
        )
    return Table(
        "nps",
        "净推荐值（NPS）",
        [
            Column("question", "题目"),
            Column("n", "回答数", "count"),
            Column("promoters", "推荐者 9–10", "estimate"),
            Column("passives", "被动者 7–8", "estimate"),
            Column("detractors", "贬损者 0–6", "estimate"),
            Column("nps", "NPS", "estimate"),
        ],
        out,
        note="NPS = 推荐者占比 − 贬损者占比，范围 −100 到 100。",
    )


def satisfaction_trend(db: Database, filters: Filters, questions: list[dict]) -> Table:
    """Per period: responses, overall mean and top-box, NPS."""
    period = _period("day", filters.period)
    dept, params = _department_clause(filters)
    counts = {
        row["period"]: row["n"]
        for row in db.query(
            f"""SELECT {period} AS period, sum(n) AS n FROM response_days
                WHERE questionnaire_id = ? AND day BETWEEN ? AND ? {dept} GROUP BY 1""",
            [filters.questionnaire_id, *filters.days, *params],
        )
    }
    kinds = {q["key"]: q["type"] for q in _scale_questions(questions)}
    tallies: dict[str, dict[str, dict]] = {}
    for row in _tally(db, filters, by=period, where=_TREND_ONLY):
        tallies.setdefault(row["grp"], {})[row["question_key"]] = row
    out = []
    for label in sorted(set(counts) | set(tallies)):
        entry: dict[str, Any] = {"period": label, "responses": counts.get(label, 0)}
        for key, row in tallies.get(label, {}).items():
            figures = _figures(row, kinds.get(key, "rating"), filters.minimum)
            if key == "overall":
                entry["overall_mean"], entry["overall_top"] = figures["mean"], figures["top"]
            elif "nps" in figures:
                entry["nps"] = figures["nps"]
        out.append(entry)
    return Table(
        "satisfaction_trend",
        f"满意度趋势（按{PERIODS[filters.period]}）",
        [
            Column("period", PERIODS[filters.period]),
            Column("responses", "问卷数", "count"),
            Column("overall_mean", "总体满意度平均分", "estimate", 2),
            Column("overall_top", "总体满意占比", "estimate"),
            Column("nps", "NPS", "estimate"),
        ],
        out,
        note=f"一{PERIODS[filters.period]}少于 {filters.minimum} 份回答时不显示数值。",
        # The share on a 0–100 % axis, NPS (−100 to 100, not a share) on its own.
        chart={
            "type": "line",
            "series": "2,3",
            "percent": True,
            "y_min": 0,
            "y_max": 100,
            "y2_series": "3",
            "y2_min": -100,
            "y2_max": 100,
            "y2_label": "NPS",
        },
    )


def department_comparison(db: Database, filters: Filters, questions: list[dict]) -> Table:
    """Per department: responses, overall mean and top-box, NPS."""
    names = {d["code"]: d["name"] for d in organisation.departments(db)}
    kinds = {q["key"]: q["type"] for q in _scale_questions(questions)}
    tallies: dict[str, dict[str, dict]] = {}
    for row in _tally(db, filters, by="department_code", where=_TREND_ONLY):
        tallies.setdefault(row["grp"], {})[row["question_key"]] = row
    out = []
    for code, by_key in tallies.items():
        entry: dict[str, Any] = {"department": names.get(code, code or "未选科室")}
        for key, row in by_key.items():
            figures = _figures(row, kinds.get(key, "rating"), filters.minimum)
            if key == "overall":
                entry["responses"] = row["n"]
                entry["overall_mean"], entry["overall_top"] = figures["mean"], figures["top"]
            elif "nps" in figures:
                entry["nps"] = figures["nps"]
        out.append(entry)

    def rank(entry: dict) -> tuple:
        top = entry.get("overall_top")
        return (top is None or top.value is None, -(top.value or 0) if top else 0)

    out.sort(key=rank)
    return Table(
        "departments",
        "科室对比",
        [
            Column("department", "科室"),
            Column("responses", "回答数", "count"),
            Column("overall_mean", "总体满意度平均分", "estimate", 2),
            Column("overall_top", "总体满意占比", "estimate"),
            Column("nps", "NPS", "estimate"),
        ],
        out,
        note=f"少于 {filters.minimum} 份回答的科室显示“样本不足”，排在最后。",
        chart={"type": "hbar", "series": "2", "percent": True, "y_min": 0, "y_max": 100},
    )


def choice_answers(db: Database, filters: Filters, questions: list[dict]) -> Table:
    """How often each option of the choice questions was picked."""
    dept, params = _department_clause(filters)
    counts = {
        (row["question_key"], row["option"]): row["n"]
        for row in db.query(
            f"""SELECT question_key, option, sum(n) AS n FROM answer_days
                WHERE questionnaire_id = ? AND option > '' AND day BETWEEN ? AND ? {dept}
                GROUP BY 1, 2""",
            [filters.questionnaire_id, *filters.days, *params],
        )
    }
    responses = response_count(db, filters)
    out = []
    for question in questions:
        if question["type"] not in ("single", "multiple"):
            continue
        for option in question["options"]:
            n = counts.get((question["key"], option["key"]), 0)
            out.append(
                {
                    "question": questionnaires.text_in(question["label"], "zh_Hans"),
                    "option": questionnaires.text_in(option["label"], "zh_Hans"),
                    "n": n,
                    "share": stats.share(n, responses, filters.minimum),
                }
            )
    return Table(
        "choices",
        "选择题",
        [
            Column("question", "题目"),
            Column("option", "选项"),
            Column("n", "选择次数", "count"),
            Column("share", "占全部问卷", "estimate"),
        ],
        out,
    )


def response_count(db: Database, filters: Filters) -> int:
    dept, params = _department_clause(filters)
    row = db.execute(
        f"""SELECT coalesce(sum(n), 0) FROM response_days
            WHERE questionnaire_id = ? AND day BETWEEN ? AND ? {dept}""",
        [filters.questionnaire_id, *filters.days, *params],
    ).fetchone()
    return row[0]


def latest_comments(db: Database, filters: Filters, questions: list[dict], limit: int = 10):
    """The newest free-text comments in the range, with their keyword tags."""
    keys = [q["key"] for q in questions if q["type"] == "text"]
    if not keys:
        return []
    dept, params = _department_clause(filters, "r.department_code")
    marks = ", ".join("?" for _ in keys)
    rows = list(
        db.query(
            f"""SELECT a.text, r.submitted_at, r.comment_tags, d.name AS department
                FROM answers a JOIN responses r ON r.id = a.response_id
                LEFT JOIN departments d ON d.code = r.department_code
                WHERE a.question_key IN ({marks}) AND r.questionnaire_id = ?
                  AND r.local_day BETWEEN ? AND ? {dept}
                ORDER BY a.response_id DESC LIMIT ?""",
            [*keys, filters.questionnaire_id, *filters.days, *params, limit],
        )
    )
    for row in rows:
        row["tags"] = json.loads(row.pop("comment_tags") or "[]")
    return rows


# The drivers' figures read the newest this many responses of the range: a correlation's
# interval from 5,000 is ±0.03 at most, and the cost stays about 25 ms however long the range
# (all 10,000 of a range took 47 ms, beside a dashboard that has 500 ms at 1M wishes).
DRIVER_RESPONSES = 5_000
OVERALL = "overall"


def satisfaction_drivers(db: Database, filters: Filters, questions: list[dict]) -> Table:
    """For each rated question: how strongly it moves with overall satisfaction (Pearson's r,
    with its interval) against how well the hospital does on it (the satisfied share), and
    where that puts it in the priority matrix managers read (strong and weak first)."""
    rated = [
        q for q in _scale_questions(questions) if q["type"] == "rating" and q["key"] != OVERALL
    ]
    if not rated or filters.questionnaire_id is None:
        return _drivers_table([], filters)
    dept, params = _department_clause(filters)
    marks = ", ".join("?" for _ in rated)
    sums = {
        row["key"]: row
        for row in db.query(
            f"""WITH chosen AS (
                  SELECT id FROM responses
                  WHERE questionnaire_id = ? AND local_day BETWEEN ? AND ? {dept}
                  ORDER BY id DESC LIMIT ?)
                SELECT q.question_key AS key, count(*) AS n,
                       sum(q.value) AS sx, sum(o.value) AS sy,
                       sum(q.value * q.value) AS sxx, sum(o.value * o.value) AS syy,
                       sum(q.value * o.value) AS sxy, sum(q.value >= 4) AS top
                FROM chosen c
                JOIN answers o ON o.response_id = c.id AND o.question_key = ?
                JOIN answers q ON q.response_id = c.id AND q.question_key IN ({marks})
                WHERE o.value IS NOT NULL AND q.value IS NOT NULL
                GROUP BY q.question_key""",
            [filters.questionnaire_id, *filters.days, *params, DRIVER_RESPONSES, OVERALL]
            + [q["key"] for q in rated],
        )
    }
    rows: list[dict[str, Any]] = []
    for question in rated:
        found = sums.get(question["key"])
        n = found["n"] if found else 0
        r = (
            stats.correlation(
                n,
                found["sx"],
                found["sy"],
                found["sxx"],
                found["syy"],
                found["sxy"],
                minimum=filters.minimum,
            )
            if found
            else stats.correlation(0, 0, 0, 0, 0, 0)
        )
        rows.append(
            {
                "question": questionnaires.text_in(question["label"], "zh_Hans"),
                "n": n,
                "impact": r,
                "satisfied": stats.share(found["top"] if found else 0, n, filters.minimum),
                "priority": "",
            }
        )
    _place_in_matrix([row for row in rows if row["impact"].value is not None])
    rows.sort(
        key=lambda row: (
            PRIORITY_ORDER.get(row["priority"], len(PRIORITY_ORDER)),
            -(row["impact"].value or -2.0),
        )
    )
    return _drivers_table(rows, filters)


PRIORITIES = {
    "fix_first": "优先改进",
    "keep": "保持优势",
    "watch": "次要改进",
    "fine": "维持现状",
}
PRIORITY_ORDER = {label: i for i, label in enumerate(PRIORITIES.values())}


def _place_in_matrix(rows: list[dict[str, Any]]) -> None:
    """The priority matrix: impact above the questions' median and satisfaction below theirs
    is "fix first"; above both, "keep"; below both, "watch"; else "fine"."""
    if not rows:
        return
    impact = float(np.median([row["impact"].value for row in rows]))
    satisfied = float(np.median([row["satisfied"].value or 0.0 for row in rows]))
    for row in rows:
        strong = row["impact"].value >= impact
        good = (row["satisfied"].value or 0.0) >= satisfied
        key = ("keep" if good else "fix_first") if strong else ("fine" if good else "watch")
        row["priority"] = PRIORITIES[key]


def _drivers_table(rows: list[dict[str, Any]], filters: Filters) -> Table:
    return Table(
        "drivers",
        "影响总体满意度的因素",
        [
            Column("question", "问题"),
            Column("n", "回答数", "count"),
            Column("impact", "与总体满意度的相关 r", "estimate", 2),
            Column("satisfied", "满意占比", "estimate"),
            Column("priority", "优先级"),
        ],
        rows,
        note=f"相关：同一份问卷里这一项的评分与总体满意度评分的皮尔逊相关（−1 到 1，括号内为 "
        f"95% 区间），越高说明这一项越影响总体满意度。优先改进：相关高于各项中位数、满意占比低于"
        f"各项中位数。少于 {filters.minimum} 份回答时不显示；读取范围内最新 "
        f"{DRIVER_RESPONSES:,} 份问卷。",
        chart={"type": "scatter", "x": "2", "y": "1"},
    )


SENTIMENTS = {"negative": "不满", "neutral": "中性", "positive": "满意"}
COMMENTS_PER_PAGE = 50


def comment_moods(db: Database, filters: Filters) -> Table:
    """The range's comments by need category and sentiment: what patients write about, and
    how they feel about it (the comments behind each count: `comments_page`)."""
    dept, params = _department_clause(filters, "department_code")
    counts: dict[str | None, dict[str, int]] = {}
    for row in db.query(
        f"""SELECT comment_category AS category, comment_sentiment AS sentiment, count(*) AS n
            FROM responses
            WHERE questionnaire_id = ? AND local_day BETWEEN ? AND ?
              AND comment_sentiment IS NOT NULL {dept}
            GROUP BY 1, 2""",
        [filters.questionnaire_id, *filters.days, *params],
    ):
        counts.setdefault(row["category"], {})[row["sentiment"]] = row["n"]
    rows = []
    for category in [*needs.categories(), None]:
        code = category["code"] if category else None
        if code not in counts:
            continue
        n = counts[code]
        rows.append(
            {
                "code": code or "",
                "category": category["name"] if category else "未分类",
                **{key: n.get(key, 0) for key in SENTIMENTS},
                "total": sum(n.values()),
            }
        )
    rows.sort(key=lambda row: (-int(row["negative"]), -int(row["total"])))
    return Table(
        "comment_moods",
        "文字意见：需求类别与情感",
        [
            Column("category", "需求类别"),
            *(Column(key, label, "count") for key, label in SENTIMENTS.items()),
            Column("total", "合计", "count"),
        ],
        rows,
        note="每条文字意见由模型读出需求类别和情感（不满、中性、满意），会有读错的；"
        "点数字可看到背后的意见。不满最多的类别在前。",
        chart={"type": "hbar", "series": "0,1,2", "stacked": True},
    )


def comment_departments(db: Database, filters: Filters) -> Table:
    """Each department's unhappy comments, most first: the link opens that department's own
    view of them (the comments page filtered by department and "不满")."""
    names = {d["code"]: d["name"] for d in organisation.departments(db)}
    dept, params = _department_clause(filters, "department_code")
    rows = [
        {
            "code": row["code"],
            "department": names.get(row["code"], row["code"]),
            "negative": row["negative"],
            "total": row["total"],
        }
        for row in db.query(
            f"""SELECT department_code AS code, count(*) AS total,
                       sum(comment_sentiment = 'negative') AS negative
                FROM responses
                WHERE questionnaire_id = ? AND local_day BETWEEN ? AND ?
                  AND comment_sentiment IS NOT NULL AND department_code IS NOT NULL {dept}
                GROUP BY 1 HAVING negative > 0 ORDER BY negative DESC, total DESC""",
            [filters.questionnaire_id, *filters.days, *params],
        )
    ]
    return Table(
        "comment_departments",
        "各科室的不满意见",
        [
            Column("department", "科室"),
            Column("negative", "不满", "count"),
            Column("total", "文字意见", "count"),
        ],
        rows,
        note="只列有不满意见的科室；点数字看这个科室的不满意见。",
    )


def comment_trend(db: Database, filters: Filters) -> Table:
    """Per period: the comments by sentiment, and the share that is negative (hidden under
    WISHES_MIN_RESPONSES comments): whether comments are getting angrier."""
    dept, params = _department_clause(filters, "department_code")
    counts: dict[str, dict[str, int]] = {}
    for row in db.query(
        f"""SELECT {_period("local_day", filters.period)} AS period,
                   comment_sentiment AS sentiment, count(*) AS n
            FROM responses
            WHERE questionnaire_id = ? AND local_day BETWEEN ? AND ?
              AND comment_sentiment IS NOT NULL {dept}
            GROUP BY 1, 2""",
        [filters.questionnaire_id, *filters.days, *params],
    ):
        counts.setdefault(row["period"], {})[row["sentiment"]] = row["n"]
    rows = []
    for label in sorted(counts):
        n = counts[label]
        total = sum(n.values())
        rows.append(
            {
                "period": label,
                **{key: n.get(key, 0) for key in SENTIMENTS},
                "negative_share": stats.share(n.get("negative", 0), total, filters.minimum),
            }
        )
    return Table(
        "comment_trend",
        f"文字意见的情感（按{PERIODS[filters.period]}）",
        [
            Column("period", PERIODS[filters.period]),
            *(Column(key, label, "count") for key, label in SENTIMENTS.items()),
            Column("negative_share", "不满占比", "estimate"),
        ],
        rows,
        note=f"不满占比：不满的意见占这一{PERIODS[filters.period]}全部文字意见的比例，"
        f"少于 {filters.minimum} 条时不显示。",
        chart={"type": "bar", "series": "0,1,2", "stacked": True},
    )


def comments_page(
    db: Database, filters: Filters, category: str | None, sentiment: str | None, page: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of the range's comments (newest first), of one category and sentiment when
    given ("" for the uncategorised), and how many there are."""
    clauses = ["r.questionnaire_id = ?", "r.local_day BETWEEN ? AND ?", "a.text != ''"]
    params: list[Any] = [filters.questionnaire_id, *filters.days]
    if filters.department is not None:
        clauses.append("r.department_code = ?")
        params.append(filters.department)
    if sentiment in SENTIMENTS:
        clauses.append("r.comment_sentiment = ?")
        params.append(sentiment)
    if category == "":
        clauses.append("r.comment_category IS NULL AND r.comment_sentiment IS NOT NULL")
    elif category is not None:
        clauses.append("r.comment_category = ?")
        params.append(category)
    where = " AND ".join(clauses)
    source = "FROM answers a JOIN responses r ON r.id = a.response_id"
    total = db.execute(f"SELECT count(*) {source} WHERE {where}", params).fetchone()[0]
    rows = list(
        db.query(
            f"""SELECT a.text, r.submitted_at, r.comment_sentiment AS sentiment,
                       r.comment_category AS category, d.name AS department
                {source} LEFT JOIN departments d ON d.code = r.department_code
                WHERE {where} ORDER BY r.id DESC LIMIT ? OFFSET ?""",
            [*params, COMMENTS_PER_PAGE, (max(page, 1) - 1) * COMMENTS_PER_PAGE],
        )
    )
    return rows, total


# --- Wishes --------------------------------------------------------------------------------


def _wish_where(filters: Filters) -> tuple[str, list]:
    dept, params = _department_clause(filters)
    return f"local_day BETWEEN ? AND ? {dept}", [*filters.days, *params]


# The hospital as a whole among the branches of `_wish_figures` (a branch code is never "*").
HOSPITAL = "*"
WAITS = ("claim_minutes", "fulfil_minutes")
_COUNTS = ("volume", "claimed", "fulfilled", "declined", "triage", "routed", "corrected")


@dataclass
class WishFigures:
    """A range's wishes, read once: counts per branch and per day, waits per branch."""

    by_branch: dict[str, dict[str, int]]  # "" for wishes with no branch (triage)
    by_day: dict[str, dict[str, int]]
    waits: dict[str, dict[str, dict[str, float | None]]]  # wait → branch or HOSPITAL → figures


def _wish_figures(db: Database, filters: Filters) -> WishFigures:
    """Every wish figure of the dashboard from one pass over the range's wishes.

    For each branch (and for the wishes without one) a covering index on (branch, day,
    department, state, router's branch, waits) is sought to the range and read in day order:
    SQLite counts per day without sorting and hands each day's waits over as one string
    (`group_concat`), which numpy reads and partitions at the ranks a percentile needs (exact,
    as numpy interpolates). Before, the branch counts, the totals and the trend each read the
    range, and the 60 percentile queries each walked every wish of all time in wait order.
    Computed once per request for the tables and the headline that show it.
    """
    memo = g.setdefault("_dashboard_wishes", {}) if has_request_context() else {}
    if filters in memo:
        return memo[filters]
    where, params = _wish_where(filters)
    codes = [row[0] for row in db.execute("SELECT code FROM branches ORDER BY code")]
    by_branch: dict[str, dict[str, int]] = {}
    by_day: dict[str, dict[str, int]] = {}
    # Each branch's waits become compact arrays as soon as its rows are read, so the strings
    # of a year of a million wishes never sit in memory together (a worker's RSS is a target).
    arrays: dict[str, dict[str, np.ndarray]] = {wait: {} for wait in WAITS}
    for code in [*codes, None]:
        branch = "branch_code = ?" if code else "branch_code IS NULL"
        rows = db.execute(
            f"""SELECT local_day, count(*), count(claim_minutes),
                       sum(state IN ('fulfilled', 'followed_up')), sum(state = 'declined'),
                       sum(state = 'triage'), count(router_branch_code),
                       sum(router_branch_code IS NOT NULL AND router_branch_code != branch_code),
                       group_concat(claim_minutes), group_concat(fulfil_minutes)
                FROM wishes INDEXED BY idx_wishes_branch_code_local_day_figures
                WHERE {branch} AND {where} GROUP BY local_day""",
            [code, *params] if code else params,
        ).fetchall()
        if not rows:
            continue
        totals = by_branch.setdefault(code or "", dict.fromkeys(_COUNTS, 0))
        texts: dict[str, list[str]] = {wait: [] for wait in WAITS}
        for day, *counts, claims, fulfils in rows:
            today = by_day.setdefault(day, dict.fromkeys(_COUNTS, 0))
            for name, n in zip(_COUNTS, counts, strict=True):
                totals[name] += n or 0
                today[name] += n or 0
            for wait, text in zip(WAITS, (claims, fulfils), strict=True):
                if text:
                    texts[wait].append(text)
        del rows
        for wait, parts in texts.items():
            if parts:  # whole minutes: int32 holds 4,000 years
                found = np.fromstring(",".join(parts), dtype=np.int32, sep=",")
                arrays[wait][code or ""] = found
    waits: dict[str, dict[str, dict[str, float | None]]] = {}
    for wait, by_code in arrays.items():
        waits[wait] = {code: _percentiles(found) for code, found in by_code.items()}
        if by_code:
            waits[wait][HOSPITAL] = _percentiles(np.concatenate(list(by_code.values())))
    memo[filters] = WishFigures(by_branch, by_day, waits)
    return memo[filters]


def _percentiles(found: np.ndarray) -> dict[str, float | None]:
    """Median and p90 (hours) of whole minutes, as `stats.percentile` (numpy's rule) has them."""
    n = len(found)
    ranks = sorted({rank for p in (0.5, 0.9) for rank in _ranks(n, p)})
    ordered = np.partition(found, ranks)
    result: dict[str, float | None] = {"n": n}
    for name, p in (("median", 0.5), ("p90", 0.9)):
        position = (n - 1) * p
        below, above = _ranks(n, p)
        pair = [int(ordered[below]), int(ordered[above])]
        value = stats.percentile(pair, position - below)
        result[name] = None if value is None else value / 60
    return result


def _ranks(n: int, p: float) -> tuple[int, int]:
    below = int((n - 1) * p)
    return below, min(below + 1, n - 1)


def _wait_percentiles(db: Database, wait: str, filters: Filters, branch: str | None) -> dict:
    """Median and 90th percentile of a wait (hours) for one branch, or the hospital (None)."""
    found = _wish_figures(db, filters).waits[wait].get(branch or HOSPITAL)
    return found or {"n": 0, "median": None, "p90": None}


def wishes_by_branch(db: Database, filters: Filters, deadlines: Deadlines, now: datetime) -> Table:
    """The branch ranking: volume, claimed, fulfilled, waits, overdue and router corrections."""
    figures = _wish_figures(db, filters)
    counts = {code: row for code, row in figures.by_branch.items() if code}
    # The same counts as the staff navigation's, reused for up to a minute (board/store.py).
    overdue = overdue_for_navigation(db, deadlines, now)
    claims, fulfils = figures.waits["claim_minutes"], figures.waits["fulfil_minutes"]
    out = []
    for branch in organisation.branches(db):
        code = branch["code"]
        row = counts.get(code)
        volume = row["volume"] if row else 0
        claim = claims.get(code, {}) if volume else {}
        fulfil = fulfils.get(code, {}) if volume else {}
        out.append(
            {
                "branch": branch["name"],
                "volume": volume,
                "claimed": stats.ratio(row["claimed"], volume) if row else None,
                "fulfilled": stats.ratio(row["fulfilled"], volume) if row else None,
                "claim_median": claim.get("median"),
                "claim_p90": claim.get("p90"),
                "fulfil_median": fulfil.get("median"),
                "fulfil_p90": fulfil.get("p90"),
                "overdue": overdue.get(code, 0),
                "rerouted": stats.ratio(row["corrected"], row["routed"]) if row else None,
            }
        )
    # Ranked by fulfilment rate, then by the faster median to fulfil.
    out.sort(key=lambda r: (-(r["fulfilled"] or -1), r["fulfil_median"] or float("inf")))
    for rank, entry in enumerate(out, 1):
        entry["rank"] = rank
    return Table(
        "branches",
        "党支部排行",
        [
            Column("branch", "党支部"),
            Column("rank", "名次", "count"),
            Column("volume", "心愿数", "count"),
            Column("claimed", str(STATES[State.CLAIMED]), "percent"),
            Column("fulfilled", "实现率", "percent"),
            Column("claim_median", "认领用时中位数（小时）", "hours"),
            Column("claim_p90", "认领用时 P90（小时）", "hours"),
            Column("fulfil_median", "实现用时中位数（小时）", "hours"),
            Column("fulfil_p90", "实现用时 P90（小时）", "hours"),
            Column("overdue", "当前超时", "count"),
            Column("rerouted", f"{ACTIONS[Action.REROUTE]}率", "percent"),
        ],
        out,
        note=(
            f"认领用时：从分派到支部到被认领；实现用时：从患者提交到{ACTIONS[Action.FULFIL]}。"
            f"{ACTIONS[Action.REROUTE]}率：最终支部与分派模型首选不同的比例。"
            "当前超时不受日期范围影响。"
        ),
        chart={"type": "hbar", "series": "3", "percent": True, "y_min": 0, "y_max": 100},
    )


def patient_ratings(db: Database, filters: Filters) -> Table:
    """Per branch, the patients' answers on the tracking page (issue 19, item 2: "was your wish
    fulfilled as you hoped?", 1–5) about the wishes submitted in the range: how many, their
    mean, the share of 4–5 and how many were 1–2. Below WISHES_MIN_RESPONSES answers the mean
    and the share say "样本不足", as the questionnaire's tables do."""
    dept, params = _department_clause(filters, "w.department_code")
    rows = {
        row["branch_code"]: row
        for row in db.query(
            f"""SELECT w.branch_code, count(*) AS n, sum(r.rating) AS total,
                       sum(r.rating * r.rating) AS total_sq, sum(r.rating >= 4) AS top,
                       sum(r.rating <= 2) AS low
                FROM wish_ratings r JOIN wishes w ON w.id = r.wish_id
                WHERE w.local_day BETWEEN ? AND ? {dept}
                GROUP BY w.branch_code""",
            [*filters.days, *params],
        )
    }
    out = []
    for branch in organisation.branches(db):
        row = rows.get(branch["code"], {"n": 0, "total": 0, "total_sq": 0, "top": 0, "low": 0})
        n = row["n"]
        out.append(
            {
                "branch": branch["name"],
                "n": n,
                "mean": stats.mean(n, row["total"], row["total_sq"], filters.minimum),
                "top": stats.share(row["top"], n, filters.minimum),
                "low": row["low"],
            }
        )

    def rank(entry: dict[str, Any]) -> tuple:
        mean = entry["mean"].value
        return (mean is None, -(mean or 0), -entry["n"])

    out.sort(key=rank)
    return Table(
        "patient_ratings",
        "患者评价办理结果",
        [
            Column("branch", "党支部"),
            Column("n", "评价数", "count"),
            Column("mean", "平均分（1–5）", "estimate", 2),
            Column("top", "符合期望占比（4–5 分）", "estimate"),
            Column("low", "不满意（1–2 分）", "count"),
        ],
        out,
        note=(
            "心愿实现后，患者在查询页回答“心愿的实现符合您的期望吗”（1–5 分），按心愿的提交日期计。"
            f"少于 {filters.minimum} 份评价的支部显示“样本不足”，排在最后；"
            "括号内为 95% 置信区间。1–2 分的心愿交党建办回访。"
        ),
    )


def wish_totals(db: Database, filters: Filters) -> dict[str, Any]:
    """Hospital-wide: volume, fulfilment rate, waits."""
    by_branch = _wish_figures(db, filters).by_branch.values()
    row = {name: sum(counts[name] for counts in by_branch) for name in _COUNTS}
    return {
        "volume": row["volume"],
        "triage": row["triage"],
        "claimed": stats.ratio(row["claimed"], row["volume"]),
        "fulfilled": stats.ratio(row["fulfilled"], row["volume"]),
        "claim": _wait_percentiles(db, "claim_minutes", filters, None),
        "fulfil": _wait_percentiles(db, "fulfil_minutes", filters, None),
    }


def wish_trend(db: Database, filters: Filters) -> Table:
    by_day = _wish_figures(db, filters).by_day
    # Each day's period from the same SQL the satisfaction trend uses, once per day.
    labels = dict(
        db.execute(
            f"SELECT value, {_period('value', filters.period)} FROM json_each(?)",
            [json.dumps(sorted(by_day))],
        ).fetchall()
    )
    periods: dict[str, dict[str, Any]] = {}
    for day in sorted(by_day):
        label = labels[day]
        entry = periods.setdefault(label, {"period": label, "volume": 0, "fulfilled": 0})
        entry["volume"] += by_day[day]["volume"]
        entry["fulfilled"] += by_day[day]["fulfilled"]
    rows = list(periods.values())
    out = [{**row, "rate": stats.ratio(row["fulfilled"], row["volume"])} for row in rows]
    return Table(
        "wish_trend",
        f"心愿数量与实现（按{PERIODS[filters.period]}）",
        [
            Column("period", PERIODS[filters.period]),
            Column("volume", "提交", "count"),
            Column("fulfilled", str(STATES[State.FULFILLED]), "count"),
            Column("rate", "实现率", "percent"),
        ],
        out,
        chart={"type": "bar", "series": "0,1"},
    )


def _tag_counts(db: Database, filters: Filters, tags: list[str] | None = None) -> dict:
    only = ""
    if tags is not None:
        if not tags:
            return {}
        only = f" AND tag IN ({', '.join('?' for _ in tags)})"
    if filters.department is None:
        sql = f"""SELECT tag, sum(n) AS n FROM wish_tag_days
                  WHERE day BETWEEN ? AND ? {only} GROUP BY tag ORDER BY n DESC, tag"""
        params = [*filters.days, *(tags or [])]
    else:
        only = only.replace("tag IN", "t.value IN")
        sql = f"""SELECT t.value AS tag, count(*) AS n FROM wishes w, json_each(w.tags) t
                  WHERE w.local_day BETWEEN ? AND ? AND w.department_code = ? {only}
                  GROUP BY 1 ORDER BY n DESC, tag"""
        params = [*filters.days, filters.department, *(tags or [])]
    limit = "" if tags is not None else " LIMIT 12"
    return {row["tag"]: row["n"] for row in db.query(sql + limit, params)}


# A change is shown only against an earlier count of at least this many: 1 → 10 is not "+900 %".
CHANGE_FROM_AT_LEAST = 5


def _change(now: int, before: int) -> float | None:
    return stats.ratio(now - before, before) if before >= CHANGE_FROM_AT_LEAST else None


def _category_counts(db: Database, filters: Filters) -> dict[str | None, dict[str, int]]:
    where, params = _department_clause(filters)
    sql = f"""SELECT category, count(*) AS n,
                     sum(state IN ('fulfilled', 'followed_up')) AS fulfilled
              FROM wishes WHERE local_day BETWEEN ? AND ?{where}
              GROUP BY category"""
    return {
        row["category"]: {"n": row["n"], "fulfilled": row["fulfilled"]}
        for row in db.query(sql, [*filters.days, *params])
    }


def wishes_by_category(db: Database, filters: Filters) -> Table:
    """Wishes by category of need (the router's, or as staff corrected it): what patients ask
    for, comparable across reorganisations, and how each moved against the previous range."""
    now = _category_counts(db, filters)
    before = _category_counts(db, filters.previous())
    out: list[dict[str, Any]] = []
    for category in [*needs.categories(), None]:
        code = category["code"] if category else None
        counts = now.get(code)
        if not counts:
            continue
        previous = before.get(code, {}).get("n", 0)
        out.append(
            {
                "category": category["name"] if category else "未分类",
                "n": counts["n"],
                "previous": previous,
                "change": _change(counts["n"], previous),
                "fulfilled": stats.ratio(counts["fulfilled"], counts["n"]),
            }
        )
    out.sort(key=lambda row: -int(row["n"]))
    return Table(
        "categories",
        "心愿需求类别",
        [
            Column("category", "需求类别"),
            Column("n", "本期心愿数", "count"),
            Column("previous", "上期心愿数", "count"),
            Column("change", "变化", "percent"),
            Column("fulfilled", "实现率", "percent"),
        ],
        out,
        note=f"上期：本期之前同样长度的一段时间；上期不足 {CHANGE_FROM_AT_LEAST} 条时不计变化。"
        "未分类：分类上线之前、尚未运行 wishes categorise 的心愿。",
        chart={"type": "hbar", "series": "0,1"},
    )


def top_tags(db: Database, filters: Filters) -> Table:
    """The most frequent keyword tags, and how each moved against the previous range."""
    now = _tag_counts(db, filters)
    before = _tag_counts(db, filters.previous(), list(now))
    out = [
        {
            "tag": tag,
            "n": n,
            "previous": before.get(tag, 0),
            "change": _change(n, before.get(tag, 0)),
        }
        for tag, n in now.items()
    ]
    return Table(
        "tags",
        "心愿关键词",
        [
            Column("tag", "关键词"),
            Column("n", "本期次数", "count"),
            Column("previous", "上期次数", "count"),
            Column("change", "变化", "percent"),
        ],
        out,
        note=f"上期：本期之前同样长度的一段时间；上期不足 {CHANGE_FROM_AT_LEAST} 次时不计变化。",
        chart={"type": "hbar", "series": "0,1"},
    )


def satisfaction_tables(db: Database, filters: Filters, questions: list[dict]) -> list[Table]:
    return [
        satisfaction_by_question(db, filters, questions),
        nps_breakdown(db, filters, questions),
        satisfaction_trend(db, filters, questions),
        department_comparison(db, filters, questions),
        choice_answers(db, filters, questions),
    ]
