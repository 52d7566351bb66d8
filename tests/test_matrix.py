"""Date and matrix questions (issue 20, item 1): a day that has been (a real calendar day, not
after today), and several items rated on one 1–5 scale, each item answered, stored, shown,
counted and downloaded as a rating of its own ("care.food")."""

import csv
import io
import re
from datetime import date, timedelta

import pyreadstat
import pytest
from conftest import answer_page_fields, login
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from wishes.clock import today
from wishes.dashboard import figures
from wishes.questionnaires import definition as definitions
from wishes.questionnaires import store

ITEMS = [
    {"key": "doctor", "label": {"zh_Hans": "医生", "zh_Hant": "醫生", "en": "Doctors"}},
    {"key": "nurse", "label": {"zh_Hans": "护士", "zh_Hant": "護士", "en": "Nurses"}},
    {"key": "food", "label": {"zh_Hans": "饭菜", "zh_Hant": "飯菜", "en": "Food"}},
]


def _definition(**matrix):
    return {
        "slug": "ward",
        "title": {"zh_Hans": "住院体验", "zh_Hant": "住院體驗", "en": "Your stay"},
        "questions": [
            {"key": "overall", "type": "rating", "label": {"zh_Hans": "总体满意度"}},
            {
                "key": "visit_day",
                "type": "date",
                "label": {"zh_Hans": "哪天来的？", "zh_Hant": "哪天來的？", "en": "Which day?"},
            },
            {
                "key": "care",
                "type": "matrix",
                "required": True,
                "label": {"zh_Hans": "住院期间", "zh_Hant": "住院期間", "en": "During your stay"},
                "items": ITEMS,
                **matrix,
            },
            {
                "key": "why",
                "type": "text",
                "label": {"zh_Hans": "饭菜哪里不好？", "zh_Hant": "飯菜哪裡不好？", "en": "Why?"},
                "show_if": {"key": "care.food", "values": ["1", "2"]},
            },
        ],
    }


# ---- the definition ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("matrix", "said"),
    [
        ({"items": ITEMS[:1]}, "第 3 题：矩阵题至少要有两个项目"),
        ({"items": [ITEMS[0], {**ITEMS[1], "key": "doctor"}]}, "第 2 个项目：key「doctor」重复"),
        (
            {"items": [*ITEMS, {"key": "Bad key", "label": {"zh_Hans": "x"}}]},
            "第 4 个项目：key 须为小写英文字母开头",
        ),
        (
            {"items": [{"key": f"i{n}", "label": {"zh_Hans": "x"}} for n in range(21)]},
            "最多 20 个项目",
        ),
        ({"scale": [{"zh_Hans": "差"}, {"zh_Hans": "好"}]}, "矩阵题需要 5 个等级的说明"),
        ({"scale": "1-5"}, "矩阵题需要 5 个等级的说明"),
    ],
)
def test_a_matrix_that_cannot_work_is_refused_saying_where(matrix, said):
    with pytest.raises(definitions.DefinitionError, match=said):
        definitions.parse(_definition(**matrix))


def test_a_matrix_takes_the_rating_words_and_lists_its_untranslated_texts():
    parsed = definitions.parse(_definition())
    care = parsed["questions"][2]
    assert care["scale"] == definitions.DEFAULT_RATING_LABELS
    assert [item["key"] for item in care["items"]] == ["doctor", "nurse", "food"]
    chinese_only = definitions.parse(
        _definition(
            items=[ITEMS[0], {"key": "bed", "label": {"zh_Hans": "床位"}}, ITEMS[2]],
            scale=[{"zh_Hans": f"{n} 级", "en": f"level {n}"} for n in range(1, 6)],
        )
    )
    missing = definitions.missing_translations(chinese_only)
    assert "第 3 题的第 2 个项目「床位」：缺繁体、英文" in missing
    assert "第 3 题的第 5 级「5 级」：缺繁体" in missing
    assert not any("「医生」" in line for line in missing)


def test_a_matrix_is_read_as_one_rating_per_item():
    flat = definitions.flat_questions(definitions.parse(_definition()))
    doctor = next(q for q in flat if q["key"] == "care.doctor")
    assert doctor["type"] == "rating" and doctor["scale"] == definitions.DEFAULT_RATING_LABELS
    assert doctor["label"]["zh_Hans"] == "住院期间 · 医生"
    assert doctor["label"]["en"] == "During your stay · Doctors"
    assert [q["key"] for q in flat] == [
        "overall",
        "visit_day",
        "care.doctor",
        "care.nurse",
        "care.food",
        "why",
    ]
    assert definitions.flat_questions(flat) == flat  # read twice, the same


