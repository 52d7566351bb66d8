"""The figures behind the computed items, in SQL, for every branch of a round at once.

What each figure counts (a branch's wishes are those it holds now that patients submitted in
the round's period, by the hospital's calendar day):
- claim_in_time_share: claimed within WISHES_CLAIM_HOURS of reaching the branch, out of the
  wishes claimed plus those still unclaimed past the limit (a wish still inside its limit is
  not judged yet);
- fulfilment_rate: fulfilled (or followed up) out of all its wishes except the declined;
- median_fulfil_hours: the median time from submission to fulfilment of the fulfilled ones;
- confirmed_share: of the fulfilled ones, those the patient confirmed at the follow-up call;
- served_top_box: the share of 4–5 answers to the satisfaction questionnaire's overall
  question from the departments the branch serves (all departments when it serves the
  whole hospital), from the daily tallies;
- patient_rating: the mean of the patients' answers on the tracking page about its fulfilled
  wishes ("was your wish fulfilled as you hoped?", 1–5; issue 19, item 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlite_utils import Database

from .. import organisation
from ..measures import COUNTED
from ..storage import TIMESTAMP_FORMAT

SATISFACTION = "satisfaction"
OVERALL_QUESTION = "overall"
FULFIL_INDEX = "idx_wishes_branch_code_fulfil_minutes_local_day_department_code"


@dataclass(frozen=True)
class Figure:
    value: float | None  # None: nothing to count
    count: int  # how many wishes or answers it counted


def _in(values: list[str]) -> str:
    return ",".join("?" * len(values))


def wish_figures(
    db: Database, codes: list[str], days: tuple[str, str], claim_hours: int, now: datetime
) -> dict[str, dict[str, Figure]]:
    """Branch → the four wish figures: three from one query over a covering index, the median
    read off another index."""
    if not codes:
        return {}
    due_before = (now - timedelta(hours=claim_hours)).strftime(TIMESTAMP_FORMAT)
    out: dict[str, dict[str, Figure]] = {code: {} for code in codes}
    branches = {f"b{i}": code for i, code in enumerate(codes)}
    for row in db.query(
        f"""SELECT branch_code,
                   sum({COUNTED["claim_in_time_share"]}) AS judged,
                   sum(w.claim_minutes <= :claim_limit) AS in_time,
                   sum({COUNTED["fulfilment_rate"]}) AS counted,
                   sum({COUNTED["confirmed_share"]}) AS fulfilled,
                   sum(w.patient_confirmed = 1) AS confirmed
            FROM wishes AS w INDEXED BY idx_wishes_assessment
            WHERE branch_code IN ({", ".join(":" + name for name in branches)})
              AND local_day BETWEEN :first AND :last
            GROUP BY branch_code""",
        {
            "claim_cutoff": due_before,
            "claim_limit": claim_hours * 60,
            "first": days[0],
            "last": days[1],
            **branches,
        },
    ):
        figures = out[row["branch_code"]]
        figures["claim_in_time_share"] = _share(row["in_time"], row["judged"])
        figures["fulfilment_rate"] = _share(row["fulfilled"], row["counted"])
        figures["confirmed_share"] = _share(row["confirmed"], row["fulfilled"])
    for code, median in _median_fulfil_hours(db, codes, days).items():
        out[code]["median_fulfil_hours"] = median
    for figures in out.values():
        for metric in (
            "claim_in_time_share",
            "fulfilment_rate",
            "confirmed_share",
            "median_fulfil_hours",
        ):
            figures.setdefault(metric, Figure(None, 0))
    return out


def _median_fulfil_hours(db: Database, codes: list[str], days: tuple[str, str]) -> dict:
    """Branch → median hours to fulfil, read off the (branch, fulfil_minutes) index in order,
    one `LIMIT 2 OFFSET k` per branch as the dashboard reads its waits, instead of sorting a
    year of wishes (a window function over them took 0.2–0.8 s for 100 branches)."""
    source = f"FROM wishes INDEXED BY {FULFIL_INDEX}"
    where = "fulfil_minutes IS NOT NULL AND local_day BETWEEN ? AND ?"
    counts = db.execute(
        f"""SELECT branch_code, count(*) {source}
            WHERE branch_code IN ({_in(codes)}) AND {where} GROUP BY branch_code""",
        [*codes, *days],
    ).fetchall()
    out = {}
    for code, n in counts:
        middle = [
            minutes
            for (minutes,) in db.execute(
                f"""SELECT fulfil_minutes {source} WHERE branch_code = ? AND {where}
                    ORDER BY fulfil_minutes LIMIT 2 OFFSET ?""",
                [code, *days, (n - 1) // 2],
            )
        ]
        minutes = middle[0] if n % 2 else (middle[0] + middle[1]) / 2
        out[code] = Figure(minutes / 60.0, n)
    return out


def _share(part: int | None, whole: int | None) -> Figure:
    if not whole:
        return Figure(None, 0)
    return Figure(100.0 * (part or 0) / whole, whole)


def served_top_box(
    db: Database, codes: list[str], days: tuple[str, str], slug: str = SATISFACTION
) -> dict[str, Figure]:
    """Branch → top-box share of the overall rating over the departments it serves."""
    by_department = {
        row["department_code"]: (row["top"], row["n"])
        for row in db.query(
            """SELECT a.department_code, sum(a.top) AS top, sum(a.n) AS n
               FROM answer_days a JOIN questionnaires q ON q.id = a.questionnaire_id
               WHERE q.slug = ? AND a.option = '' AND a.question_key = ?
                 AND a.day BETWEEN ? AND ?
               GROUP BY a.department_code""",
            [slug, OVERALL_QUESTION, *days],
        )
    }
    served = organisation.served_departments(db)
    out = {}
    for code in codes:
        departments = served.get(code)
        chosen = [v for d, v in by_department.items() if departments is None or d in departments]
        top, n = sum(t for t, _ in chosen), sum(n for _, n in chosen)
        out[code] = _share(top, n)
    return out


def patient_ratings(db: Database, codes: list[str], days: tuple[str, str]) -> dict[str, Figure]:
    """Branch → the mean of its patients' answers (1–5), counted as the board's link counts."""
    if not codes:
        return {}
    means = {
        code: Figure(mean, n)
        for code, mean, n in db.execute(
            f"""SELECT w.branch_code, avg(r.rating), count(*)
                FROM wish_ratings r JOIN wishes w ON w.id = r.wish_id
                WHERE w.branch_code IN ({_in(codes)}) AND w.local_day BETWEEN ? AND ?
                GROUP BY w.branch_code""",
            [*codes, *days],
        )
    }
    return {code: means.get(code, Figure(None, 0)) for code in codes}


def figures_for(
    db: Database, codes: list[str], days: tuple[str, str], claim_hours: int, now: datetime
) -> dict[str, dict[str, Figure]]:
    """Branch → metric → Figure, for every metric a computed item may use."""
    out = wish_figures(db, codes, days, claim_hours, now)
    for code, figure in served_top_box(db, codes, days).items():
        out[code]["served_top_box"] = figure
    for code, figure in patient_ratings(db, codes, days).items():
        out[code]["patient_rating"] = figure
    return out
