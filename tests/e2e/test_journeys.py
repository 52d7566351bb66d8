"""The journeys people make, in a real browser against the real server.

A patient at the lobby kiosk uses touch alone (tap, and the screen keyboard's text); staff at a
desk; a patient's phone is 360x740. Each journey ends by checking that the browser saw no
console error and no failed request on the way. Screenshots: test-artifacts/e2e/<test>/.
"""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

from .conftest import (
    BRANCH_NAMES,
    DESK,
    IDLE_SECONDS,
    KIOSK,
    PHONE,
    WARNING_SECONDS,
    log_in,
    tiny_png,
)

# Texts the bundled router is sure about (above 97%), and one it is not (below 50%).
FOR_PEDIATRICS = "想给住院的孩子过个生日，送一个小礼物"
UNSURE = "有点事想麻烦一下"
CODE = re.compile(r"[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{7}")


def type_by_touch(page: Page, selector: str, text: str) -> None:
    """Tap a field, then enter text as a kiosk's on-screen keyboard does."""
    page.locator(selector).tap()
    page.keyboard.insert_text(text)


def tracking_code(page: Page) -> str:
    code = re.sub(r"\s+", "", page.locator(".tracking-code-value").first.inner_text())
    assert CODE.fullmatch(code), code
    return code


def open_wish_on_board(page: Page, code: str, text: str) -> None:
    """Type a wish's tracking code into the board's search: it opens that wish, wherever it
    is and whatever the filters."""
    page.goto("/board")
    page.locator("#q").fill(code)
    page.locator("#q").press("Enter")
    expect(page.locator(".wish-header")).to_contain_text(code)
    expect(page.locator("h1.wish-text")).to_have_text(text)


def submit_on_phone(phone_page: Page, text: str) -> str:
    """A wish written on a phone; returns its tracking code (the page it lands on shows it)."""
    phone_page.goto("/w/new")
    type_by_touch(phone_page, "#text", text)
    phone_page.get_by_role("button", name="提交心愿").tap()
    expect(phone_page).to_have_url(re.compile(r"/t/[0-9A-Z]{7}$"))
    return tracking_code(phone_page)


# ---- the kiosk: write, route, claim, fulfil, track ---------------------------------------


def test_a_wish_written_by_touch_at_the_kiosk_reaches_its_branch_and_shows_fulfilled(browse, shot):
    kiosk = browse(KIOSK)
    page = kiosk.page
    page.goto("/kiosk")
    shot(page, "kiosk-welcome")
    page.get_by_role("link", name=re.compile("写一个微心愿")).tap()
    expect(page).to_have_url(re.compile(r"/kiosk/wish$"))
    type_by_touch(page, "#text", FOR_PEDIATRICS)
    type_by_touch(page, "#reason", "孩子住院快一个月了")
    shot(page, "wish-typed")
    page.get_by_role("button", name="提交心愿").tap()
    expect(page).to_have_url(re.compile(r"/kiosk/thanks$"))
    code = tracking_code(page)
    expect(page.get_by_role("img", name="查询进度的二维码")).to_be_visible()
    shot(page, "tracking-code")
    page.get_by_role("link", name="完成").tap()
    expect(page).to_have_url(re.compile(r"/kiosk$"))
    kiosk.assert_clean()

    # The router sent it to the pediatrics branch; a member of that branch claims and fulfils it.
    desk = browse(DESK)
    staff = desk.page
    log_in(staff, "member")
    staff.goto("/board")  # a member's board shows the own branch's wishes first
    expect(staff.get_by_role("link", name=FOR_PEDIATRICS).first).to_be_visible()
    open_wish_on_board(staff, code, FOR_PEDIATRICS)
    header = staff.locator(".wish-header")
    expect(header).to_contain_text(BRANCH_NAMES["pediatrics"])
    expect(header.locator(".state-badge")).to_have_text("待认领")
    shot(staff, "routed-to-pediatrics")
    staff.locator("#action-claim").get_by_label("以本支部名义").check()
    staff.locator("#action-claim").get_by_role("button", name="认领").click()
    expect(header.locator(".state-badge")).to_have_text("已认领")
    fulfil = staff.locator("#action-fulfil")
    fulfil.get_by_label("做了什么（患者会看到）").fill(
        "护士们准备了蛋糕和一本绘本，下午在病房一起过了生日"
    )
    fulfil.locator("input[type=file]").set_input_files(
        {"name": "birthday.png", "mimeType": "image/png", "buffer": tiny_png()}
    )
    fulfil.get_by_role("button", name="登记办结").click()
    expect(header.locator(".state-badge")).to_have_text("已实现")
    photo = staff.locator("img.fulfilment-photo")
    expect(photo).to_be_visible()
    assert photo.evaluate("img => img.complete && img.naturalWidth") == 4
    shot(staff, "fulfilled-by-the-branch")
    desk.assert_clean()

    # Back at the kiosk, the patient looks the code up by touch.
    page.goto("/kiosk")
    page.get_by_role("link", name=re.compile("查询心愿进度")).tap()
    type_by_touch(page, "#code", code)
    page.get_by_role("button", name="查询").tap()
    expect(page).to_have_url(re.compile(rf"/kiosk/t/{code}$"))
    expect(page.locator(".status-card .state-badge")).to_have_text("已实现")
    expect(page.locator(".note-good")).to_contain_text("下午在病房一起过了生日")
    shot(page, "patient-sees-fulfilled")
    kiosk.assert_clean()