def test_a_condition_names_a_matrix_item_and_one_of_its_levels():
    with pytest.raises(definitions.DefinitionError, match="不是那道题的答案"):
        definitions.parse(
            {
                **_definition(),
                "questions": [
                    *_definition()["questions"][:3],
                    {
                        **_definition()["questions"][3],
                        "show_if": {"key": "care.food", "values": ["6"]},
                    },
                ],
            }
        )
    with pytest.raises(definitions.DefinitionError, match="矩阵题的一项"):
        definitions.parse(
            {
                **_definition(),
                "questions": [
                    *_definition()["questions"][:3],
                    {**_definition()["questions"][3], "show_if": {"key": "care", "values": ["1"]}},
                ],
            }
        )


# ---- answering ---------------------------------------------------------------------------


@pytest.fixture
def ward(db):
    qid = store.create(db, _definition(), "triager")
    store.publish(db, qid, store.latest_version(db, qid).id)
    return qid


def _page(client, path="/s/ward"):
    html = client.get(path).get_data(as_text=True)
    return html, answer_page_fields(html)


def _answers(db):
    return [
        (row["question_key"], row["value"], row["text"])
        for row in db.query("SELECT question_key, value, text FROM answers ORDER BY id")
    ]


def test_the_matrix_is_a_grid_of_radio_buttons_and_the_date_a_date_input(client, ward):
    html, _fields = _page(client)
    assert html.count('type="radio" name="q_care.doctor"') == 5
    assert 'type="radio" name="q_care.food" id="q_care-food-5" value="5"' in html
    (day,) = re.findall(r'<input[^>]*name="q_visit_day"[^>]*>', html)
    assert 'type="date"' in day and f'max="{today().isoformat()}"' in day
    assert "很不满意" in html and ">医生<" in html
    english = client.get("/s/ward?lang=en").get_data(as_text=True)
    assert ">Doctors<" in english and "Very dissatisfied" in english


def test_a_matrix_stores_one_rating_per_item_and_a_date_its_day(client, db, ward):
    _html, fields = _page(client)
    sent = client.post(
        "/s/ward",
        data={
            **fields,
            "q_overall": "4",
            "q_visit_day": "2026-02-28",
            "q_care.doctor": "5",
            "q_care.nurse": "4",
            "q_care.food": "3",
        },
    )
    assert sent.status_code == 302 and sent.location.endswith("/s/ward/thanks")
    assert _answers(db) == [
        ("overall", 4, None),
        ("visit_day", None, "2026-02-28"),
        ("care.doctor", 5, None),
        ("care.nurse", 4, None),
        ("care.food", 3, None),
    ]
    scales = [
        row[0] for row in db.execute("SELECT scale FROM answers WHERE question_key LIKE 'care.%'")
    ]
    assert scales == [5, 5, 5]  # counted on the dashboard like any rating


def test_a_required_matrix_names_the_items_not_rated_and_keeps_every_answer(client, db, ward):
    _html, fields = _page(client)
    sent = client.post(
        "/s/ward",
        data={**fields, "q_visit_day": "2026-02-28", "q_care.doctor": "5", "q_care.food": "3"},
    )
    assert sent.status_code == 303 and db["responses"].count == 0
    shown = client.get(sent.location).get_data(as_text=True)
    assert "请给每一项选一个等级，还没选：护士" in shown
    assert re.search(r'name="q_care.doctor" id="q_care-doctor-5" value="5" checked', shown)
    assert re.search(r'name="q_care.food" id="q_care-food-3" value="3" checked', shown)
    assert 'value="2026-02-28"' in shown
    _html, fields = _page(client, "/s/ward?lang=en")
    sent = client.post("/s/ward?lang=en", data={**fields, "q_care.nurse": "2"})
    english = client.get(sent.location).get_data(as_text=True)
    assert "Please rate every item; not yet rated: Doctors, Food" in english


def test_a_rating_of_a_matrix_item_shows_its_follow_up_on_the_server(client, db, ward):
    html, fields = _page(client)
    assert 'data-show-if="care.food" data-show-values="1 2" data-question="why" hidden' in html
    assert fields["shown_keys"] == "overall visit_day care"
    ratings = {"q_care.doctor": "5", "q_care.nurse": "5"}
    liked = client.post("/s/ward", data={**fields, **ratings, "q_care.food": "4", "q_why": "凉"})
    assert liked.status_code == 302
    assert ("why", None, "凉") not in _answers(db)  # hidden: its answer is dropped
    _html, fields = _page(client)
    back = client.post("/s/ward", data={**fields, **ratings, "q_care.food": "1"})
    assert back.status_code == 303  # no script: back once to the question it showed
    shown = client.get(back.location).get_data(as_text=True)
    assert 'data-question="why">' in shown and "饭菜哪里不好？" in shown
    done = client.post(
        "/s/ward", data={**answer_page_fields(shown), **ratings, "q_care.food": "1", "q_why": "凉"}
    )
    assert done.status_code == 302 and ("why", None, "凉") in _answers(db)


