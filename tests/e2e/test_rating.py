"""Did it help? (issue 19, item 2) in a real browser: on a 360 px phone, a fulfilled demo wish's
tracking page asks its question; the patient taps 5 and is thanked; the office's count of
unhappy patients does not move. Screenshots: test-artifacts/e2e/<test>/."""

from __future__ import annotations

from playwright.sync_api import expect

from .conftest import DESK, PHONE, log_in


def test_a_patient_rates_a_fulfilled_wish_five_on_a_phone(browse, server, shot):
    (wish,) = server.rows(
        "SELECT id, tracking_code FROM wishes WHERE state = 'fulfilled' "
        "AND id NOT IN (SELECT wish_id FROM wish_ratings) ORDER BY id LIMIT 1"
    )
    phone = browse(PHONE)
    page = phone.page
    page.goto(f"/t/{wish['tracking_code']}")
    question = page.get_by_role("group", name="心愿的实现符合您的期望吗？")
    expect(question).to_be_visible()
    buttons = question.locator("label.choice")
    expect(buttons).to_have_count(5)
    # The questionnaire's big touch buttons: five in one row, none off the 360 px screen.
    for index in range(5):
        box = buttons.nth(index).bounding_box()
        assert box is not None and box["height"] >= 44 and box["x"] + box["width"] <= 360
    shot(page, "question", full_page=True)

    buttons.nth(4).click()  # 5 完全符合
    page.get_by_label("还想告诉我们什么？（可不填）").fill("蛋糕很好吃，谢谢大家")
    page.get_by_role("button", name="提交评价").click()
    expect(page.get_by_role("heading", name="谢谢您的评价！")).to_be_visible()
    expect(page.get_by_text("您的评价：5 分，完全符合")).to_be_visible()
    expect(page.get_by_role("button", name="提交评价")).to_have_count(0)  # asked once
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shot(page, "thanks", full_page=True)
    phone.assert_clean()

    (stored,) = server.rows(
        "SELECT rating, comment FROM wish_ratings WHERE wish_id = ?", wish["id"]
    )
    assert (stored["rating"], stored["comment"]) == (5, "蛋糕很好吃，谢谢大家")

    # A happy patient sends nothing back: the wish is not on the office's follow-up list.
    desk = browse(DESK)
    log_in(desk.page, "triager")
    desk.page.goto("/board?unhappy=y&branch=all")
    expect(desk.page.locator(".board-table, .empty").first).to_be_visible()
    assert wish["tracking_code"] not in desk.page.content()
    desk.assert_clean()