def test_an_idle_kiosk_warns_then_starts_over_and_forgets_what_was_typed(browse, shot):
    kiosk = browse(KIOSK)
    page = kiosk.page
    page.goto("/kiosk")
    page.get_by_role("link", name=re.compile("写一个微心愿")).tap()
    typed = "想借一个轮椅，床号 12 床"
    type_by_touch(page, "#text", typed)
    warning = page.get_by_role("alertdialog")
    quiet_until_warning = (IDLE_SECONDS - WARNING_SECONDS + 2) * 1000
    expect(warning).to_be_visible(timeout=quiet_until_warning)
    count = page.locator("#idle-count")
    first = int(count.inner_text())
    assert 1 <= first <= WARNING_SECONDS
    shot(page, "countdown")
    # One touch keeps the patient's text.
    page.get_by_role("button", name="我还要继续").tap()
    expect(warning).to_be_hidden()
    expect(page.locator("#text")).to_have_value(typed)
    # Nobody touches it again: the count goes down, then the kiosk starts over.
    expect(warning).to_be_visible(timeout=quiet_until_warning)
    page.wait_for_function(
        f"() => Number(document.getElementById('idle-count').textContent) < {WARNING_SECONDS}"
    )
    shot(page, "counting-down")
    expect(page).to_have_url(
        re.compile(r"/kiosk(\?lang=default)?$"), timeout=(WARNING_SECONDS + 3) * 1000
    )
    shot(page, "back-to-welcome")
    page.go_back()  # the next patient presses back: nothing of it comes back
    assert typed not in page.content()
    page.goto("/kiosk")
    page.get_by_role("link", name=re.compile("写一个微心愿")).tap()
    expect(page.locator("#text")).to_have_value("")
    shot(page, "empty-form")
    kiosk.assert_clean()


# ---- triage: the router is unsure --------------------------------------------------------


def test_a_wish_the_router_is_unsure_of_waits_for_triage_and_the_office_routes_it(browse, shot):
    phone = browse(PHONE)
    code = submit_on_phone(phone.page, UNSURE)
    expect(phone.page.locator(".state-badge")).to_have_text("已收到，正在安排")
    shot(phone.page, "patient-waiting")

    desk = browse(DESK)
    staff = desk.page
    log_in(staff, "triager")
    staff.get_by_role("navigation", name="工作台").get_by_role("link", name="待分诊").click()
    expect(staff.get_by_role("link", name=UNSURE).first).to_be_visible()
    open_wish_on_board(staff, code, UNSURE)
    header = staff.locator(".wish-header")
    expect(header.locator(".state-badge")).to_have_text("待分诊")
    confidences = staff.locator(".suggestions meter").evaluate_all("ms => ms.map(m => m.value)")
    assert len(confidences) == 3 and max(confidences) < 0.6, confidences
    shot(staff, "waiting-for-triage")
    triage = staff.locator("#action-triage")
    triage.get_by_label(BRANCH_NAMES["logistics"]).check()
    triage.get_by_role("button", name="分诊").click()
    expect(header.locator(".state-badge")).to_have_text("待认领")
    expect(header).to_contain_text(BRANCH_NAMES["logistics"])
    shot(staff, "triaged-to-logistics")
    desk.assert_clean()

    phone.page.reload()
    expect(phone.page.locator(".status-card .lead")).to_have_text(
        f"已转交{BRANCH_NAMES['logistics']}，等待认领。"
    )
    shot(phone.page, "patient-sees-branch")
    phone.assert_clean()


# ---- the questionnaire on a phone, read on the dashboard ----------------------------------


def responses_on_dashboard(page: Page) -> int:
    page.goto("/dashboard")
    stat = page.locator(".stat").filter(has_text="问卷数").locator(".stat-value")
    return int(stat.inner_text().replace(",", ""))


