"""Individual questionnaire responses: the list with its filters, one response, and the CSV,
XLSX and SPSS downloads (issue 20, item 5)."""

import csv
import io
from datetime import date

import pyreadstat
import pytest
from conftest import login
from openpyxl import load_workbook
from test_dashboard import _respond

from wishes.questionnaires import store


@pytest.fixture
def answered(db):
    qid = store.ensure_default(db)
    version = store.live_version(db, "satisfaction")
    ward = db.execute("SELECT code FROM departments ORDER BY code LIMIT 1").fetchone()[0]
    _respond(
        db,
        version,
        date(2026, 3, 2),
        ward,
        overall=5,
        visit="inpatient",
        improve=["food", "parking"],
        comment="饭菜有点凉",
    )
    _respond(db, version, date(2026, 3, 3), None, overall=2, visit="outpatient", waiting=1)
    _respond(db, version, date(2026, 4, 1), ward, overall=4, recommend=9)
    return qid, ward


def test_the_list_filters_by_day_department_and_any_answer(client, staff, answered):
    qid, ward = answered
    login(client, "triager")
    everything = client.get(f"/admin/questionnaires/{qid}/responses").get_data(as_text=True)
    assert "饭菜有点凉" in everything and "5 很满意" in everything
    march = client.get(
        f"/admin/questionnaires/{qid}/responses?first=2026-03-01&last=2026-03-31&department={ward}"
    ).get_data(as_text=True)
    assert march.count('href="/admin/questionnaires/') >= 1 and "饭菜有点凉" in march
    assert "2 不满意" not in march  # the other department
    parking = client.get(
        f"/admin/questionnaires/{qid}/responses?question=improve&answer=parking"
    ).get_data(as_text=True)
    assert "饭菜有点凉" in parking and "2 不满意" not in parking
    words = client.get(
        f"/admin/questionnaires/{qid}/responses?question=comment&answer=凉"
    ).get_data(as_text=True)
    assert "饭菜有点凉" in words
    odd = client.get(f"/admin/questionnaires/{qid}/responses?first=soon&version=x&page=-1")
    assert odd.status_code == 200 and "日期格式不对" in odd.get_data(as_text=True)


def test_one_response_shows_every_answer_in_words(client, staff, db, answered):
    qid, _ward = answered
    first = db.execute("SELECT min(id) FROM responses").fetchone()[0]
    login(client, "manager")
    html = client.get(f"/admin/questionnaires/{qid}/responses/{first}").get_data(as_text=True)
    assert "<dd>住院</dd>" in html and "<dd>饮食；停车</dd>" in html
    assert "5 很满意" in html and "饭菜有点凉" in html


def test_the_downloads_hold_one_row_per_response_with_codes_and_labels(client, staff, db, answered):
    qid, ward = answered
    login(client, "manager")
    query = "first=2026-03-01&last=2026-03-31"
    book = client.get(f"/admin/questionnaires/{qid}/responses.xlsx?{query}")
    assert book.status_code == 200
    assert (
        "satisfaction_responses_2026-03-01_2026-03-31.xlsx" in book.headers["Content-Disposition"]
    )
    sheet = load_workbook(io.BytesIO(book.data)).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert "2026-03-01 至 2026-03-31" in values[1][0]  # the filters under the title
    header = values[2]
    assert sheet.freeze_panes == "A4"
    rows = values[3:]
    assert len(rows) == 2
    overall = header.index(next(h for h in header if h and h.endswith("（overall）")))
    assert sorted(row[overall] for row in rows) == [2, 5]  # numbers, not text
    improve = header.index(next(h for h in header if h and h.endswith("（improve）")))
    assert "food;parking" in [row[improve] for row in rows]

    text = client.get(f"/admin/questionnaires/{qid}/responses.csv?{query}").data.decode("utf-8-sig")
    assert len(list(csv.reader(io.StringIO(text)))) == 3  # the header and two responses

    sav = client.get(f"/admin/questionnaires/{qid}/responses.sav?{query}")
    path = db.conn.execute("PRAGMA database_list").fetchone()[2] + ".test.sav"
    with open(path, "wb") as out:
        out.write(sav.data)
    frame, meta = pyreadstat.read_sav(path, output_format="polars")
    assert len(frame) == 2
    assert meta.variable_value_labels["overall"][5.0] == "很满意"
    assert meta.variable_value_labels["visit"][2.0] == "住院"
    assert sorted(frame["improve_parking"].to_list()) == [0.0, 1.0]
    assert meta.column_names_to_labels["overall"].startswith("总体")
    exported = db.execute("SELECT count(*) FROM audit_events WHERE action = 'exported'")
    assert exported.fetchone()[0] == 3


def test_a_member_reads_no_response(client, staff, answered):
    qid, _ward = answered
    login(client, "member_a")
    assert client.get(f"/admin/questionnaires/{qid}/responses").status_code == 403
    assert client.get(f"/admin/questionnaires/{qid}/responses.sav").status_code == 403
