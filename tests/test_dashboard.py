"""The managers' dashboard: statistics with known answers, SQL figures, access, downloads."""

import csv
import io
import re
import secrets
from datetime import UTC, date, datetime, timedelta

import numpy
import pytest
from conftest import login, routed_to
from openpyxl import load_workbook

from wishes import lifecycle
from wishes.dashboard import exports, figures, stats
from wishes.deadlines import Deadlines
from wishes.lifecycle import Actor, ClaimantKind, WishEntry
from wishes.questionnaires import store

# --- statistics on small hand-made data ------------------------------------------------------


def test_mean_and_its_t_interval():
    values = [1, 2, 3, 4, 5]
    estimate = stats.mean(len(values), sum(values), sum(v * v for v in values))
    # sd = 1.5811, se = 0.7071, t(0.975, 4) = 2.7764
    assert estimate.value == 3
    assert estimate.low == pytest.approx(1.0368, abs=1e-4)
    assert estimate.high == pytest.approx(4.9632, abs=1e-4)


def test_top_box_share_with_the_wilson_interval():
    estimate = stats.share(8, 10)  # 8 of 10 answered 4 or 5
    assert estimate.value == pytest.approx(80)
    assert (estimate.low, estimate.high) == (
        pytest.approx(49.02, abs=0.01),
        pytest.approx(94.33, abs=0.01),
    )
    none = stats.share(0, 10)
    assert none.low == 0 and none.high == pytest.approx(27.75, abs=0.01)


def test_nps_from_promoters_and_detractors():
    # 5 promoters (9–10), 3 passives (7–8), 2 detractors (0–6) of 10
    estimate = stats.nps(5, 2, 10)
    assert estimate.value == pytest.approx(30)
    half = 1.959964 * ((0.5 + 0.2 - 0.3**2) / 10) ** 0.5 * 100
    assert estimate.low == pytest.approx(30 - half) and estimate.high == pytest.approx(30 + half)


def test_too_few_answers_give_no_figure():
    for estimate in (
        stats.mean(29, 100, 400, minimum=30),
        stats.share(20, 29, minimum=30),
        stats.nps(10, 5, 29, minimum=30),
    ):
        assert estimate.value is None and not estimate.enough and estimate.n == 29
    assert stats.share(20, 30, minimum=30).enough


@pytest.mark.parametrize("values", [[7], [3, 1], [5, 1, 4, 2, 3], [10, 0, 30, 20, 60, 50, 40, 90]])
@pytest.mark.parametrize("p", [0.5, 0.9])
def test_percentiles_match_numpy(values, p):
    assert stats.percentile(sorted(values), p) == pytest.approx(numpy.percentile(values, p * 100))


# --- satisfaction figures in SQL -------------------------------------------------------------

MONDAY = date(2026, 3, 2)