def test_a_questionnaire_answered_on_a_phone_appears_on_the_managers_dashboard(browse, shot):
    desk = browse(DESK)
    manager = desk.page
    log_in(manager, "manager")
    before = responses_on_dashboard(manager)
    comment = f"走廊的指示牌很清楚，护士很耐心（{uuid.uuid4().hex[:6]}）"
    assert comment not in manager.content()

    phone = browse(PHONE)
    page = phone.page
    page.goto("/s/satisfaction")
    shot(page, "questionnaire", full_page=True)
    for question in ("overall", "waiting", "attitude"):
        page.locator(f"fieldset#q_{question} label.choice").filter(has_text="5").tap()
    page.locator("fieldset#q_recommend label.choice").filter(has_text=re.compile(r"^9$")).tap()
    type_by_touch(page, "#q_comment", comment)
    page.get_by_role("button", name="提交评价").tap()
    expect(page).to_have_url(re.compile(r"/s/satisfaction/thanks$"))
    shot(page, "thanks")
    phone.assert_clean()

    assert responses_on_dashboard(manager) == before + 1
    expect(manager.locator(".comment-list")).to_contain_text(comment)
    manager.locator(".comment-list").scroll_into_view_if_needed()
    shot(manager, "dashboard-with-the-comment")
    desk.assert_clean()


# ---- staff with the keyboard alone --------------------------------------------------------

