import threading
from datetime import UTC, datetime, timedelta

import pytest
from conftest import PASSWORD, csrf_token, flashes, login, page_token, post_form

from wishes import audit
from wishes.accounts import store
from wishes.accounts.commands import ensure_first_admin
from wishes.accounts.views import safe_next
from wishes.storage import connect, database_path


def audit_actions(db):
    return [row["action"] for row in db.query("SELECT action FROM audit_events ORDER BY id")]


@pytest.mark.parametrize(
    "password, problem",
    [
        ("short1!", "至少需要 8 个字符"),
        ("password1", "太常见"),  # zxcvbn's list of common passwords
        ("Qwerty123456", "太常见"),  # a keyboard walk and a sequence: zxcvbn's estimate
        ("Woaini1314!", "太常见"),  # a common Chinese password, dressed up
        ("woaini1314", "太常见"),  # our list of passwords common in Chinese leaks
        ("88888888", "太常见"),
        ("abababababab", "太常见"),  # two characters repeated
        ("xx-member_a-2026", "不能包含用户名"),
        ("x" * 129, "不能超过 128"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password, problem):
    assert problem in store.password_problem(password, "member_a")


def test_a_good_password_is_accepted_and_stored_as_a_slow_hash(db, monkeypatch):
    monkeypatch.setattr(store, "PASSWORD_METHOD", "scrypt")  # the production cost
    assert store.password_problem("晚霞 over the river 7") is None
    user = store.create_user(db, "zhang.wei", "晚霞 over the river 7", "manager")
    assert user["password_hash"].startswith("scrypt:32768:8:1$")
    assert "晚霞" not in user["password_hash"]


def test_login_opens_a_new_session_and_logout_really_ends_it(client, db, staff):
    with client.session_transaction() as session:
        session["left_over"] = "from before login"
    response = login(client, "member_a")
    assert response.status_code == 302 and response.location == "/board"
    with client.session_transaction() as session:
        assert "left_over" not in session
        stolen = dict(session)
    assert client.get("/board").status_code == 200

    client.post("/logout", data={"csrf_token": csrf_token(client, "/board")})
    assert client.get("/board").status_code == 302
    # Replaying the old cookie after logout does not bring the session back.
    with client.session_transaction() as session:
        session.update(stolen)
    assert client.get("/board").status_code == 302
    assert audit_actions(db)[-2:] == ["login", "logout"]


def test_a_wrong_password_says_so_without_telling_which_part_was_wrong(client, db, staff):
    for username in ("member_a", "nobody"):
        response = login(client, username, "wrong password 1")
        assert response.status_code == 400
        assert "用户名或密码不正确" in response.get_data(as_text=True)
    assert audit_actions(db).count("login_failed") == 2


def test_login_is_throttled_per_account_and_address_but_not_for_long(client, db, staff, app):
    for _ in range(5):
        assert login(client, "member_a", "wrong password 1").status_code == 400
    # Even the right password waits now, with a clear message.
    response = login(client, "member_a")
    assert response.status_code == 429
    assert "分钟后再试" in response.get_data(as_text=True)
    # The same user at another desk is not locked out by someone else's guesses.
    other_desk = app.test_client()
    assert (
        login(other_desk, "member_a", environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 302
    )
    # The wait grows with more failures but never beyond 15 minutes.
    for _ in range(40):
        store.record_login_attempt(db, "secretary_a", "10.6.6.6", succeeded=False)
    now = datetime.now(UTC)  # after the attempts: the wait runs from the last one
    assert 0 < store.login_wait(db, "secretary_a", "10.6.6.6", now) <= 15 * 60
    assert store.login_wait(db, "secretary_a", "10.6.6.6", now + timedelta(minutes=16)) == 0
    assert "login_throttled" in audit_actions(db)


def test_an_idle_or_too_old_session_ends(db, staff):
    token = store.start_session(db, staff["member_a"]["id"])
    limits = {"idle": timedelta(minutes=60), "absolute": timedelta(hours=12)}
    now = datetime.now(UTC)
    assert store.session_user(db, token, now=now + timedelta(minutes=30), **limits)
    assert store.session_user(db, token, now=now + timedelta(minutes=95), **limits) is None
    # Ended for good: coming back within the idle time does not revive it.
    assert store.session_user(db, token, now=now + timedelta(minutes=96), **limits) is None
    token = store.start_session(db, staff["member_a"]["id"])
    for minutes in range(50, 13 * 60, 50):  # busy all day, but a session lasts one shift
        user = store.session_user(db, token, now=now + timedelta(minutes=minutes), **limits)
    assert user is None


def test_changing_the_password_ends_other_sessions(client, app, db, staff):
    elsewhere = app.test_client()
    login(elsewhere, "member_a")
    login(client, "member_a")
    new = "a new long passphrase"
    response = post_form(
        client, "/account/password", current=PASSWORD, new=new, confirm=new, follow_redirects=True
    )
    assert "密码已修改" in "".join(flashes(response.get_data(as_text=True)))
    assert client.get("/board").status_code == 200
    assert elsewhere.get("/board").status_code == 302
    assert login(app.test_client(), "member_a", "a new long passphrase").status_code == 302


def test_change_password_refuses_a_common_one_and_keeps_the_form(client, staff):
    login(client, "member_a")
    response = post_form(
        client, "/account/password", current=PASSWORD, new="password123", confirm="password123"
    )
    assert response.status_code == 400
    assert "太常见" in response.get_data(as_text=True)


def test_admin_creates_a_user_who_must_change_the_temporary_password(client, app, db, staff):
    login(client, "admin")
    response = post_form(
        client,
        "/admin/users/new",
        username="Li.Na",
        display_name="李娜",
        role="member",
        branch="nursing",
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    password = html.split('<code class="secret">')[1].split("</code>")[0]
    assert store.find_user(db, "li.na")["branch_code"] == "nursing"

    newcomer = app.test_client()
    login(newcomer, "li.na", password)
    response = newcomer.get("/board")
    assert response.status_code == 302 and "/account/password" in response.location
    assert "user_created" in audit_actions(db)


def test_a_member_without_a_branch_is_refused(client, db, staff):
    login(client, "admin")
    response = post_form(client, "/admin/users/new", username="wang", role="member", branch="")
    assert response.status_code == 400
    assert "必须属于一个党支部" in response.get_data(as_text=True)
    assert store.find_user(db, "wang") is None


def test_deactivating_a_user_ends_their_session_and_is_audited(client, app, db, staff):
    member = app.test_client()
    login(member, "member_a")
    login(client, "admin")
    user_id = staff["member_a"]["id"]
    client.post(
        f"/admin/users/{user_id}",
        data={
            "display_name": "member_a",
            "role": "secretary",
            "branch": "pediatrics",
            "csrf_token": csrf_token(client, f"/admin/users/{user_id}"),
        },  # active unticked
    )
    assert member.get("/board").status_code == 302
    assert login(app.test_client(), "member_a").status_code == 400
    change = list(db.query("SELECT detail FROM audit_events WHERE action = 'user_updated'"))
    assert '"role": ["member", "secretary"]' in change[0]["detail"]


def test_the_last_admin_cannot_be_removed(db, staff):
    with pytest.raises(store.AccountError, match="至少要保留一位"):
        store.update_user(
            db, staff["admin"]["id"], role="admin", branch_code=None, display_name="", active=False
        )


def test_admin_resets_a_password_shown_once(client, app, db, staff):
    login(client, "admin")
    user_id = staff["member_b"]["id"]
    response = client.post(
        f"/admin/users/{user_id}/reset-password",
        data={"csrf_token": csrf_token(client, "/admin/users")},
    )
    password = response.get_data(as_text=True).split('<code class="secret">')[1].split("<")[0]
    assert login(app.test_client(), "member_b", password).status_code == 302
    assert login(app.test_client(), "member_b", PASSWORD).status_code == 400


def test_only_admins_reach_the_user_pages(client, staff):
    login(client, "manager")
    assert client.get("/admin/users").status_code == 403
    assert client.get("/admin/audit").status_code == 403


def test_create_user_command_with_and_without_a_password(runner, db):
    result = runner.invoke(
        args=[
            "create-user",
            "Chen",
            "--role",
            "secretary",
            "--branch",
            "nursing",
            "--password-stdin",
        ],
        input="a long enough passphrase\n",
    )
    assert result.exit_code == 0, result.output
    assert "password" not in result.output
    assert store.check_password(db, "chen", "a long enough passphrase")["role"] == "secretary"

    result = runner.invoke(args=["create-user", "zhou", "--role", "triager"])
    generated = result.output.split("login): ")[1].strip()
    assert store.check_password(db, "zhou", generated)["must_change_password"] == 1

    result = runner.invoke(args=["create-user", "x", "--role", "member", "--branch", "nowhere"])
    assert result.exit_code != 0 and "用户名" in result.output  # "x" is too short: said so


def test_serve_creates_a_first_admin_once(app, db):
    with app.app_context():
        printed = ensure_first_admin(db)
        assert printed.startswith("admin / ")
        assert ensure_first_admin(db) is None


def test_first_admin_password_can_come_from_the_environment(app, db):
    app.config["WISHES_ADMIN_PASSWORD"] = "from the environment"
    with app.app_context():
        assert ensure_first_admin(db) is None
    assert store.check_password(db, "admin", "from the environment")


def test_serve_refuses_an_unusable_admin_password_with_a_message(app, runner, db):
    app.config["WISHES_ADMIN_PASSWORD"] = "admin2026"  # too short, and has the username
    result = runner.invoke(args=["serve"])
    assert result.exit_code == 1 and "WISHES_ADMIN_PASSWORD cannot be used" in result.output
    assert "Traceback" not in result.output and db["users"].count == 0


def test_demo_accounts_exist_only_with_the_demo(runner, db):
    assert db["users"].count == 0
    runner.invoke(args=["demo"])
    roles = {row["role"] for row in db.query("SELECT role FROM users")}
    assert roles == {"member", "secretary", "triager", "inspector", "manager", "admin"}
    from wishes.demo import DEMO_PASSWORD

    assert store.check_password(db, "member", DEMO_PASSWORD)["branch_code"] == "pediatrics"


@pytest.mark.parametrize(
    "target, expected",
    [
        ("/board?state=open", "/board?state=open"),
        ("//evil.example/", "/board"),
        ("https://evil.example/", "/board"),
        ("/\\evil.example", "/board"),
        ("javascript:alert(1)", "/board"),
        ("", "/board"),
    ],
)
def test_next_after_login_stays_on_this_site(target, expected):
    assert safe_next(target, "/board") == expected


def test_login_follows_a_safe_next(client, staff):
    response = login(client, "member_a", query="?next=/board?state=open")
    assert response.location == "/board?state=open"


@pytest.mark.parametrize("next_", ["/board%0a", "/board%0d%0aSet-Cookie:%20x=1", "/board%09"])
def test_a_next_with_a_line_break_goes_home_instead_of_ending_in_a_500(client, staff, next_):
    response = login(client, "member_a", query=f"?next={next_}")
    assert (response.status_code, response.location) == (302, "/board")
    page = client.get("/account/password")
    changed = client.post(
        f"/account/password?next={next_}",
        data={
            "current": PASSWORD,
            "new": "晚霞 over the river 7",
            "confirm": "晚霞 over the river 7",
            "csrf_token": page_token(page),
        },
    )
    assert changed.status_code == 302 and "\n" not in changed.headers["Location"]


def test_the_audit_log_cannot_be_changed(db, staff):
    audit.record(db, "login", audit.Who(1, "member_a", "10.0.0.1"))
    with pytest.raises(Exception, match="append-only"):
        db.execute("UPDATE audit_events SET actor_label = 'someone else'")
    with pytest.raises(Exception, match="append-only"):
        db.execute("DELETE FROM audit_events")


def test_a_password_typed_into_the_username_box_is_never_written_down(client, db, staff):
    secret = "Qiu-he-2026-secret!"
    for _ in range(6):
        response = login(client, secret, password="whatever it is")
    assert response.status_code == 429  # the same unknown name is still throttled
    stored = [row["username"] for row in db.query("SELECT username FROM login_attempts")]
    audited = [
        f"{row['subject_id']} {row['detail']}"
        for row in db.query("SELECT subject_id, detail FROM audit_events")
    ]
    assert stored and not any(secret.lower() in name for name in stored)
    assert not any(secret.lower() in line.lower() for line in audited)
    assert any("不存在的用户名" in line for line in audited)
    # a real account's failures are still named
    login(client, "member_a", password="not it")
    assert (
        db.execute(
            "SELECT count(*) FROM audit_events WHERE action = 'login_failed' AND subject_id = ?",
            ["member_a"],
        ).fetchone()[0]
        == 1
    )


def test_forty_guesses_sent_at_once_get_five_checked(app, staff):
    """Each guess is written down before its password is checked, under the write lock: the
    sixth and later wait, however many arrive together."""
    path = database_path(app)
    start = threading.Barrier(40)
    checked = []

    def guess():
        with connect(path) as own:
            start.wait()
            wait, attempt = store.begin_login_attempt(own, "member_a", "10.6.6.6")
            if attempt is not None:
                checked.append(attempt)
                store.finish_login_attempt(own, attempt, False)

    threads = [threading.Thread(target=guess) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(checked) == 5


def test_guesses_from_elsewhere_do_not_lock_the_owner_out_of_their_usual_place(client, db, staff):
    desk = {"REMOTE_ADDR": "10.0.0.5"}
    assert login(client, "member_a", environ_base=desk).status_code == 302
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    db.execute("UPDATE login_attempts SET at = ?", [hour_ago])  # signed in there this morning
    for i in range(25):  # one wrong guess from each of 25 addresses: no pair rule applies
        store.record_login_attempt(db, "member_a", f"10.9.0.{i}", succeeded=False)
    assert store.login_wait(db, "member_a", "10.9.1.1") > 0  # a new place waits
    assert store.login_wait(db, "member_a", "10.0.0.5") == 0  # the owner's desk does not
