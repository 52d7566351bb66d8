"""Number and note questions (issue 20, item 1, first part): a number within its range, a
note with nothing to answer; stored, shown and downloaded like the other answers."""

import pytest
from conftest import answer_page_fields

from wishes.questionnaires import definition as definitions
from wishes.questionnaires import store

LABEL = {"zh_Hans": "x", "zh_Hant": "x", "en": "x"}


def _definition(**number):
    return {
        "slug": "stay",
        "title": {"zh_Hans": "住院体验", "zh_Hant": "住院體驗", "en": "Your stay"},
        "questions": [
            {
                "key": "intro",
                "type": "note",
                "label": {
                    "zh_Hans": "以下几题关于住院天数",
                    "zh_Hant": "以下幾題",
                    "en": "About your stay",
                },
            },
            {
                "key": "days",
                "type": "number",
                "required": True,
                "label": {"zh_Hans": "住了几天？", "zh_Hant": "住了幾天？", "en": "How many days?"},
                **(number or {"min": 1, "max": 60}),
            },
        ],
    }


@pytest.mark.parametrize("number", [{"min": 5, "max": 5}, {"min": "1", "max": 9}, {"max": 1.5}])
def test_a_range_that_cannot_work_is_refused(number):
    with pytest.raises(definitions.DefinitionError, match="min 和 max"):
        definitions.parse(_definition(**number))


def test_a_note_is_never_required():
    note = {"key": "n", "type": "note", "required": True, "label": LABEL}
    parsed = definitions.parse({"slug": "s", "title": LABEL, "questions": [note]})
    assert parsed["questions"][0]["required"] is False


@pytest.fixture
def stay(db):
    qid = store.create(db, _definition(), "triager")
    store.publish(db, qid, store.latest_version(db, qid).id)
    return qid


def test_a_number_is_kept_within_its_range_and_the_note_is_only_read(client, db, stay):
    html = client.get("/s/stay").get_data(as_text=True)
    assert '<p class="question-note">以下几题关于住院天数</p>' in html
    assert 'type="number"' in html and 'min="1"' in html and "填 1 到 60 之间的整数" in html
    fields = answer_page_fields(html)
    too_many = client.post("/s/stay", data={**fields, "q_days": "61", "q_intro": "x"})
    assert too_many.status_code == 303 and db["responses"].count == 0
    shown = client.get(too_many.location).get_data(as_text=True)
    assert "请填写 1 到 60 之间的整数" in shown and 'value="61"' in shown
    english = client.get("/s/stay?lang=en").get_data(as_text=True)
    assert "A whole number from 1 to 60" in english
    done = client.post(
        "/s/stay", data={**answer_page_fields(shown), "q_days": "12", "q_intro": "x"}
    )
    assert done.status_code == 302
    stored = [(r["question_key"], r["value"], r["text"]) for r in db["answers"].rows]
    assert stored == [("days", 12, None)]


def test_the_editor_makes_a_number_question_with_its_range(client, db, staff):
    from conftest import login, post_form

    qid = store.ensure_default(db)
    login(client, "triager")
    post_form(
        client,
        f"/admin/questionnaires/{qid}/questions/new",
        type="number",
        key="visits",
        label_zh_Hans="今年来过几次？",
        minimum="0",
        maximum="50",
    )
    visits = store.latest_version(db, qid).questions[-1]
    assert (visits["type"], visits["min"], visits["max"]) == ("number", 0, 50)
