"""Pages with nothing in them yet say what comes next and link to it (issue 17, item 6)."""

from __future__ import annotations

import re

import pytest
from conftest import login


def _page(client, username, path):
    login(client, username)
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def _empty_card(html):
    return re.search(r'<div class="card empty">(.*?)</div>', html, re.S).group(1)


def test_the_board_of_a_hospital_without_wishes_says_where_wishes_come_from(client, staff):
    card = _empty_card(_page(client, "triager", "/board"))
    assert "还没有患者写下心愿" in card
    assert 'href="/cards"' in card and 'href="/kiosk"' in card


def test_a_members_empty_branch_board_offers_the_whole_hospital(client, staff, submit_wish):
    submit_wish(text="想给住院的孩子过个生日，送一个小礼物")
    login(client, "member_b")
    card = _empty_card(client.get("/board").get_data(as_text=True))
    assert "总务后勤党支部暂时没有心愿" in card
    assert 'href="/board?branch=all"' in card


def test_a_board_emptied_by_filters_offers_to_clear_them(client, staff, submit_wish):
    submit_wish(text="想给住院的孩子过个生日，送一个小礼物")
    card = _empty_card(_page(client, "triager", "/board?branch=all&state=declined"))
    assert "没有符合这些筛选条件的心愿" in card
    assert 'href="/board?branch=all"' in card


@pytest.mark.parametrize(
    ("username", "says", "links"),
    [
        ("admin", "还没有发布的满意度问卷", ["/admin/questionnaires", "/cards"]),
        ("manager", "问卷由党建办在“问卷”页面新建和发布", ["/cards"]),
    ],
)
def test_a_dashboard_without_questionnaires_or_wishes_says_what_comes_next(
    client, staff, username, says, links
):
    html = _page(client, username, "/dashboard")
    assert says in html and "这段时间没有患者写下心愿" in html
    for link in links:
        assert f'href="{link}"' in html
    assert "这段时间没有数据" not in html  # no pile of empty tables


def test_an_assessment_without_rounds_links_to_the_first_one_for_the_office(client, staff):
    assert 'href="/assessment/rounds/new"' in _empty_card(_page(client, "triager", "/assessment"))
    client.post("/logout", data={})
    member = _empty_card(_page(client.application.test_client(), "member_a", "/assessment"))
    assert "党建办开启考评轮次后" in member and "/rounds/new" not in member
