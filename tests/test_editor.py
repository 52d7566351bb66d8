"""The questionnaire editor without syntax (issue 20, item 3): options as rows with their three
languages side by side, added, removed and moved with or without the page's script; the
scale's and NPS's end labels in the form; and a preview of the patient's page beside it."""

import re

import pytest
from conftest import flashes, login, post_form

from wishes.questionnaires import store


def _editor(client, db):
    qid = store.ensure_default(db)
    login(client, "triager")
    return qid, f"/admin/questionnaires/{qid}"


def _rows(html: str) -> list[tuple[str, str]]:
    """The option rows the page shows: (code, Simplified label) in order."""
    found = {}
    for number, part, value in re.findall(
        r'name="options-(\d+)-(key|zh_Hans)"[^>]*?value="([^"]*)"', html
    ):
        found.setdefault(int(number), {})[part] = value
    return [(row.get("key", ""), row.get("zh_Hans", "")) for _, row in sorted(found.items())]


FOOD = {
    "type": "single",
    "key": "food",
    "label_zh_Hans": "饭菜怎么样？",
    "options-0-key": "good",
    "options-0-zh_Hans": "好",
    "options-0-zh_Hant": "好",
    "options-0-en": "Good",
    "options-1-key": "",
    "options-1-zh_Hans": "一般",
    "options-1-en": "So-so",
    "options-2-zh_Hans": "",  # a row left empty is no option
    "options-3-key": "bad",
    "options-3-zh_Hans": "不好",
    "options-3-zh_Hant": "不好",
    "options-3-en": "Bad",
}


def test_options_typed_as_rows_are_saved_with_their_three_languages(client, db, staff):
    qid, edit = _editor(client, db)
    page = client.get(edit).get_data(as_text=True)
    assert 'name="options-0-zh_Hant"' in page and "代码 | 简体" not in page
    post_form(client, f"{edit}/questions/new", **FOOD)
    food = store.latest_version(db, qid).questions[-1]
    assert food["options"] == [
        {"key": "good", "label": {"zh_Hans": "好", "zh_Hant": "好", "en": "Good"}},
        {"key": "o2", "label": {"zh_Hans": "一般", "en": "So-so"}},
        {"key": "bad", "label": {"zh_Hans": "不好", "zh_Hant": "不好", "en": "Bad"}},
    ]
    again = client.get(f"{edit}/questions/food").get_data(as_text=True)
    assert _rows(again) == [("good", "好"), ("o2", "一般"), ("bad", "不好")]


def test_rows_are_added_moved_and_removed_without_the_script_and_nothing_is_saved(
    client, db, staff
):
    qid, edit = _editor(client, db)
    before = store.latest_version(db, qid)
    path = f"{edit}/questions/new"
    added = post_form(client, path, row_action="options-add", **FOOD)
    html = added.get_data(as_text=True)
    assert added.status_code == 200 and "饭菜怎么样？" in html
    assert _rows(html) == [("good", "好"), ("", "一般"), ("", ""), ("bad", "不好"), ("", "")]
    moved = post_form(client, path, row_action="options-up-3", **FOOD)
    assert _rows(moved.get_data(as_text=True)) == [
        ("good", "好"),
        ("", "一般"),
        ("bad", "不好"),
        ("", ""),
    ]
    removed = post_form(client, path, row_action="options-remove-0", **FOOD)
    assert _rows(removed.get_data(as_text=True)) == [("", "一般"), ("", ""), ("bad", "不好")]
    assert store.latest_version(db, qid) == before  # only the save button saves


