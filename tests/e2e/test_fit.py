"""Pages that must fit their screen or their paper, measured in the browser (issue 21).

The printed monthly report on A4, the questionnaire on a 360 px phone in every language, and
the kiosk's 1920x1080 screen with its 72 px touch targets. Screenshots:
test-artifacts/e2e/<test>/.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from .conftest import DESK, KIOSK, PHONE, log_in

LANGUAGES = ("zh_Hans", "zh_Hant", "en")
# A4 is 210 mm wide; the report's @page leaves 12 mm each side: 186 mm at 96 px to the inch.
A4_CONTENT_PX = round(186 / 25.4 * 96)
KIOSK_TARGET = 72  # px: the kiosk's promise for every touch target (static/css/app.css)

BOXES = """(selector) => [...document.querySelectorAll(selector)].map((el) => {
  const box = el.getBoundingClientRect();
  return {left: box.left, right: box.right, top: box.top, bottom: box.bottom,
          width: box.width, height: box.height, text: el.innerText.trim()};
})"""

# Every text node of an element that breaks over more than one line.
WRAPPED = """(selector) => {
  const wrapped = [];
  for (const el of document.querySelectorAll(selector)) {
    if (!el.getClientRects().length) continue;  // not shown
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.textContent.trim()) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      const tops = new Set([...range.getClientRects()].filter((r) => r.width > 0)
                                                      .map((r) => Math.round(r.top)));
      if (tops.size > 1) wrapped.push(node.textContent.trim());
    }
  }
  return wrapped;
}"""


def boxes(page: Page, selector: str) -> list[dict]:
    return page.evaluate(BOXES, selector)


# ---- item 3: the monthly report on A4 --------------------------------------------------------


def test_every_column_of_the_printed_reports_tables_fits_an_a4_page(browse, shot):
    desk = browse(DESK)
    page = desk.page
    log_in(page, "manager")
    page.set_viewport_size({"width": A4_CONTENT_PX, "height": 1100})
    page.emulate_media(media="print")
    page.goto("/dashboard/report")
    shot(page, "report-printed", full_page=True)
    assert page.locator("#branches-table th").count() > 5  # the demo has every column
    tables = page.evaluate(
        """() => [...document.querySelectorAll('.report table')].map((table) => ({
             id: table.id,
             clipped: table.parentElement.scrollWidth > table.parentElement.clientWidth + 1,
             cells: [...table.querySelectorAll('thead th')].map((th) => ({
               text: th.innerText.trim(), right: th.getBoundingClientRect().right})),
           }))"""
    )
    assert tables
    for table in tables:
        outside = [c["text"] for c in table["cells"] if c["right"] > A4_CONTENT_PX + 0.5]
        assert not outside, f"{table['id']}: columns beyond the page: {outside}"
        assert not table["clipped"], f"{table['id']}: cut off by its scrolling box"
    desk.assert_clean()


# ---- item 4: the questionnaire on a 360 px phone ---------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_questionnaires_buttons_fit_a_360_px_phone_in_every_language(browse, shot, lang):
    phone = browse(PHONE)
    page = phone.page
    page.goto(f"/s/satisfaction?lang={lang}")
    shot(page, f"questionnaire-{lang}", full_page=True)
    (card,) = boxes(page, ".survey.card")
    questions = page.locator("fieldset.question-rating, fieldset.question-nps")
    assert questions.count() >= 2
    for i in range(questions.count()):
        question_id = questions.nth(i).get_attribute("id")
        buttons = boxes(page, f"fieldset#{question_id} label.choice > span")
        for button in buttons:
            assert card["left"] <= button["left"] and button["right"] <= card["right"], (
                f"{question_id}: {button['text']!r} outside its card"
            )
        rows: dict[int, set[int]] = {}
        for button in buttons:
            rows.setdefault(round(button["top"]), set()).add(round(button["height"]))
        if "question-nps" in (questions.nth(i).get_attribute("class") or ""):  # 0 to 10
            assert len(rows) == 1, f"{question_id}: {len(rows)} rows"
        for heights in rows.values():
            assert len(heights) == 1, f"{question_id}: buttons of heights {sorted(heights)}"
    phone.assert_clean()


# ---- item 5: the kiosk's 1920x1080 screen -----------------------------------------------------

KIOSK_PAGES = ("/kiosk", "/kiosk/wish", "/kiosk/s/satisfaction", "/kiosk/t")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_kiosk_button_wraps_its_label_and_every_answer_is_a_72_px_target(browse, shot, lang):
    kiosk = browse(KIOSK)
    page = kiosk.page
    for path in KIOSK_PAGES:
        page.goto(f"{path}?lang={lang}")
        shot(page, path.strip("/").replace("/", "-") + f"-{lang}")
        wrapped = page.evaluate(WRAPPED, "button, .button, .lang-switch a, label.choice > span")
        assert not wrapped, f"{path}: labels broken over two lines: {wrapped}"
    page.goto(f"/kiosk/s/satisfaction?lang={lang}")
    small = [
        (b["text"], round(b["width"]), round(b["height"]))
        for b in boxes(page, ".question-rating .choice > span, .question-nps .choice > span")
        if b["width"] < KIOSK_TARGET or b["height"] < KIOSK_TARGET
    ]
    assert not small, f"answers smaller than {KIOSK_TARGET} px: {small}"
    kiosk.assert_clean()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_kiosk_wish_forms_submit_button_shows_without_scrolling(browse, shot, lang):
    kiosk = browse(KIOSK)
    page = kiosk.page
    page.goto(f"/kiosk/wish?lang={lang}")
    shot(page, f"wish-form-{lang}")
    (submit,) = boxes(page, ".wish-form button[type=submit]")
    assert submit["bottom"] <= KIOSK["viewport"]["height"], submit
    assert page.evaluate("scrollY") == 0
    kiosk.assert_clean()
