"""A matrix question in the browser (issue 20, item 1): items as rows and the five levels as
columns of 72 px targets on the kiosk; on a 360 px phone each item a block with its five
buttons in one row inside the card, in every language. Screenshots:
test-artifacts/e2e/<test>/."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import DESK, KIOSK, PHONE, import_and_publish, log_in
from .test_fit import BOXES, KIOSK_TARGET, LANGUAGES, WRAPPED

ITEMS = [
    ("doctor", "医生讲解病情", "醫生講解病情", "How the doctors explained your illness"),
    ("nurse", "护士的照顾", "護士的照顧", "Care from the nurses"),
    ("food", "饭菜", "飯菜", "Food"),
    ("quiet", "夜间病房安静", "夜間病房安靜", "A quiet ward at night"),
]
WARD = {
    "slug": "ward-e2e",
    "title": {"zh_Hans": "住院体验", "zh_Hant": "住院體驗", "en": "Your stay"},
    "questions": [
        {
            "key": "care",
            "type": "matrix",
            "required": True,
            "label": {"zh_Hans": "住院期间", "zh_Hant": "住院期間", "en": "During your stay"},
            "items": [
                {"key": key, "label": {"zh_Hans": hans, "zh_Hant": hant, "en": en}}
                for key, hans, hant, en in ITEMS
            ],
        },
        {
            "key": "visit_day",
            "type": "date",
            "label": {"zh_Hans": "哪天出院？", "zh_Hant": "哪天出院？", "en": "Day you left?"},
        },
    ],
}


@pytest.fixture(scope="module")
def ward(browser, server):
    """The office imports and publishes the questionnaire once for this file's tests."""
    context = browser.new_context(base_url=server.base_url, **DESK)
    office = context.new_page()
    log_in(office, "triager")
    import_and_publish(office, WARD)
    context.close()
    return "/s/ward-e2e"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_matrix_item_is_one_row_of_five_buttons_inside_a_360_px_card(browse, shot, ward, lang):
    phone = browse(PHONE)
    page = phone.page
    page.goto(f"{ward}?lang={lang}")
    shot(page, f"matrix-{lang}", full_page=True)
    (card,) = page.evaluate(BOXES, ".survey.card")
    items = page.locator(".matrix-item")
    assert items.count() == len(ITEMS)
    for key, *_words in ITEMS:
        buttons = page.evaluate(BOXES, f"#q_care-{key} label.choice > span")
        assert len(buttons) == 5
        assert len({round(b["top"]) for b in buttons}) == 1, f"{key}: not one row"
        for button in buttons:
            assert card["left"] <= button["left"] and button["right"] <= card["right"], key
    assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth")
    page.locator("#q_care-food label.choice", has_text="2").click()
    expect(page.locator("#q_care-food-2")).to_be_checked()
    phone.assert_clean()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_kiosk_shows_the_matrix_as_a_grid_of_72_px_targets(browse, shot, ward, lang):
    kiosk = browse(KIOSK)
    page = kiosk.page
    page.goto(f"/kiosk{ward}?lang={lang}")
    shot(page, f"matrix-kiosk-{lang}")
    levels = page.evaluate(BOXES, ".matrix-levels li")
    small = []
    for key, *_words in ITEMS:
        (label,) = page.evaluate(BOXES, f"#q_care-{key}-label")
        buttons = page.evaluate(BOXES, f"#q_care-{key} label.choice > span")
        assert len({round(b["top"]) for b in buttons}) == 1, f"{key}: not one row"
        assert label["right"] <= buttons[0]["left"], f"{key}: the item is not left of its row"
        for level, button in zip(levels, buttons, strict=True):  # each under its level's words
            assert (
                abs(level["left"] - button["left"]) < 1
                and abs(level["right"] - button["right"]) < 1
            )
        small += [
            (key, b["text"], round(b["width"]), round(b["height"]))
            for b in buttons
            if b["width"] < KIOSK_TARGET or b["height"] < KIOSK_TARGET
        ]
    assert not small, f"answers smaller than {KIOSK_TARGET} px: {small}"
    assert not page.evaluate(WRAPPED, "label.choice > span")
    assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth")
    kiosk.assert_clean()
