"""Similar wishes merged, and staff coordinating (issue 19, items 3 and 4), in a real browser:
two patients ask for the same on their phones → the board shows "相似" and the branch's
secretary merges them → the branch's member sees the new wish in the inbox (unread count in the
navigation) → the secretary claims and assigns it to the member, who finds it in the inbox →
the member leaves an internal note and fulfils the wish → the second patient's tracking page
shows the shared progress, "2 位患者提出了同样的心愿", and never the note.
Screenshots: test-artifacts/e2e/<test>/."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from .conftest import DESK, PHONE, log_in
from .test_journeys import FOR_PEDIATRICS, open_wish_on_board, tracking_code, type_by_touch

SAME_NEED = "孩子住院要过生日了，想送他一个小礼物"
NOTE = "家属说孩子喜欢恐龙，下午三点后在病房"


def write_on_phone(page: Page, text: str) -> str:
    page.goto("/w/new")
    type_by_touch(page, "#text", text)
    page.get_by_role("button", name="提交心愿").tap()
    expect(page).to_have_url(re.compile(r"/t/[0-9A-Z]{7}$"))
    return tracking_code(page)


def unread(page: Page) -> int:
    badge = page.locator(".staff-nav a", has_text="我的待办").locator(".count-badge")
    return int(badge.inner_text()) if badge.count() else 0


def test_same_wishes_are_merged_and_the_branch_coordinates(browse, server, shot):
    desk = browse(DESK)
    member = desk.page
    log_in(member, "member")
    before = unread(member)

    first_phone, second_phone = browse(PHONE), browse(PHONE)
    main_code = write_on_phone(first_phone.page, FOR_PEDIATRICS)
    second_code = write_on_phone(second_phone.page, SAME_NEED)

    # the member's inbox: two new wishes for the branch, counted in the navigation
    member.goto("/board")
    assert unread(member) == before + 2
    member.goto("/inbox")
    expect(member.locator(".inbox-list li.is-unread").first).to_contain_text("支部有新心愿")

    secretary = browse(DESK).page
    log_in(secretary, "secretary")
    secretary.goto("/board?branch=pediatrics")
    row = secretary.locator("tr", has_text=main_code)
    expect(row.locator(".tag-similar")).to_contain_text("相似")
    open_wish_on_board(secretary, main_code, FOR_PEDIATRICS)
    similar = secretary.locator(".similar-list li", has_text=second_code)
    expect(similar).to_contain_text("相似度")
    shot(secretary, "similar")
    similar.get_by_role("button", name="合并到本心愿").click()
    expect(secretary.locator(".wish-header")).to_contain_text("2 位患者提出了同样的心愿")

    # claimed by the branch, assigned to the member, who finds it in the inbox
    secretary.locator("#action-claim").get_by_label("以本支部名义").check()
    secretary.locator("#action-claim").get_by_role("button", name="认领").click()
    assign = secretary.locator("#action-assign")
    assign.get_by_label("指派给").select_option(label="儿科护士小林")
    assign.get_by_role("button", name="指派").click()
    expect(secretary.locator(".flash")).to_contain_text("已指派给儿科护士小林")

    member.goto("/inbox")
    item = member.locator(".inbox-list li", has_text="指派给我").first
    expect(item).to_contain_text(main_code)
    item.get_by_role("link").click()
    expect(member.locator(".wish-header")).to_contain_text(main_code)
    member.get_by_label("内部备注（仅工作人员可见，患者看不到）").fill(NOTE)
    member.get_by_role("button", name="保存备注").click()
    expect(member.locator(".notes-list")).to_contain_text(NOTE)
    fulfil = member.locator("#action-fulfil")
    fulfil.get_by_label("做了什么（患者会看到）").fill("准备了恐龙玩具和蛋糕，一起过了生日")
    fulfil.get_by_role("button", name="登记办结").click()
    expect(member.locator(".wish-header .state-badge")).to_have_text("已实现")
    shot(member, "fulfilled", full_page=True)
    desk.assert_clean()

    # the merged wish's patient sees the shared progress, never the note
    page = second_phone.page
    page.goto(f"/t/{second_code}")
    expect(page.locator(".state-badge")).to_have_text("已实现")
    expect(page.locator("main")).to_contain_text("2 位患者提出了同样的心愿")
    expect(page.locator("main")).to_contain_text("准备了恐龙玩具和蛋糕")
    assert "喜欢恐龙" not in page.content()
    shot(page, "tracking", full_page=True)
    page.goto(f"/t/{second_code}?lang=en")
    expect(page.locator("main")).to_contain_text("2 patients asked for the same")
    second_phone.assert_clean()
    first_phone.assert_clean()
