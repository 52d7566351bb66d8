"""The office builds a questionnaire in the editor, with a matrix and a follow-up that shows for
a low rating of one of its items (issue 20: items 1-5 end to end): options as rows, the live
preview, publishing refused for missing English and then accepted as "Chinese only", two
patients answering on phones, and both responses in the list and the downloads.
Screenshots: test-artifacts/e2e/<test>/."""

from __future__ import annotations

import io
import re

import openpyxl
import pyreadstat
from playwright.sync_api import expect

from .conftest import DESK, PHONE, log_in


def _row(editor, number: int, key: str, words: str) -> None:
    editor.locator(f"input[name='options-{number}-key']").fill(key)
    editor.locator(f"input[name='options-{number}-zh_Hans']").fill(words)


def _answer(phone, *, food: str, why: str | None) -> None:
    phone.goto("/s/stay-e2e")
    follow_up = phone.locator('[data-question="food_why"]')
    expect(follow_up).to_be_hidden()
    matrix = phone.locator("#q_stay")
    for item, level in (("food", food), ("clean", "4")):
        matrix.locator(f"input[name='q_stay.{item}'][value='{level}']").check(force=True)
    if why is None:
        expect(follow_up).to_be_hidden()
    else:
        expect(follow_up).to_be_visible()
        follow_up.locator("textarea").fill(why)
    phone.get_by_role("button", name="提交评价").click()
    expect(phone).to_have_url(re.compile(r"/thanks"))


def test_the_office_builds_a_matrix_with_a_follow_up_and_patients_answer_it(
    browse, server, shot, tmp_path
):
    office = browse(DESK).page
    log_in(office, "triager")
    office.goto("/admin/questionnaires")
    office.locator("input[name=slug]").fill("stay-e2e")
    office.locator("input[name=title]").fill("病房体验")
    office.get_by_role("button", name="新建").click()
    expect(office.locator(".empty")).to_contain_text("还没有题目")

    # A matrix: its items are rows, the second added with the row button (no reload).
    editor = office.locator("#question-editor")
    editor.locator("select[name=type]").select_option("matrix")
    expect(editor.locator("#scale")).to_be_visible()
    expect(editor.locator("[data-for-types=number]")).to_be_hidden()
    editor.locator("input[name=key]").fill("stay")
    editor.locator("input[name=label_zh_Hans]").fill("住院期间的体验")
    editor.locator("input[name=required]").check()
    _row(editor, 0, "food", "饭菜")
    _row(editor, 1, "noise", "安静")
    editor.get_by_role("button", name="添加一行").click()
    _row(editor, 2, "clean", "清洁")
    editor.locator("button[value='options-remove-1']").click()  # 安静 goes, 清洁 moves up
    expect(editor.locator("input[name='options-1-zh_Hans']")).to_have_value("清洁")
    phone_preview = office.frame_locator("iframe[data-device=phone]")
    expect(phone_preview.locator("#q_stay")).to_contain_text("清洁")
    expect(phone_preview.locator("#q_stay")).not_to_contain_text("安静")
    shot(office, "matrix-with-preview")
    editor.get_by_role("button", name="保存到草稿").last.click()
    expect(office.locator(".flash").first).to_contain_text("已保存为草稿")

    # A follow-up for food rated 1 or 2.
    editor = office.locator("#question-editor")
    editor.locator("select[name=type]").select_option("text")
    editor.locator("input[name=key]").fill("food_why")
    editor.locator("input[name=label_zh_Hans]").fill("饭菜哪里不好？")
    editor.locator("select[name=show_if_key]").select_option("stay.food")
    editor.locator("input[name=show_if_values]").fill("1 2")
    editor.get_by_role("button", name="保存到草稿").last.click()
    expect(office.locator(".flash").first).to_contain_text("已保存为草稿")

    # Publishing: refused while English is missing, then published as Chinese only.
    publish = office.locator("form[action$='/publish']").first
    publish.get_by_role("button", name="发布").click()
    expect(office.locator(".flash-error")).to_contain_text("缺繁体、英文")
    publish = office.locator("form[action$='/publish']").first
    publish.locator("input[name=chinese_only]").check()
    publish.get_by_role("button", name="发布").click()
    expect(office.locator(".flash").first).to_contain_text("已发布")

    # Two patients on phones: one rates the food 2 and says why, one rates it 5.
    phone = browse(PHONE).page
    _answer(phone, food="2", why="米饭是凉的")
    shot(phone, "answered")
    _answer(browse(PHONE).page, food="5", why=None)

    # Both responses are in the list and in the downloads.
    office.goto("/admin/questionnaires")
    office.locator("tr", has_text="病房体验").get_by_role("link", name="逐份回答").click()
    expect(office.locator("tbody tr")).to_have_count(2)
    expect(office.locator("tbody")).to_contain_text("米饭是凉的")
    shot(office, "responses")
    with office.expect_download() as xlsx:
        office.get_by_role("link", name="下载 Excel").click()
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.value.path().read_bytes())).active
    text = " ".join(str(c) for row in sheet.iter_rows(values_only=True) for c in row if c)
    assert "米饭是凉的" in text and "饭菜" in text and "清洁" in text
    with office.expect_download() as sav:
        office.get_by_role("link", name="下载 SPSS（.sav）").click()
    target = tmp_path / "answers.sav"
    target.write_bytes(sav.value.path().read_bytes())
    frame, _ = pyreadstat.read_sav(str(target), output_format="polars")
    assert frame.height == 2
    food = next(c for c in frame.columns if "food" in c and "why" not in c)
    assert sorted(frame[food].to_list()) == [2, 5]
    why = next(c for c in frame.columns if "why" in c)
    assert sorted(v or "" for v in frame[why].to_list()) == ["", "米饭是凉的"]