@pytest.mark.parametrize(
    ("typed", "lang", "said"),
    [
        ("2026-02-30", "zh_Hans", "请填写真实存在的日期，格式为 年-月-日"),
        ("abc", "zh_Hant", "請填寫真實存在的日期，格式為 年-月-日"),
        ("3/1/2026", "en", "Please enter a real date as year-month-day"),
        ("tomorrow", "zh_Hans", "日期不能晚于今天"),
        ("tomorrow", "en", "The date cannot be later than today"),
    ],
)
def test_a_day_that_is_not_real_or_not_yet_is_refused_in_the_patients_words(
    client, db, ward, typed, lang, said
):
    if typed == "tomorrow":
        typed = (today() + timedelta(days=1)).isoformat()
    _html, fields = _page(client, f"/s/ward?lang={lang}")
    ratings = {"q_care.doctor": "5", "q_care.nurse": "4", "q_care.food": "3"}
    sent = client.post(
        f"/s/ward?lang={lang}", data={**fields, **ratings, "q_visit_day": typed, "q_overall": "2"}
    )
    assert sent.status_code == 303 and db["responses"].count == 0
    shown = client.get(sent.location).get_data(as_text=True)
    assert said in shown
    assert f'value="{typed}"' in shown and 'id="q_care-nurse-4" value="4" checked' in shown
    assert '<input checked id="q_overall-1" name="q_overall" type="radio" value="2">' in shown


def test_today_is_a_day_that_has_been(client, db, ward):
    _html, fields = _page(client)
    ratings = {"q_care.doctor": "5", "q_care.nurse": "4", "q_care.food": "3"}
    sent = client.post("/s/ward", data={**fields, **ratings, "q_visit_day": today().isoformat()})
    assert sent.status_code == 302
    assert ("visit_day", None, today().isoformat()) in _answers(db)


# ---- the office's pages and downloads -----------------------------------------------------


@pytest.fixture
def answered(client, db, staff, ward):
    for day, doctor, food in (("2026-03-01", "5", "2"), ("", "3", "4")):
        _html, fields = _page(client)
        sent = client.post(
            "/s/ward",
            data={
                **fields,
                "q_overall": "4",
                "q_visit_day": day,
                "q_care.doctor": doctor,
                "q_care.nurse": "4",
                "q_care.food": food,
            },
        )
        assert sent.status_code in (302, 303)
        if sent.status_code == 303:  # food rated 2 showed the follow-up: leave it empty
            shown = client.get(sent.location).get_data(as_text=True)
            again = client.post(
                "/s/ward",
                data={
                    **answer_page_fields(shown),
                    "q_overall": "4",
                    "q_visit_day": day,
                    "q_care.doctor": doctor,
                    "q_care.nurse": "4",
                    "q_care.food": food,
                },
            )
            assert again.status_code == 302
    client.get("/logout")
    return ward


def test_one_response_shows_each_item_rated_and_the_day(client, db, answered):
    first = db.execute("SELECT min(id) FROM responses").fetchone()[0]
    login(client, "manager")
    html = client.get(f"/admin/questionnaires/{answered}/responses/{first}").get_data(as_text=True)
    assert "<dt>住院期间 · 医生</dt>\n    <dd>5 很满意</dd>" in html
    assert "<dt>住院期间 · 饭菜</dt>\n    <dd>2 不满意</dd>" in html
    assert "<dd>2026-03-01</dd>" in html
    food = client.get(
        f"/admin/questionnaires/{answered}/responses?question=care.food&answer=2"
    ).get_data(as_text=True)
    assert f"#{first}<" in food and f"#{first + 1}<" not in food


