"""Similar wishes (issue 19, item 3): open wishes with the same need are linked when a wish
arrives; the board shows "相似 N"; the office or the branch's secretary merges them, and the
merged wishes follow the main one's state, each patient seeing the shared progress."""

from __future__ import annotations

import importlib
import sqlite3

import pytest
from conftest import flashes, login, page_token, routed_to

from wishes import lifecycle
from wishes.intake import link_similar
from wishes.lifecycle import Actor, ClaimantKind, WishEntry

OFFICE = Actor("staff", "党建工作部")
BRANCH = Actor("staff", "后勤党支部")


def arrive(db, text: str, branch: str = "logistics", **entry) -> dict:
    """A wish as it arrives: stored, routed to `branch` (its category), linked to its like."""
    fields = {"text": text, "channel": "phone", **entry}
    wish = lifecycle.submit(db, WishEntry(**fields), routed_to(branch), branch)
    link_similar(db, wish)
    return wish


def links(db) -> set[tuple[int, int]]:
    return {(row[0], row[1]) for row in db.execute("SELECT wish_id, other_id FROM similar_wishes")}


def state(db, wish) -> str:
    return lifecycle.find_by_id(db, wish["id"])["state"]


# ---- found when a wish arrives ------------------------------------------------------------


def test_a_wish_with_the_same_need_is_linked_and_others_are_not(db):
    first = arrive(db, "病房的空调坏了，一直不制冷")
    other_need = arrive(db, "病房的电视打不开了")
    again = arrive(db, "我们房间空调坏了不制冷，能修一下吗")
    assert links(db) == {(first["id"], again["id"])}
    assert other_need["id"] not in {i for pair in links(db) for i in pair}


def test_only_the_same_category_department_and_recent_open_wishes_are_compared(db):
    text = "病房的空调坏了，一直不制冷"
    arrive(db, text, department_code="clinic-pediatrics")
    closed = arrive(db, text)
    lifecycle.decline(db, closed["id"], OFFICE, "已修好")
    old = lifecycle.submit(
        db,
        WishEntry(text=text, channel="phone"),
        routed_to("logistics"),
        "logistics",
        at="2020-01-01 08:00:00",
    )
    arrive(db, text, branch="catering")  # another category
    new = arrive(db, text)
    assert links(db) == set(), "another department, a closed wish, a wish 30+ days old"
    assert old["id"] and new["id"]


def test_the_board_shows_similar_n_and_the_wish_page_lists_them(client, db, staff):
    first = arrive(db, "病房的空调坏了，一直不制冷")
    arrive(db, "我们房间空调坏了不制冷，能修一下吗")
    arrive(db, "空调坏了，病房里太热了，麻烦修修空调")
    login(client, "secretary_b")
    board = client.get("/board?branch=logistics").get_data(as_text=True)
    assert "相似 2" in board
    page = client.get(f"/board/wishes/{first['id']}").get_data(as_text=True)
    assert "相似心愿" in page and page.count("合并到本心愿") == 2


# ---- merge --------------------------------------------------------------------------------


def merge_on_page(client, main, duplicate):
    page = client.get(f"/board/wishes/{main['id']}")
    return client.post(
        f"/board/wishes/{main['id']}/merge",
        data={"csrf_token": page_token(page), "duplicate": duplicate["id"]},
        follow_redirects=True,
    )


def test_a_secretary_merges_and_the_duplicate_follows_every_move(client, db, staff):
    main = arrive(db, "病房的空调坏了，一直不制冷", phone="13812345678", contact_consent=True)
    duplicate = arrive(db, "我们房间空调坏了不制冷", phone="13900001111", contact_consent=True)
    login(client, "secretary_b")
    html = merge_on_page(client, main, duplicate).get_data(as_text=True)
    assert any("合并到本心愿" in f for f in flashes(html))
    assert "2 位患者提出了同样的心愿" in html

    lifecycle.claim(db, main["id"], BRANCH, ClaimantKind.BRANCH, "后勤党支部")
    assert state(db, duplicate) == "claimed"
    assert lifecycle.find_by_id(db, duplicate["id"])["claimant_name"] == "后勤党支部"
    lifecycle.fulfil(db, main["id"], BRANCH, "已经修好空调")
    merged = lifecycle.find_by_id(db, duplicate["id"])
    assert merged["state"] == "fulfilled" and merged["fulfilment_note"] == "已经修好空调"
    # each patient hears of it by text: claimed and fulfilled, for both wishes
    texts = db.execute(
        "SELECT wish_id, message FROM notifications WHERE kind = 'patient_text' ORDER BY id"
    ).fetchall()
    assert sorted(texts) == sorted(
        [(w["id"], s) for w in (main, duplicate) for s in ("claimed", "fulfilled")]
    )
    # the duplicate's patient sees the shared progress, in their language
    tracking = client.get(f"/t/{duplicate['tracking_code']}?lang=en").get_data(as_text=True)
    assert "2 patients asked for the same" in tracking
    assert "已经修好空调" in tracking
    # and answers for themself
    assert "rating" in tracking