FOCUS_STATE = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  // Focus on a date field's calendar button (inside the field): Chromium draws its own ring.
  const native = el.type === "date" && !el.matches(":focus");
  // The ring is drawn around the element, over its parent's background: WCAG's 3:1 for
  // non-text contrast, taking the better of the outline and the box shadow.
  const rgb = (s) => {
    const m = s && s.match(/rgba?[(]([^)]+)[)]/);
    if (!m) return null;
    const p = m[1].split(",").map(Number);
    return p.length > 3 && p[3] === 0 ? null : p.slice(0, 3);
  };
  const lum = (c) => {
    const linear = (v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    const [r, g, b] = c.map(linear);
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (a, b) => {
    const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  let node = el.parentElement, back = null;
  while (node && !(back = rgb(getComputedStyle(node).backgroundColor))) node = node.parentElement;
  const colours = [style.outlineStyle !== "none" ? rgb(style.outlineColor) : null,
                   style.boxShadow !== "none" ? rgb(style.boxShadow) : null].filter(Boolean);
  return {
    contrast: native ? 21 : Math.max(0, ...colours.map((c) => ratio(c, back || [255, 255, 255]))),
    tag: el.tagName, id: el.id, type: el.type || "", text: (el.innerText || el.value || "").trim(),
    label: el.labels && el.labels[0] ? el.labels[0].innerText.trim() : "",
    ring: native || el.matches(":focus-visible") &&
          ((style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2) ||
           style.boxShadow !== "none"),
    onScreen: box.width > 0 && box.height > 0 && box.bottom > 0 && box.top < innerHeight,
  };
}"""


def tab_to(page: Page, wanted, limit: int = 80) -> dict:
    """Press Tab until the focused element matches `wanted`; every stop must show its focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focus = page.evaluate(FOCUS_STATE)
        if focus is None:
            continue
        assert focus["ring"] and focus["onScreen"], f"focus is not visible on {focus}"
        assert focus["contrast"] >= 3, f"the focus ring is too faint (< 3:1) on {focus}"
        if wanted(focus):
            return focus
    raise AssertionError(f"Tab never reached the element ({limit} presses)")


def test_a_member_logs_in_and_claims_a_wish_with_the_keyboard_alone(browse, shot):
    phone = browse(PHONE)
    code = submit_on_phone(phone.page, FOR_PEDIATRICS + "，再要几个气球")

    desk = browse(DESK)
    page = desk.page
    page.goto("/login")
    tab_to(page, lambda f: f["id"] == "username")
    page.keyboard.type("member")
    tab_to(page, lambda f: f["id"] == "password")
    page.keyboard.type("light-a-wish-2026")
    shot(page, "login-by-keyboard")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/board$"))

    tab_to(page, lambda f: f["id"] == "q")
    page.keyboard.type("气球")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/board\?.*q="))
    tab_to(page, lambda f: f["tag"] == "A" and f["text"].startswith(FOR_PEDIATRICS))
    shot(page, "wish-link-focused")
    page.keyboard.press("Enter")
    expect(page.locator(".wish-header")).to_contain_text(code)

    tab_to(page, lambda f: f["type"] == "radio" and f["label"] == "以本支部名义")
    page.keyboard.press("Space")
    assert page.get_by_label("以本支部名义").is_checked()
    tab_to(page, lambda f: f["tag"] == "BUTTON" and f["text"] == "认领")
    shot(page, "claim-button-focused")
    page.keyboard.press("Enter")
    expect(page.locator(".wish-header .state-badge")).to_have_text("已认领")
    shot(page, "claimed-by-keyboard")
    desk.assert_clean()
    phone.assert_clean()


# ---- issue 21: the language switch keeps what was typed; Back never resubmits -------------


def test_switching_language_at_the_kiosk_keeps_every_answer_and_word_without_javascript(
    browse, shot
):
    """On a form page the switch is the form's own buttons: what was typed comes along into
    the other language, a questionnaire comment carried over to the wish form included."""
    kiosk = browse(KIOSK, java_script_enabled=False)
    page = kiosk.page
    comment = f"护士很好，希望病房有微波炉（{uuid.uuid4().hex[:6]}）"
    page.goto("/kiosk/s/satisfaction")
    page.locator("fieldset#q_overall label.choice").filter(has_text="5").tap()
    page.locator("fieldset#q_recommend label.choice").filter(has_text=re.compile(r"^9$")).tap()
    type_by_touch(page, "#q_comment", comment)
    page.locator(".lang-switch [lang=en]").tap()
    expect(page).to_have_url(re.compile(r"/kiosk/s/satisfaction\?lang=en$"))
    expect(page.locator("h1")).to_have_text("Patient satisfaction survey")
    expect(page.locator("fieldset#q_overall input[value='5']")).to_be_checked()
    expect(page.locator("fieldset#q_recommend input[value='9']")).to_be_checked()
    expect(page.locator("#q_comment")).to_have_value(comment)
    expect(page.locator("#form-alert")).to_have_count(0)
    shot(page, "questionnaire-in-english")
    page.locator("#survey-form button[type=submit]").tap()
    expect(page).to_have_url(re.compile(r"/kiosk/s/satisfaction/thanks$"))

    page.locator(".comment-wish a.button-primary").tap()  # the comment, sent on as a wish
    expect(page.locator("#text")).to_have_value(comment)
    type_by_touch(page, "#reason", "饭菜总是凉的")
    type_by_touch(page, "#location", "12 床")
    ward = page.locator("#department option").nth(2).get_attribute("value")
    page.locator("#department").select_option(ward)
    page.locator(".lang-switch [lang=zh-Hant]").tap()
    expect(page.locator("h1")).to_have_text("寫下您的微心願")
    expect(page.locator("#text")).to_have_value(comment)
    expect(page.locator("#reason")).to_have_value("饭菜总是凉的")
    expect(page.locator("#location")).to_have_value("12 床")
    expect(page.locator("#department")).to_have_value(ward)
    expect(page.locator("#form-alert")).to_have_count(0)
    shot(page, "wish-form-in-traditional")
    page.locator("#wish-form button[type=submit]").tap()
    expect(page).to_have_url(re.compile(r"/kiosk/thanks$"))
    tracking_code(page)
    kiosk.assert_clean()


def back_is_a_page(page: Page, heading: str) -> None:
    """Back from the page after a form: a page again, never "Confirm Form Resubmission"."""
    response = page.go_back()
    assert response is not None and response.request.method == "GET" and response.ok
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()


def test_back_after_correcting_a_questionnaire_is_a_page_not_a_resubmission(browse, shot):
    phone = browse(PHONE)
    page = phone.page
    page.goto("/s/satisfaction")
    page.locator("fieldset#q_overall label.choice").filter(has_text="4").tap()
    page.get_by_role("button", name="提交评价").tap()  # the recommendation is missing
    expect(page.locator("#form-alert")).to_contain_text("请选择一项")
    expect(page).to_have_url(re.compile(r"/s/satisfaction$"))
    expect(page.locator("fieldset#q_overall input[value='4']")).to_be_checked()
    shot(page, "mistake-shown")
    page.locator("fieldset#q_recommend label.choice").filter(has_text=re.compile(r"^8$")).tap()
    page.get_by_role("button", name="提交评价").tap()
    expect(page).to_have_url(re.compile(r"/s/satisfaction/thanks$"))
    back_is_a_page(page, "患者满意度调查")
    shot(page, "back")
    phone.assert_clean()


def test_back_after_correcting_a_wish_is_a_page_not_a_resubmission(browse, shot):
    phone = browse(PHONE)
    page = phone.page
    page.goto("/w/new")
    type_by_touch(page, "#text", "想借一个老花镜看报纸")
    type_by_touch(page, "#phone", "12345")
    page.get_by_role("button", name="提交心愿").tap()
    expect(page.locator("#form-alert")).to_contain_text("请填写 11 位手机号")
    expect(page.locator("#text")).to_have_value("想借一个老花镜看报纸")
    shot(page, "mistake-shown")
    page.locator("#phone").fill("")
    page.get_by_role("button", name="提交心愿").tap()
    expect(page).to_have_url(re.compile(r"/t/[0-9A-Z]{7}$"))
    back_is_a_page(page, "写下您的微心愿")
    shot(page, "back")
    phone.assert_clean()