def test_a_choice_with_one_option_row_is_refused_and_the_rows_stay(client, db, staff):
    qid, edit = _editor(client, db)
    response = post_form(
        client,
        f"{edit}/questions/new",
        type="multiple",
        key="extras",
        label_zh_Hans="还需要什么？",
        **{"options-0-zh_Hans": "热水", "options-1-zh_Hans": ""},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "至少要有两个选项" in html
    assert ("", "热水") in _rows(html)


def test_the_scale_and_the_nps_ends_are_edited_in_three_languages(client, db, staff):
    qid, edit = _editor(client, db)
    new = client.get(edit).get_data(as_text=True)
    assert 'value="很不满意"' in new and 'value="Very satisfied"' in new  # the usual scale
    words = ["差", "较差", "中", "较好", "好"]
    scale = {f"scale-{i}-zh_Hans": word for i, word in enumerate(words)}
    post_form(
        client,
        f"{edit}/questions/new",
        type="rating",
        key="food_rating",
        label_zh_Hans="饭菜打几分？",
        **scale,
        **{"scale-4-en": "Good"},
    )
    rating = store.latest_version(db, qid).questions[-1]
    assert [level["zh_Hans"] for level in rating["scale"]] == words
    assert rating["scale"][4] == {"zh_Hans": "好", "en": "Good"}
    post_form(
        client,
        f"{edit}/questions/new",
        type="nps",
        key="tell_friends",
        label_zh_Hans="会推荐给亲友吗？",
        low_zh_Hans="绝不会",
        low_en="Never",
        high_zh_Hans="一定会",
        high_zh_Hant="一定會",
        high_en="Certainly",
    )
    nps = store.latest_version(db, qid).questions[-1]
    assert nps["low"] == {"zh_Hans": "绝不会", "en": "Never"}
    assert nps["high"] == {"zh_Hans": "一定会", "zh_Hant": "一定會", "en": "Certainly"}
    answered = client.get("/s/satisfaction").get_data(as_text=True)
    assert "会推荐给亲友吗？" not in answered  # a draft: patients see it once published


def test_the_preview_shows_the_question_being_typed_as_a_patient_sees_it(client, db, staff):
    qid, edit = _editor(client, db)
    before = store.latest_version(db, qid)
    typed = {**FOOD, "label_en": "How was the food?"}
    phone = post_form(client, f"{edit}/preview-question?device=phone&lang=en", **typed)
    html = phone.get_data(as_text=True)
    assert phone.status_code == 200 and '<body class="phone"' in html
    assert "How was the food?" in html and "So-so" in html and 'id="q_food"' in html
    assert "Overall" in html or "overall" in html  # the rest of the draft around it
    kiosk = post_form(client, f"{edit}/preview-question?device=kiosk&lang=zh_Hant", **typed)
    html = kiosk.get_data(as_text=True)
    assert '<body class="kiosk"' in html and "饭菜怎么样？" in html  # no Traditional: Simplified
    assert "kiosk.js" not in html  # no idle reset inside the editor
    broken = post_form(
        client, f"{edit}/preview-question", type="single", key="food", label_zh_Hans="饭菜"
    )
    assert "还预览不了" in broken.get_data(as_text=True) and "两个选项" in broken.get_data(
        as_text=True
    )
    assert store.latest_version(db, qid) == before


def test_a_new_questionnaire_starts_with_no_question_the_author_did_not_ask_for(client, db, staff):
    login(client, "triager")
    post_form(client, "/admin/questionnaires/new", slug="outpatient", title="门诊满意度")
    found = store.questionnaire(db, "outpatient")
    draft = store.latest_version(db, found["id"])
    assert draft.questions == []
    page = client.get(f"/admin/questionnaires/{found['id']}").get_data(as_text=True)
    assert "还没有题目" in page
    refused = post_form(
        client,
        f"/admin/questionnaires/{found['id']}/versions/{draft.id}/publish",
        chinese_only="y",
        follow_redirects=True,
    )
    assert "没有题目" in " ".join(flashes(refused.get_data(as_text=True)))
    assert store.live_version(db, "outpatient") is None


def test_a_matrix_is_built_from_rows_and_a_follow_up_can_ask_about_one_item(client, db, staff):
    qid, edit = _editor(client, db)
    post_form(
        client,
        f"{edit}/questions/new",
        type="matrix",
        key="stay",
        label_zh_Hans="住院期间",
        required="y",
        **{"options-0-key": "food", "options-0-zh_Hans": "饭菜"},
        **{"options-1-key": "clean", "options-1-zh_Hans": "清洁"},
    )
    stay = store.latest_version(db, qid).questions[-1]
    assert [item["key"] for item in stay["items"]] == ["food", "clean"]
    assert "options" not in stay and len(stay["scale"]) == 5
    page = client.get(edit).get_data(as_text=True)
    assert 'value="stay.food"' in page  # the follow-up may depend on one item
    post_form(
        client,
        f"{edit}/questions/new",
        type="text",
        key="food_why",
        label_zh_Hans="饭菜哪里不好？",
        show_if_key="stay.food",
        show_if_values="1 2",
    )
    why = store.latest_version(db, qid).questions[-1]
    assert why["show_if"] == {"key": "stay.food", "values": ["1", "2"]}


def test_a_choice_has_at_most_as_many_options_as_the_editor_shows_rows(client, db, staff):
    """One limit for a definition (JSON, XLSForm) and the editor: 40 options open as 40 rows,
    a 41st is refused where the definition comes in, never a broken editor page."""
    from wishes.questionnaires import definition as definitions

    qid, base = _editor(client, db)
    draft = store.latest_version(db, qid).definition
    many = [{"key": f"o{n}", "label": {"zh_Hans": f"选项{n}"}} for n in range(41)]
    question = {"type": "single", "key": "many", "label": {"zh_Hans": "多选项"}}
    too_many = {**draft, "questions": [*draft["questions"], {**question, "options": many}]}
    with pytest.raises(definitions.DefinitionError, match="最多 40 个选项"):
        definitions.parse(too_many)
    forty = {**draft, "questions": [*draft["questions"], {**question, "options": many[:40]}]}
    store.save_draft(db, qid, definitions.parse(forty), "triager")
    page = client.get(f"{base}/questions/many")
    assert page.status_code == 200 and len(_rows(page.get_data(as_text=True))) == 40