def _respond(db, version, day: date, department: str | None, **answers):
    stamp = datetime(day.year, day.month, day.day, 4, 0, tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S")
    store.store_response(
        db,
        version,
        store.answers_from(version, answers),
        submission_id=secrets.token_hex(16),
        department_code=department,
        channel="phone",
        at=stamp,
    )


@pytest.fixture
def survey(db):
    store.ensure_default(db)
    return store.live_version(db, "satisfaction")


@pytest.fixture
def answered(db, survey):
    """Two weeks of hand-made answers: week 1 in the emergency department, week 2 in the lab."""
    week1 = [(5, 10), (5, 9), (4, 8), (3, 6), (1, 0)]  # overall, recommend
    week2 = [(4, 9), (4, 7), (2, 3)]
    for i, (overall, recommend) in enumerate(week1):
        improve = ["parking", "food"] if i < 2 else ["parking"]
        _respond(
            db,
            survey,
            MONDAY + timedelta(days=i),
            "emergency",
            overall=overall,
            recommend=recommend,
            improve=improve,
        )
    for i, (overall, recommend) in enumerate(week2):
        _respond(
            db,
            survey,
            MONDAY + timedelta(days=7 + i),
            "lab",
            overall=overall,
            recommend=recommend,
            comment="排队太久" if i == 0 else "",
        )
    return figures.Filters(
        MONDAY, MONDAY + timedelta(days=13), "week", None, survey.questionnaire_id, 1
    )


def _row(table, key, value):
    return next(r for r in table.rows if r[key] == value)


def test_per_question_figures_from_the_tallies(db, survey, answered):
    table = figures.satisfaction_by_question(db, answered, survey.questions)
    overall = _row(table, "key", "overall")
    ratings = [5, 5, 4, 3, 1, 4, 4, 2]
    assert overall["n"] == 8
    assert overall["mean"].value == pytest.approx(numpy.mean(ratings))
    assert overall["top"].value == pytest.approx(100 * 5 / 8)
    sd = numpy.std(ratings, ddof=1)
    assert overall["mean"].high - overall["mean"].value == pytest.approx(
        2.3646 * sd / 8**0.5, rel=1e-3
    )
    recommend = _row(table, "key", "recommend")
    # promoters 10, 9, 9 = 3; detractors 6, 0, 3 = 3 → NPS 0
    assert recommend["nps"].value == pytest.approx(0)
    assert _row(table, "key", "waiting")["mean"].value is None  # nobody answered it


def test_trend_by_week_and_department_comparison(db, survey, answered):
    trend = figures.satisfaction_trend(db, answered, survey.questions)
    assert [r["period"] for r in trend.rows] == ["2026-03-02", "2026-03-09"]
    assert [r["responses"] for r in trend.rows] == [5, 3]
    assert trend.rows[0]["overall_mean"].value == pytest.approx(18 / 5)
    assert trend.rows[1]["overall_top"].value == pytest.approx(100 * 2 / 3)
    assert trend.rows[0]["nps"].value == pytest.approx(100 * (2 - 2) / 5)

    def trend_by(period):
        span = figures.Filters(
            MONDAY, MONDAY + timedelta(days=13), period, None, survey.questionnaire_id, 1
        )
        return figures.satisfaction_trend(db, span, survey.questions)

    by_month = trend_by("month")
    assert [(r["period"], r["responses"]) for r in by_month.rows] == [("2026-03", 8)]
    by_quarter = trend_by("quarter")
    assert [r["period"] for r in by_quarter.rows] == ["2026-Q1"]
    departments = figures.department_comparison(db, answered, survey.questions)
    # ranked by top-box share: the lab 2/3, emergency 3/5
    assert [(r["department"], r["responses"]) for r in departments.rows] == [
        ("检验科", 3),
        ("急诊科", 5),
    ]


def test_department_filter_and_minimum(db, survey, answered):
    lab = figures.Filters(answered.first, answered.last, "week", "lab", survey.questionnaire_id, 4)
    overall = _row(figures.satisfaction_by_question(db, lab, survey.questions), "key", "overall")
    assert overall["n"] == 3 and overall["mean"].value is None  # 3 answers, minimum 4


def test_choice_counts_and_latest_comments(db, survey, answered):
    choices = figures.choice_answers(db, answered, survey.questions)
    parking = next(r for r in choices.rows if r["option"] == "停车")
    assert parking["n"] == 5 and parking["share"].value == pytest.approx(100 * 5 / 8)
    comments = figures.latest_comments(db, answered, survey.questions)
    assert [c["text"] for c in comments] == ["排队太久"] and comments[0]["department"] == "检验科"


def test_tallies_equal_the_answers_they_count(db, survey, answered):
    direct = db.execute(
        "SELECT count(*), sum(value), sum(value * value) FROM answers "
        "WHERE question_key = 'overall'"
    ).fetchone()
    tallied = db.execute(
        "SELECT sum(n), sum(total), sum(total_sq) FROM answer_days WHERE question_key = 'overall'"
    ).fetchone()
    assert direct == tallied == (8, 28, 112)


# --- wish figures --------------------------------------------------------------------------

STAFF = Actor("staff", "tester")


def _wish(db, created: datetime, branch: str, router_branch: str, claim_h=None, fulfil_h=None):
    stamp = lambda moment: moment.strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731
    route = routed_to(router_branch, tags=["轮椅"])
    entry = WishEntry("需要一个轮椅", "phone")
    wish = lifecycle.submit(db, entry, route, router_branch, at=stamp(created))
    if router_branch != branch:
        lifecycle.reroute(db, wish["id"], branch, STAFF, "不是我们", at=stamp(created))
    if claim_h is not None:
        lifecycle.claim(
            db,
            wish["id"],
            STAFF,
            ClaimantKind.BRANCH,
            "支部",
            at=stamp(created + timedelta(hours=claim_h)),
        )
    if fulfil_h is not None:
        lifecycle.fulfil(
            db, wish["id"], STAFF, "已送到", at=stamp(created + timedelta(hours=fulfil_h))
        )
    return wish


def test_branch_waits_rates_and_reroutes(db, survey):
    start = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    claims = [1, 2, 3, 10]  # hours to claim at logistics
    for i, hours in enumerate(claims):
        _wish(db, start + timedelta(hours=i), "logistics", "logistics", hours, hours + 24 * (i + 1))
    _wish(db, start, "logistics", "catering")  # re-routed, never claimed
    filters = figures.Filters(
        date(2026, 3, 2), date(2026, 3, 8), "week", None, survey.questionnaire_id, 1
    )
    now = datetime(2026, 3, 5, tzinfo=UTC)
    table = figures.wishes_by_branch(db, filters, Deadlines(24, 7), now)
    row = _row(table, "branch", "总务后勤党支部")
    assert row["volume"] == 5
    assert row["claimed"] == pytest.approx(80) and row["fulfilled"] == pytest.approx(80)
    assert row["claim_median"] == pytest.approx(numpy.percentile(claims, 50))  # 2.5 h
    assert row["claim_p90"] == pytest.approx(numpy.percentile(claims, 90))
    fulfil = [h + 24 * (i + 1) for i, h in enumerate(claims)]
    assert row["fulfil_median"] == pytest.approx(numpy.percentile(fulfil, 50))
    assert row["rerouted"] == pytest.approx(20)
    assert row["overdue"] == 1  # the re-routed one has waited over 24 h for a claim
    assert table.rows[0]["branch"] == "总务后勤党支部" and table.rows[0]["rank"] == 1
    totals = figures.wish_totals(db, filters)
    assert totals["volume"] == 5 and totals["claim"]["median"] == pytest.approx(2.5)
    tags = figures.top_tags(db, filters)
    assert (
        tags.rows[0]["tag"] == "轮椅" and tags.rows[0]["n"] == 5 and tags.rows[0]["previous"] == 0
    )
    categories = figures.wishes_by_category(db, filters)
    # the one the router placed at catering was re-routed without a category: it keeps its own
    assert _row(categories, "category", "生活用品")["n"] == 4
    assert _row(categories, "category", "订餐与饮食")["n"] == 1


def test_a_change_is_shown_only_against_an_earlier_count_of_five_or_more(db):
    """A count that went from 1 to 10 is not "+900 %": too few before to compare."""
    march = datetime(2026, 3, 2, 9, tzinfo=UTC)
    for week, count in ((-7, 1), (0, 10)):
        for i in range(count):
            _wish(db, march + timedelta(days=week, hours=i), "logistics", "logistics")
    for i in range(5):
        _wish(db, march + timedelta(days=-7, hours=20 + i), "catering", "catering")
    for i in range(6):
        _wish(db, march + timedelta(hours=20 + i), "catering", "catering")
    filters = figures.Filters(date(2026, 3, 2), date(2026, 3, 8), "week", None, None, 1)
    categories = figures.wishes_by_category(db, filters)
    items = _row(categories, "category", "生活用品")
    assert (items["n"], items["previous"], items["change"]) == (10, 1, None)
    meals = _row(categories, "category", "订餐与饮食")
    assert (meals["n"], meals["previous"], meals["change"]) == (6, 5, pytest.approx(20))
    wheelchairs = _row(figures.top_tags(db, filters), "tag", "轮椅")  # every wish: 6 → 16
    assert wheelchairs["change"] == pytest.approx(100 * 10 / 6)


# --- pages, access and downloads -----------------------------------------------------------


DASHBOARD_VISITORS = [
    (None, 302),
    ("member_a", 403),
    ("secretary_a", 403),
    ("triager", 403),
    ("manager", 200),
    ("admin", 200),
]


@pytest.mark.parametrize(("who", "status"), DASHBOARD_VISITORS)
def test_only_managers_and_admins_see_the_dashboard(client, staff, survey, who, status):
    if who:
        login(client, who)
    for path in ("/dashboard", "/dashboard/report", "/dashboard/export/branches.csv"):
        assert client.get(path).status_code == status, path


def test_the_page_shows_charts_tables_and_too_few(client, staff, survey, answered):
    login(client, "manager")
    html = client.get("/dashboard?first=2026-03-02&last=2026-03-15").get_data(as_text=True)
    assert 'data-chart="line" data-for="satisfaction_trend-table"' in html
    assert "/vendor/chart.umd.min.js" in html
    assert "样本不足" in html  # 8 answers, below the default minimum of 30
    assert "排队太久" in html


def test_bad_filters_are_explained_and_defaulted(client, staff, survey):
    login(client, "manager")
    response = client.get("/dashboard?first=2026-13-45&last=2026-01-01&period=decade&department=x")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Not a valid date value" in html or "日期" in html


def _page_numbers(html, table):
    body = re.search(rf'id="{table}-table".*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    return [
        re.findall(r'data-value="([^"]*)"', row)
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_xlsx_and_csv_hold_the_numbers_on_the_page(app, client, db, staff, survey, answered):
    app.config["WISHES_MIN_RESPONSES"] = 1
    login(client, "manager")
    query = "first=2026-03-02&last=2026-03-15&period=week"
    html = client.get(f"/dashboard?{query}").get_data(as_text=True)
    page = _page_numbers(html, "departments")
    workbook = load_workbook(
        io.BytesIO(client.get(f"/dashboard/export/departments.xlsx?{query}").data)
    )
    sheet = list(workbook.active.iter_rows(values_only=True))
    header_at = next(i for i, row in enumerate(sheet) if row[0] == "科室")
    rows = [row for row in sheet[header_at + 1 :] if row[0] in ("急诊科", "检验科")]
    assert [r[0] for r in rows] == ["检验科", "急诊科"]
    for on_page, in_sheet in zip(page, rows, strict=True):
        # responses, mean (with its interval in the sheet), top-box, NPS
        assert int(on_page[0]) == in_sheet[1]
        assert float(on_page[1]) == pytest.approx(in_sheet[2], abs=0.005)
        assert float(on_page[2]) == pytest.approx(in_sheet[5], abs=0.05)
    text = client.get(f"/dashboard/export/departments.csv?{query}").data.decode("utf-8-sig")
    csv_rows = list(csv.reader(io.StringIO(text)))
    assert csv_rows[0][:3] == ["科室", "回答数", "总体满意度平均分"]
    assert [r[:2] for r in csv_rows[1:]] == [["检验科", "3"], ["急诊科", "5"]]
    exported = [r for r in db["audit_events"].rows if r["action"] == "exported"]
    assert [e["subject_id"] for e in exported] == ["departments", "departments"]


def test_a_download_says_which_filters_made_it_and_reads_like_a_sheet(
    client, db, staff, survey, answered
):
    login(client, "manager")
    query = "first=2026-03-02&last=2026-03-15&period=week&department=lab"
    response = client.get(f"/dashboard/export/satisfaction.xlsx?{query}")
    disposition = response.headers["Content-Disposition"]
    assert "satisfaction_2026-03-02_2026-03-15_lab" in disposition
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert "检验科" in rows[1][0] and "按周" in rows[1][0]  # the filters, under the title
    assert sheet.freeze_panes == "A4"  # title, filters, header: frozen
    assert sheet.column_dimensions["A"].width > 8
    # with 30 answers needed and fewer given, the estimate cells are empty, not text
    numbers = [cell for row in rows[3:] for cell in row[1:] if cell is not None]
    assert "样本不足" not in numbers
    assert any("样本不足" in str(row[0]) for row in rows if row[0])
    page = client.get(f"/dashboard?{query}").get_data(as_text=True)
    assert re.search(r'href="/dashboard/report\?[^"]*department=lab', page)


def test_exports_never_write_a_live_formula(db, survey):
    db["departments"].insert(
        {"code": "evil", "name": '=HYPERLINK("http://x","点我")', "kind": "ward"}
    )
    columns = [figures.Column("department", "科室"), figures.Column("n", "n", "count")]
    rows = [
        {"department": "=1+1", "n": 3},
        {"department": "@SUM(A1)", "n": -2},
        {"department": "+86", "n": 1},
        {"department": "-x", "n": 0},
    ]
    table = figures.Table("t", "t", columns, rows)
    text = exports.to_csv(table).decode("utf-8-sig")
    assert "'=1+1" in text and "'@SUM(A1)" in text and "'+86" in text and "'-x" in text
    assert ",-2" in text  # numbers stay numbers
    sheet = load_workbook(io.BytesIO(exports.to_xlsx(table))).active
    values = [cell.value for row in sheet.iter_rows() for cell in row]
    assert "'=1+1" in values and all(c.data_type != "f" for row in sheet.iter_rows() for c in row)


def test_the_monthly_report_prints_a_month(client, staff, survey, answered):
    login(client, "manager")
    html = client.get("/dashboard/report?month=2026-03").get_data(as_text=True)
    assert "2026 年 3 月" in html and "2026-03-01 — 2026-03-31" in html
    assert "data-print" in html and 'class="report"' in html
    assert client.get("/dashboard/report?month=garbage").status_code == 200


def test_no_header_or_title_of_a_download_can_run_as_a_formula():
    """An assessment area or a round named =HYPERLINK(…) became a formula in the XLSX and the
    CSV header; every cell, header and title is text now."""
    from openpyxl import load_workbook

    from wishes.dashboard import to_csv, to_xlsx

    hostile = '=HYPERLINK("http://x","y")'
    table = figures.Table(
        "ranking",
        "=1+1",
        [figures.Column("branch", hostile), figures.Column("n", "@SUM(A1)", "count")],
        [{"branch": "-2+3", "n": 4}],
        note="+note",
    )
    first_line = to_csv(table).decode("utf-8-sig").splitlines()[0]
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in first_line.split(","))
    book = load_workbook(io.BytesIO(to_xlsx(table, "=subtitle")))
    cells = [cell for row in book.active.iter_rows() for cell in row if cell.value is not None]
    assert cells and all(cell.data_type != "f" for cell in cells)
    texts = [cell.value for cell in cells if isinstance(cell.value, str)]
    assert not any(text.startswith(("=", "+", "-", "@")) for text in texts), texts


def test_the_correlation_and_its_interval_match_numpy_and_fishers_z():
    rng = numpy.random.default_rng(3)
    x = rng.integers(1, 6, 200)
    y = numpy.clip(x + rng.integers(-1, 2, 200), 1, 5)
    r = stats.correlation(200, x.sum(), y.sum(), (x * x).sum(), (y * y).sum(), (x * y).sum())
    expected = numpy.corrcoef(x, y)[0, 1]
    assert r.value == pytest.approx(expected)
    half = 1.959964 / numpy.sqrt(197)
    assert r.low == pytest.approx(numpy.tanh(numpy.arctanh(expected) - half), abs=1e-4)
    assert r.high == pytest.approx(numpy.tanh(numpy.arctanh(expected) + half), abs=1e-4)
    assert stats.correlation(5, 15, 15, 45, 45, 45, minimum=30).value is None  # too few
    assert stats.correlation(40, 120, 120, 360, 400, 360).value is None  # a constant answer


def test_drivers_put_a_strong_and_poorly_rated_question_first(db, survey):
    """Issue 20, item 8: attitude moves with overall satisfaction and is rated low, so it is
    to fix first; the environment moves with nothing; privacy has too few answers."""
    day = date(2026, 3, 4)
    rng = numpy.random.default_rng(7)
    for i in range(60):
        overall = int(rng.integers(1, 6))
        answers = {
            "overall": overall,
            "recommend": 7,
            "attitude": max(1, overall - 1),  # follows overall, a point lower
            "waiting": 4 if i % 2 else 5,  # well rated, unrelated
            "environment": int(rng.integers(1, 6)),  # unrelated
        }
        if i < 10:
            answers["privacy"] = overall
        _respond(db, survey, day, None, **answers)
    filters = figures.Filters(day, day, "week", None, survey.questionnaire_id, 30)
    questions = [{**q} for q in survey.definition["questions"]]
    table = figures.satisfaction_drivers(db, filters, questions)
    by_question = {row["question"]: row for row in table.rows}
    first = table.rows[0]
    assert first["priority"] == "优先改进" and first["impact"].value > 0.9
    assert "态度" in first["question"]
    privacy = next(row for name, row in by_question.items() if "隐私" in name)
    assert privacy["impact"].value is None and privacy["priority"] == ""
    assert {row["n"] for row in table.rows} == {60, 10, 0}  # 0: questions nobody answered
