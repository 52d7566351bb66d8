"""The audit trail: one log for admins with every wish change, append-only, and no secrets."""

import logging
import sqlite3

import pytest
from conftest import PASSWORD, login, page_token, post_form
from test_board import claimed_by

from wishes import audit

PHONE = "13812345678"
NEW_PASSWORD = "晚霞 over the river 7"


def test_the_admin_log_shows_wish_changes_beside_logins_and_filters_them(client, db, staff):
    wish = claimed_by(db, staff)
    login(client, "admin")
    html = client.get("/admin/audit").get_data(as_text=True)
    assert "<td>心愿：认领</td>" in html and "<td>心愿：患者提交</td>" in html
    assert "<td>登录成功</td>" in html
    claims = client.get("/admin/audit?action=wish_claim").get_data(as_text=True)
    assert "<td>心愿：认领</td>" in claims and "<td>登录成功</td>" not in claims
    assert f"/board/wishes/{wish['id']}" in claims
    only_wish = client.get(f"/admin/audit?subject={wish['id']}").get_data(as_text=True)
    assert "<td>心愿：患者提交</td>" in only_wish and "<td>登录成功</td>" not in only_wish


def test_the_log_names_what_it_is_about_links_to_it_and_filters_by_day(client, db, staff):
    """Issue 21, item 9: names and links instead of raw ids, states and branches in words,
    a tracking code finds its wish's lines, and a date range narrows the log."""
    wish = claimed_by(db, staff)
    login(client, "admin")
    post_form(
        client,
        f"/admin/users/{staff['member_b']['id']}",
        display_name="李护士",
        role="member",
        branch="logistics",
        active="y",
    )
    html = client.get("/admin/audit").get_data(as_text=True)
    assert f">心愿 {wish['tracking_code']}</a>" in html
    assert f'href="/admin/users/{staff["member_b"]["id"]}">用户 李护士</a>' in html
    assert "到：已认领" in html  # a state in words, not "to: claimed"
    by_code = client.get(f"/admin/audit?subject={wish['tracking_code']}").get_data(as_text=True)
    assert "<td>心愿：认领</td>" in by_code and "<td>登录成功</td>" not in by_code
    today = client.get("/admin/audit?first=2000-01-01&last=2099-12-31").get_data(as_text=True)
    assert "<td>心愿：认领</td>" in today
    long_ago = client.get("/admin/audit?first=2001-01-01&last=2001-01-31").get_data(as_text=True)
    assert "没有符合条件的记录" in long_ago
    bad = client.get("/admin/audit?first=yesterday")
    assert bad.status_code == 200 and "日期格式不对" in bad.get_data(as_text=True)


def test_role_changes_are_recorded_with_before_and_after(client, db, staff):
    login(client, "admin")
    user = staff["member_b"]
    post_form(
        client,
        f"/admin/users/{user['id']}",
        display_name="member_b",
        role="secretary",
        branch="logistics",
        active="y",
    )
    event = next(db.query("SELECT * FROM audit_events WHERE action = 'user_updated'"))
    assert event["subject_id"] == str(user["id"]) and "secretary" in event["detail"]


@pytest.mark.parametrize("table", ["audit_events", "wish_events"])
def test_the_history_cannot_be_rewritten(db, staff, table):
    claimed_by(db, staff)
    audit.record(db, "login", audit.Who(label="member_a"))
    for statement in (f"UPDATE {table} SET actor_label = 'someone else'", f"DELETE FROM {table}"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(statement)


def test_no_password_token_or_full_phone_number_is_kept_in_any_log(client, db, staff, caplog):
    caplog.set_level(logging.DEBUG)
    wish = claimed_by(db, staff)  # a wish with PHONE
    login(client, "member_a", password="wrong password here")
    page = client.get(f"/board/wishes/{wish['id']}", follow_redirects=True)
    login(client, "member_a")
    page = client.get(f"/board/wishes/{wish['id']}")
    client.post(f"/board/wishes/{wish['id']}/reveal-phone", data={"csrf_token": page_token(page)})
    post_form(client, "/account/password", current=PASSWORD, new=NEW_PASSWORD, confirm=NEW_PASSWORD)
    cookie = client.get_cookie("session").value
    secrets = (PASSWORD, NEW_PASSWORD, "wrong password here", PHONE, cookie)
    logs = [
        " ".join(map(str, row.values()))
        for table in ("audit_events", "wish_events", "login_attempts", "notifications")
        for row in db[table].rows
    ]
    logs += [record.getMessage() for record in caplog.records]
    assert any("phone_revealed" in line for line in logs)  # the scenario did run
    for secret in secrets:
        assert not [line for line in logs if secret in line], secret
