"""Questions that show only for some earlier answers (issue 20, item 2): checked when a
definition is read, enforced on the server, and working without a script on the page."""

import re

import pytest
from conftest import answer_page_fields

from wishes.questionnaires import definition as definitions
from wishes.questionnaires import store

LABEL = {"zh_Hans": "x", "zh_Hant": "x", "en": "x"}


def _definition(**show_if):
    return {
        "slug": "food",
        "title": {"zh_Hans": "饭菜调查", "zh_Hant": "飯菜調查", "en": "Food"},
        "questions": [
            {"key": "food", "type": "rating", "required": True, "label": LABEL},
            {
                "key": "why",
                "type": "text",
                "required": True,
                "label": {
                    "zh_Hans": "哪里不好？",
                    "zh_Hant": "哪裡不好？",
                    "en": "What was wrong?",
                },
                "show_if": show_if or {"key": "food", "values": ["1", "2"]},
            },
            {"key": "comment", "type": "text", "label": LABEL},
        ],
    }


@pytest.mark.parametrize(
    ("show_if", "said"),
    [
        ({"key": "comment", "values": ["1"]}, "只能依据前面的"),  # a later question
        ({"key": "food", "values": ["6"]}, "不是那道题的答案"),
        ({"key": "food", "values": []}, "values 应为一组取值"),
        ({"key": "food"}, "show_if 应为"),
    ],
)
def test_a_condition_that_cannot_work_is_refused_with_where_and_why(show_if, said):
    with pytest.raises(definitions.DefinitionError, match=said):
        definitions.parse(_definition(**show_if))


def test_a_question_shows_only_for_the_answers_its_condition_names():
    why = definitions.parse(_definition())["questions"][1]
    assert definitions.shown(why, {"food": 1}) and definitions.shown(why, {"food": 2})
    assert not definitions.shown(why, {"food": 4}) and not definitions.shown(why, {})


@pytest.fixture
def food(db):
    qid = store.create(db, _definition(), "triager")
    store.publish(db, qid, store.latest_version(db, qid).id)
    return qid


def _page(client):
    html = client.get("/s/food").get_data(as_text=True)
    return html, answer_page_fields(html)


def _answers(db):
    return [
        (row["question_key"], row["value"], row["text"])
        for row in db.query("SELECT question_key, value, text FROM answers ORDER BY id")
    ]


def test_a_hidden_questions_answer_is_dropped_and_its_required_does_not_apply(client, db, food):
    html, fields = _page(client)
    assert "哪里不好？" in html and re.search(r'data-question="why" hidden', html)
    assert fields["shown_keys"] == "food comment"
    response = client.post("/s/food", data={**fields, "q_food": "4", "q_why": "不该存下"})
    assert response.status_code == 302 and "/thanks" in response.location
    assert _answers(db) == [("food", 4, None)]


def test_without_a_script_a_newly_shown_question_is_asked_before_storing(client, db, food):
    """The kiosk's page without script: food rated 1 sends the patient back once, the
    follow-up shown with a word; it is required now, and its answer is kept."""
    _html, fields = _page(client)
    back = client.post("/s/food", data={**fields, "q_food": "1"})
    assert back.status_code == 303 and db["responses"].count == 0
    html = client.get(back.location).get_data(as_text=True)
    assert "多了几道题" in html and not re.search(r'data-question="why" hidden', html)
    fields = answer_page_fields(html)
    assert fields["shown_keys"] == "food why comment"
    missing = client.post("/s/food", data={**fields, "q_food": "1"})
    assert missing.status_code == 303 and db["responses"].count == 0
    assert "请填写这一项" in client.get(missing.location).get_data(as_text=True)
    done = client.post("/s/food", data={**fields, "q_food": "1", "q_why": "饭是凉的"})
    assert done.status_code == 302
    assert _answers(db) == [("food", 1, None), ("why", None, "饭是凉的")]


def test_with_the_script_the_page_already_showed_it_and_nothing_bounces(client, db, food):
    _html, fields = _page(client)
    fields["shown_keys"] = "food why comment"  # what form.js keeps in step
    done = client.post("/s/food", data={**fields, "q_food": "2", "q_why": "太咸"})
    assert done.status_code == 302 and ("why", None, "太咸") in _answers(db)


def test_the_office_builds_a_condition_in_the_editor(client, db, staff):
    from conftest import flashes, login, post_form

    qid = store.ensure_default(db)
    login(client, "triager")
    edit = client.get(f"/admin/questionnaires/{qid}").get_data(as_text=True)
    assert "只在前面某题这样回答时显示" in edit and 'value="overall"' in edit
    wrong = post_form(
        client,
        f"/admin/questionnaires/{qid}/questions/new",
        type="text",
        key="why",
        label_zh_Hans="哪里不满意？",
        show_if_key="overall",
        show_if_values="1 9",
        follow_redirects=True,
    )
    assert "不是那道题的答案" in " ".join(flashes(wrong.get_data(as_text=True)))
    assert "why" not in [q["key"] for q in store.latest_version(db, qid).questions]
    post_form(
        client,
        f"/admin/questionnaires/{qid}/questions/new",
        type="text",
        key="why",
        label_zh_Hans="哪里不满意？",
        show_if_key="overall",
        show_if_values="1, 2",
    )
    why = store.latest_version(db, qid).questions[-1]
    assert why["show_if"] == {"key": "overall", "values": ["1", "2"]}
    again = client.get(f"/admin/questionnaires/{qid}/questions/why").get_data(as_text=True)
    assert 'value="1 2"' in again  # the editor shows the condition it saved