def test_the_downloads_have_a_column_per_item_and_the_day_as_a_date(client, db, answered):
    login(client, "manager")
    book = client.get(f"/admin/questionnaires/{answered}/responses.xlsx")
    sheet = load_workbook(io.BytesIO(book.data)).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    header, rows = values[2], values[3:]
    doctor = header.index("住院期间 · 医生（care.doctor）")
    food = header.index("住院期间 · 饭菜（care.food）")
    day = header.index("哪天来的？（visit_day）")
    assert [(row[doctor], row[food]) for row in rows] == [(5, 2), (3, 4)]
    assert rows[0][day].date() == date(2026, 3, 1) and rows[1][day] is None
    assert sheet.cell(row=4, column=day + 1).is_date

    text = client.get(f"/admin/questionnaires/{answered}/responses.csv").data.decode("utf-8-sig")
    table = list(csv.DictReader(io.StringIO(text)))
    assert [r["住院期间 · 护士（care.nurse）"] for r in table] == ["4", "4"]
    assert [r["哪天来的？（visit_day）"] for r in table] == ["2026-03-01", ""]

    sav = client.get(f"/admin/questionnaires/{answered}/responses.sav")
    path = db.conn.execute("PRAGMA database_list").fetchone()[2] + ".matrix.sav"
    with open(path, "wb") as out:
        out.write(sav.data)
    frame, meta = pyreadstat.read_sav(path, output_format="polars")
    assert frame["care.doctor"].to_list() == [5.0, 3.0]
    assert meta.variable_value_labels["care.food"] == {
        1.0: "很不满意",
        2.0: "不满意",
        3.0: "一般",
        4.0: "满意",
        5.0: "很满意",
    }
    assert meta.column_names_to_labels["care.food"] == "住院期间 · 饭菜"
    assert frame["visit_day"].to_list() == [date(2026, 3, 1), None]
    assert meta.original_variable_types["visit_day"].startswith("DATE")


def test_the_dashboard_counts_each_matrix_item_as_a_rated_question(client, db, answered):
    login(client, "manager")
    html = client.get(
        f"/dashboard?questionnaire=ward&first=2026-01-01&last={today().isoformat()}"
    ).get_data(as_text=True)
    assert "住院期间 · 医生" in html and "住院期间 · 饭菜" in html
    questions = store.questions_over_versions(db, answered)
    span = figures.Filters(date(2026, 1, 1), today(), "week", None, answered, 1)
    means = {row["key"]: row for row in figures.satisfaction_by_question(db, span, questions).rows}
    assert means["care.doctor"]["n"] == 2 and means["care.doctor"]["mean"].value == 4.0
    assert means["care.food"]["top"].value == 50.0  # one of two rated food 4
    drivers = figures.satisfaction_drivers(db, span, questions)
    assert {"住院期间 · 医生", "住院期间 · 护士", "住院期间 · 饭菜"} <= {
        row["question"] for row in drivers.rows
    }


# ---- random answers (tests/test_fuzz.py's property, for these two types) -------------------

_typed = st.one_of(
    st.sampled_from(["", "1", "3", "5", "0", "6", "2.0", " 4", "x"]),
    st.text(max_size=12),
)
_days = st.one_of(
    st.dates(date(1800, 1, 1), date(2100, 12, 31)).map(date.isoformat),
    st.sampled_from(["", "2026-02-30", "2026-2-3", "20260203", "abc", " 2026-01-05 "]),
    st.text(max_size=12),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ratings=st.fixed_dictionaries({f"q_care.{item['key']}": _typed for item in ITEMS}),
    day=_days,
)
@example(ratings={f"q_care.{item['key']}": "2" for item in ITEMS}, day=" 2026-01-05 ")
@example(ratings={f"q_care.{item['key']}": "5" for item in ITEMS}, day="2026-02-30")
def test_random_answers_are_stored_exactly_as_checked_or_not_at_all(client, db, ward, ratings, day):
    _html, fields = _page(client)
    before = db["responses"].count
    sent = client.post("/s/ward", data={**fields, **ratings, "q_visit_day": day, "q_why": "w"})
    assert sent.status_code in (302, 303)
    rated = {
        k.removeprefix("q_"): int(v) for k, v in ratings.items() if v in {"1", "2", "3", "4", "5"}
    }
    try:
        real = (
            date.fromisoformat(day.strip())
            if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", day.strip())
            else None
        )
    except ValueError:
        real = None
    good_day = not day.strip() or (real is not None and date(1900, 1, 1) <= real <= today())
    if len(rated) < len(ITEMS) or not good_day:  # refused: nothing stored
        assert db["responses"].count == before
        return
    if sent.status_code == 303:  # food rated 1–2 showed the follow-up: nothing stored yet
        assert rated["care.food"] <= 2 and db["responses"].count == before
        return
    assert db["responses"].count == before + 1
    response_id = db.execute("SELECT max(id) FROM responses").fetchone()[0]
    stored = {
        row["question_key"]: row["value"] if row["value"] is not None else row["text"]
        for row in db.query("SELECT * FROM answers WHERE response_id = ?", [response_id])
    }
    expected: dict = {**rated}
    if real is not None:
        expected["visit_day"] = real.isoformat()
    if rated["care.food"] <= 2:
        expected["why"] = "w"
    assert stored == expected
