"""A patient hears back and says whether it helped (issue 19, "Done when"): a wish written on a
phone with a number and consent → claimed (a text reaches the hospital's SMS gateway, here the
tests' own HTTP server) → fulfilled (a second text) → the patient rates it on the tracking page →
the branch's figure on the dashboard moves. Screenshots: test-artifacts/e2e/<test>/."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from .conftest import BRANCH_NAMES, DESK, PHONE, log_in
from .test_journeys import FOR_PEDIATRICS, open_wish_on_board, tracking_code, type_by_touch

PHONE_NUMBER = "13912345678"


def answers_for_pediatrics(manager: Page) -> int:
    manager.goto("/dashboard")
    row = manager.locator("#patient_ratings-table tr", has_text=BRANCH_NAMES["pediatrics"])
    return int(row.locator('td[data-label="评价数"]').inner_text().replace(",", ""))


def test_a_patient_hears_of_each_step_by_text_and_rates_the_result(browse, server, gateway, shot):
    manager = browse(DESK).page
    log_in(manager, "manager")
    before = answers_for_pediatrics(manager)

    phone = browse(PHONE)
    page = phone.page
    page.goto("/w/new")
    type_by_touch(page, "#text", FOR_PEDIATRICS)
    page.locator("#phone").fill(PHONE_NUMBER)
    page.locator("#contact_consent").check()
    page.get_by_role("button", name="提交心愿").tap()
    expect(page).to_have_url(re.compile(r"/t/[0-9A-Z]{7}$"))
    code = tracking_code(page)

    desk = browse(DESK)
    staff = desk.page
    log_in(staff, "member")
    open_wish_on_board(staff, code, FOR_PEDIATRICS)
    staff.locator("#action-claim").get_by_label("以本支部名义").check()
    staff.locator("#action-claim").get_by_role("button", name="认领").click()
    header = staff.locator(".wish-header")
    expect(header.locator(".state-badge")).to_have_text("已认领")
    (claimed,) = gateway.texts_to(PHONE_NUMBER, 1)
    assert code in claimed and "认领" in claimed and FOR_PEDIATRICS not in claimed

    fulfil = staff.locator("#action-fulfil")
    fulfil.get_by_label("做了什么（患者会看到）").fill("护士们准备了蛋糕，在病房一起过了生日")
    fulfil.get_by_role("button", name="登记办结").click()
    expect(header.locator(".state-badge")).to_have_text("已实现")
    claimed, fulfilled = gateway.texts_to(PHONE_NUMBER, 2)
    assert code in fulfilled and "已经实现" in fulfilled and "蛋糕" not in fulfilled
    desk.assert_clean()

    page.goto(f"/t/{code}")
    question = page.get_by_role("group", name="心愿的实现符合您的期望吗？")
    question.locator("label.choice").nth(3).click()  # 4
    page.get_by_role("button", name="提交评价").click()
    expect(page.get_by_role("heading", name="谢谢您的评价！")).to_be_visible()
    shot(page, "rated", full_page=True)
    phone.assert_clean()

    assert answers_for_pediatrics(manager) == before + 1
    shot(manager, "dashboard")
