"""Staff coordinate (issue 19, item 4): a secretary assigns a claimed wish to a member;
internal notes (never shown to the patient, audited); every staff member's inbox with an unread
count in the navigation; per kind, whether an item also goes out to the branch's webhook."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import flashes, login, page_token, routed_to

from wishes import lifecycle
from wishes.deadlines import Deadlines
from wishes.inbox import store as inbox
from wishes.lifecycle import Actor, ClaimantKind, WishEntry
from wishes.notifications.notifier import LogNotifier
from wishes.notifications.outgoing import NoWebhook, Outbox
from wishes.notifications.worker import deliver_due, queue_overdue

BRANCH = Actor("staff", "儿科党支部")


def wish_for(db, state="open", text="想给住院的孩子过个生日", **entry) -> dict:
    wish = lifecycle.submit(
        db, WishEntry(text=text, channel="phone", **entry), routed_to("pediatrics"), "pediatrics"
    )
    if state != "open":
        lifecycle.claim(db, wish["id"], BRANCH, ClaimantKind.BRANCH, "儿科党支部")
    return wish


def kinds_of(db, user) -> list[str]:
    return [row["kind"] for row in inbox.items(db, user["id"], 50)]


# ---- the inbox ------------------------------------------------------------------------------


def test_a_new_wish_reaches_the_inbox_of_its_branch_with_an_unread_count(client, db, staff):
    wish = wish_for(db)
    assert kinds_of(db, staff["member_a"]) == ["new_wish"]
    assert kinds_of(db, staff["secretary_a"]) == ["new_wish"]
    assert kinds_of(db, staff["member_b"]) == [], "another branch"
    login(client, "member_a")
    nav = client.get("/board").get_data(as_text=True)
    assert 'aria-label="1 条未读"' in nav
    page = client.get("/inbox").get_data(as_text=True)
    assert "支部有新心愿" in page and wish["tracking_code"] in page
    item = inbox.items(db, staff["member_a"]["id"], 1)[0]
    opened = client.get(f"/inbox/{item['id']}")
    assert opened.headers["Location"].endswith(f"/board/wishes/{wish['id']}")
    assert inbox.unread_count(db, staff["member_a"]["id"]) == 0
    assert "条未读" not in client.get("/board").get_data(as_text=True)


def test_someone_elses_item_is_not_found(client, db, staff):
    wish_for(db)
    item = inbox.items(db, staff["member_a"]["id"], 1)[0]
    login(client, "member_b")
    assert client.get(f"/inbox/{item['id']}").status_code == 404


def test_the_empty_inbox_says_what_will_come(client, db, staff):
    login(client, "manager")
    assert "暂无待办" in client.get("/inbox").get_data(as_text=True)


def test_mark_all_read(client, db, staff):
    wish_for(db)
    wish_for(db, text="孩子想要一本绘本")
    login(client, "member_a")
    page = client.get("/inbox")
    client.post("/inbox/read", data={"csrf_token": page_token(page)})
    assert inbox.unread_count(db, staff["member_a"]["id"]) == 0


def test_overdue_and_sent_back_reach_who_answers_for_the_wish(db, staff):
    wish = wish_for(db, state="claimed")
    lifecycle.assign(db, wish["id"], staff["member_a"]["id"], BRANCH)
    later = datetime.now(UTC) + timedelta(days=30)
    assert queue_overdue(db, Deadlines(), later) >= 1
    assert "overdue" in kinds_of(db, staff["member_a"])
    assert "overdue" not in kinds_of(db, staff["secretary_a"])
    lifecycle.fulfil(db, wish["id"], BRANCH, "过了生日")
    lifecycle.rate(db, wish["id"], 1, "", language="zh", channel="phone", submission_id="x")
    assert kinds_of(db, staff["member_a"])[0] == "sent_back"
    assert kinds_of(db, staff["secretary_a"])[0] == "sent_back"


# ---- assign ---------------------------------------------------------------------------------


def test_a_secretary_assigns_a_claimed_wish_to_a_member(client, db, staff):
    wish = wish_for(db, state="claimed")
    login(client, "secretary_a")
    page = client.get(f"/board/wishes/{wish['id']}")
    assert "指派给支部成员" in page.get_data(as_text=True)
    html = client.post(
        f"/board/wishes/{wish['id']}/assign",
        data={"csrf_token": page_token(page), "user": staff["member_a"]["id"]},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert any("已指派给member_a" in f for f in flashes(html))
    assert lifecycle.find_by_id(db, wish["id"])["assigned_user_id"] == staff["member_a"]["id"]
    assert kinds_of(db, staff["member_a"])[0] == "assigned"


def test_assigning_outside_the_branch_or_as_a_member_is_refused(client, db, staff):
    wish = wish_for(db, state="claimed")
    with pytest.raises(lifecycle.NotAMember):
        lifecycle.assign(db, wish["id"], staff["member_b"]["id"], BRANCH)
    login(client, "secretary_a")
    page = client.get(f"/board/wishes/{wish['id']}")
    answer = client.post(
        f"/board/wishes/{wish['id']}/assign",
        data={"csrf_token": page_token(page), "user": staff["member_b"]["id"]},
    )
    assert answer.status_code == 400 and "field-error" in answer.get_data(as_text=True)
    assert lifecycle.find_by_id(db, wish["id"])["assigned_user_id"] is None
    client.post("/logout", data={"csrf_token": page_token(page)})
    login(client, "member_a")
    page = client.get(f"/board/wishes/{wish['id']}")
    answer = client.post(
        f"/board/wishes/{wish['id']}/assign",
        data={"csrf_token": page_token(page), "user": staff["member_a"]["id"]},
    )
    assert answer.status_code == 403


def test_a_hand_back_clears_the_assignment(db, staff):
    wish = wish_for(db, state="claimed")
    lifecycle.assign(db, wish["id"], staff["member_a"]["id"], BRANCH)
    lifecycle.hand_back(db, wish["id"], BRANCH, "人手不够")
    assert lifecycle.find_by_id(db, wish["id"])["assigned_user_id"] is None


# ---- notes ----------------------------------------------------------------------------------


def test_a_note_is_kept_for_staff_audited_and_never_shown_to_the_patient(client, db, staff):
    wish = wish_for(db)
    login(client, "member_a")
    page = client.get(f"/board/wishes/{wish['id']}")
    html = client.post(
        f"/board/wishes/{wish['id']}/notes",
        data={"csrf_token": page_token(page), "text": "家属说孩子喜欢恐龙"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "家属说孩子喜欢恐龙" in html
    audit = db.execute("SELECT action, detail FROM audit_events ORDER BY id DESC").fetchone()
    assert audit[0] == "wish_note_added" and "恐龙" not in audit[1]
    tracking = client.get(f"/t/{wish['tracking_code']}").get_data(as_text=True)
    assert "恐龙" not in tracking


def test_an_empty_or_long_note_is_refused_and_what_was_typed_stays(client, db, staff):
    wish = wish_for(db)
    login(client, "member_a")
    page = client.get(f"/board/wishes/{wish['id']}")
    answer = client.post(
        f"/board/wishes/{wish['id']}/notes",
        data={"csrf_token": page_token(page), "text": "长" * 1001},
    )
    assert answer.status_code == 400 and "长" * 1001 in answer.get_data(as_text=True)
    assert db.execute("SELECT count(*) FROM wish_notes").fetchone()[0] == 0


def test_only_the_branch_and_the_office_write_notes(client, db, staff):
    wish = wish_for(db)
    login(client, "member_b")
    page = client.get(f"/board/wishes/{wish['id']}")
    answer = client.post(
        f"/board/wishes/{wish['id']}/notes", data={"csrf_token": page_token(page), "text": "x"}
    )
    assert answer.status_code == 403


# ---- the branch's webhook -------------------------------------------------------------------


def test_chosen_kinds_go_out_to_the_branchs_webhook(client, db, staff, webhook):
    db.execute("UPDATE branches SET webhook_url = ? WHERE code = 'pediatrics'", [webhook.url])
    login(client, "member_a")
    page = client.get("/inbox")
    client.post("/inbox/webhook", data={"csrf_token": page_token(page), "kinds": ["assigned"]})
    assert inbox.webhook_kinds(db, staff["member_a"]["id"]) == {"assigned"}
    wish = wish_for(db, state="claimed")  # a new wish: not chosen, stays in the app
    lifecycle.assign(db, wish["id"], staff["member_a"]["id"], BRANCH)
    outbox = Outbox(LogNotifier(), LogNotifier(), NoWebhook())
    assert deliver_due(db, outbox, datetime.now(UTC) + timedelta(seconds=1)) == (2, 0)
    assert len(webhook.received) == 1, "only the chosen kind reached the branch's webhook"
    content = webhook.received[0]["json"]["text"]["content"]
    assert (
        "member_a" in content and "有心愿指派给您" in content and wish["tracking_code"] in content
    )


def test_without_a_branch_webhook_the_page_says_so(client, db, staff):
    login(client, "member_a")
    assert "还没有设置 Webhook 地址" in client.get("/inbox").get_data(as_text=True)


def test_the_api_leaves_a_note_and_reads_it_back(client, db, staff, runner):
    wish = wish_for(db)
    made = runner.invoke(
        args=["api-token", "create", "member_a", "--scope", "read", "--scope", "write"]
    )
    token = made.output.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    answer = client.post(
        f"/api/v1/staff/wishes/{wish['id']}/notes", json={"text": "已联系家属"}, headers=headers
    )
    assert answer.status_code == 201 and answer.json["text"] == "已联系家属"
    detail = client.get(f"/api/v1/staff/wishes/{wish['id']}", headers=headers).json
    assert [n["text"] for n in detail["notes"]] == ["已联系家属"] and detail["patients"] == 1
    refused = client.post(
        f"/api/v1/staff/wishes/{wish['id']}/notes", json={"text": ""}, headers=headers
    )
    assert refused.status_code == 422
    assert json.loads(refused.data)["error"]["code"] == "invalid_field"


def test_the_office_sets_a_branchs_webhook_and_the_log_never_shows_its_key(client, db, staff):
    login(client, "triager")
    url = "/admin/organisation/units/branch/pediatrics"
    fields = {"general_branch": "women-children", "scope": ""}
    refused = client.post(
        f"{url}/place",
        data={**fields, "csrf_token": page_token(client.get(url)), "webhook_url": "ftp://x"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "http:// 或 https://" in refused
    robot = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=robot-secret-key"
    client.post(
        f"{url}/place",
        data={**fields, "csrf_token": page_token(client.get(url)), "webhook_url": robot},
    )
    assert (
        db.execute("SELECT webhook_url FROM branches WHERE code = 'pediatrics'").fetchone()[0]
        == robot
    )
    logged = " ".join(row[0] or "" for row in db.execute("SELECT detail FROM audit_events"))
    assert "webhook_url" in logged and "robot-secret-key" not in logged
