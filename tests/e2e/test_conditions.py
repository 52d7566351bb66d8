"""A follow-up question that shows as the patient answers (issue 20, item 2): imported and
published by the office, answered on a phone. Screenshots: test-artifacts/e2e/<test>/."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .conftest import DESK, PHONE, import_and_publish, log_in

WORDS = {"zh_Hans": "饭菜怎么样？", "zh_Hant": "飯菜怎麼樣？", "en": "How was the food?"}
FOOD = {
    "slug": "food-e2e",
    "title": {"zh_Hans": "饭菜调查", "zh_Hant": "飯菜調查", "en": "Food"},
    "questions": [
        {"key": "food", "type": "rating", "required": True, "label": WORDS},
        {
            "key": "why",
            "type": "text",
            "required": True,
            "label": {"zh_Hans": "哪里不好？", "zh_Hant": "哪裡不好？", "en": "What was wrong?"},
            "show_if": {"key": "food", "values": ["1", "2"]},
        },
    ],
}


def test_a_follow_up_question_shows_for_a_low_rating_and_its_answer_is_kept(browse, server, shot):
    office = browse(DESK).page
    log_in(office, "triager")
    import_and_publish(office, FOOD)

    phone = browse(PHONE).page
    phone.goto("/s/food-e2e")
    follow_up = phone.locator('[data-question="why"]')
    expect(follow_up).to_be_hidden()
    phone.locator("label.choice", has_text="很不满意").click()
    expect(follow_up).to_be_visible()
    shot(phone, "follow-up-shown")
    phone.locator("label.choice", has_text="很满意").click()
    expect(follow_up).to_be_hidden()
    phone.locator("label.choice", has_text="不满意").first.click()
    expect(follow_up).to_be_visible()
    follow_up.locator("textarea").fill("米饭是凉的")
    phone.get_by_role("button", name="提交评价").click()
    expect(phone).to_have_url(re.compile(r"/thanks"))
    kept = server.rows(
        "SELECT a.text FROM answers a JOIN responses r ON r.id = a.response_id "
        "JOIN questionnaires q ON q.id = r.questionnaire_id "
        "WHERE q.slug = 'food-e2e' AND a.question_key = 'why'"
    )
    assert [row["text"] for row in kept] == ["米饭是凉的"]