def test_a_merged_wish_refuses_moves_of_its_own(client, db, staff):
    main = arrive(db, "病房的空调坏了，一直不制冷")
    duplicate = arrive(db, "我们房间空调坏了不制冷")
    lifecycle.merge(db, duplicate["id"], main["id"], OFFICE)
    with pytest.raises(lifecycle.Merged):
        lifecycle.claim(db, duplicate["id"], BRANCH, ClaimantKind.BRANCH, "后勤党支部")
    login(client, "member_b")
    page = client.get(f"/board/wishes/{duplicate['id']}").get_data(as_text=True)
    assert "已合并到" in page and main["tracking_code"] in page


def test_merges_that_make_no_sense_are_refused(db):
    main = arrive(db, "病房的空调坏了，一直不制冷")
    duplicate = arrive(db, "我们房间空调坏了不制冷")
    third = arrive(db, "空调坏了，病房里太热了")
    with pytest.raises(lifecycle.NotMergeable):
        lifecycle.merge(db, main["id"], main["id"], OFFICE)
    lifecycle.merge(db, duplicate["id"], main["id"], OFFICE)
    with pytest.raises(lifecycle.NotMergeable):
        lifecycle.merge(db, third["id"], duplicate["id"], OFFICE)  # into a merged wish
    lifecycle.decline(db, third["id"], OFFICE, "重复")
    with pytest.raises(lifecycle.NotMergeable):
        lifecycle.merge(db, third["id"], main["id"], OFFICE)  # a closed one


def test_merging_a_main_wish_brings_its_merged_wishes_along(db):
    a, b, c = (arrive(db, f"病房的空调坏了{n}") for n in "一二三")
    lifecycle.merge(db, c["id"], b["id"], OFFICE)
    lifecycle.merge(db, b["id"], a["id"], OFFICE)
    assert lifecycle.find_by_id(db, c["id"])["merged_into_id"] == a["id"]
    assert lifecycle.group_size(db, a) == 3


def test_unmerge_lets_the_wish_go_its_own_way(client, db, staff):
    main = arrive(db, "病房的空调坏了，一直不制冷")
    duplicate = arrive(db, "我们房间空调坏了不制冷")
    lifecycle.merge(db, duplicate["id"], main["id"], OFFICE)
    lifecycle.claim(db, main["id"], BRANCH, ClaimantKind.BRANCH, "后勤党支部")
    login(client, "triager")
    page = client.get(f"/board/wishes/{duplicate['id']}")
    html = client.post(
        f"/board/wishes/{duplicate['id']}/unmerge",
        data={"csrf_token": page_token(page)},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert any("取消合并" in f for f in flashes(html))
    alone = lifecycle.find_by_id(db, duplicate["id"])
    assert (alone["state"], alone["merged_into_id"], alone["claimant_name"]) == ("open", None, None)
    assert lifecycle.group_size(db, main) == 1


def test_only_the_office_or_the_branchs_secretary_may_merge(app, db, staff):
    main = arrive(db, "病房的空调坏了，一直不制冷")
    duplicate = arrive(db, "我们房间空调坏了不制冷")
    for who, allowed in [("member_b", False), ("secretary_a", False), ("triager", True)]:
        client = app.test_client()
        login(client, who)
        page = client.get(f"/board/wishes/{main['id']}")
        answer = client.post(
            f"/board/wishes/{main['id']}/merge",
            data={"csrf_token": page_token(page), "duplicate": duplicate["id"]},
        )
        assert (answer.status_code != 403) is allowed, who
    assert lifecycle.find_by_id(db, duplicate["id"])["merged_into_id"] == main["id"]


def test_a_wish_is_kept_when_linking_its_like_fails(client, db, submit_wish, monkeypatch):
    """Similar wishes are a hint: a write lock held too long while linking loses the hint,
    never the patient's wish (which was stored first) nor their page."""
    receive = importlib.import_module("wishes.intake.receive")  # the module, not its function

    def busy(db, wish):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(receive, "link_similar", busy)
    response = submit_wish(text="病房的空调坏了，一直不制冷")
    assert response.status_code == 302 and "/t/" in response.headers["Location"]
    assert db.execute("SELECT count(*) FROM wishes").fetchone()[0] == 1


def test_a_follow_up_follows_too_but_not_over_a_patients_own_low_answer(db):
    main, glad, unhappy = (arrive(db, f"病房的空调坏了{n}") for n in "一二三")
    for duplicate in (glad, unhappy):
        lifecycle.merge(db, duplicate["id"], main["id"], OFFICE)
    lifecycle.claim(db, main["id"], BRANCH, ClaimantKind.BRANCH, "后勤党支部")
    lifecycle.fulfil(db, main["id"], BRANCH, "修好了")
    lifecycle.rate(
        db, unhappy["id"], 1, "还是热", language="zh", channel="phone", submission_id="u"
    )
    lifecycle.follow_up(db, main["id"], OFFICE, confirmed=True)
    assert state(db, glad) == "followed_up"
    waiting = lifecycle.find_by_id(db, unhappy["id"])
    assert waiting["state"] == "fulfilled" and waiting["follow_up_due_at"]
    lifecycle.follow_up(db, unhappy["id"], OFFICE, confirmed=False, note="已再次联系")
    assert state(db, unhappy) == "followed_up"
