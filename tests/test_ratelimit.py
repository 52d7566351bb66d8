"""Rate limits on the public forms: per address, shared by every worker through the database."""

import re

import pytest
from conftest import csrf_token

from wishes import create_app, ratelimit
from wishes.storage import connect, database_path

LIMIT = ratelimit.LIMITS["wish"].count


def _submit(client, text, address="10.0.0.1", path="/w/new"):
    token = csrf_token(client, path)
    return client.post(
        path,
        data={"text": text, "department": "", "csrf_token": token},
        environ_base={"REMOTE_ADDR": address},
    )


def _wishes(app):
    with connect(database_path(app)) as db:
        return db["wishes"].count


def test_one_address_gets_a_clear_refusal_and_keeps_what_it_typed(app, client):
    for number in range(LIMIT):
        assert _submit(client, f"希望有热水壶 {number}").status_code == 302
    refused = _submit(client, "希望护士站有针线包，谢谢")
    assert refused.status_code == 429
    html = refused.get_data(as_text=True)
    assert "提交太频繁了" in html and "分钟后再提交" in html
    assert "希望护士站有针线包，谢谢" in html  # nothing typed is lost
    assert _wishes(app) == LIMIT
    # Another address (another kiosk, another phone) is not held up.
    assert _submit(client, "希望有热水壶", address="10.0.0.2").status_code == 302


def test_the_count_is_shared_by_every_worker(app, tmp_path):
    """Two app instances on one database file stand for two gunicorn workers."""
    other = create_app(
        {
            "TESTING": True,
            "WISHES_DATA_DIR": app.config["WISHES_DATA_DIR"],
            "WISHES_MODELS_DIR": str(tmp_path / "models"),
        }
    )
    first, second = app.test_client(), other.test_client()
    for number in range(LIMIT):
        worker = first if number % 2 else second
        assert _submit(worker, f"希望有轮椅 {number}").status_code == 302
    assert _submit(first, "再来一个心愿").status_code == 429
    assert _submit(second, "再来一个心愿").status_code == 429


def test_the_kiosk_form_and_the_questionnaire_are_limited_too(app, client, db):
    from wishes.questionnaires import store

    store.ensure_default(db)
    with app.test_request_context(environ_base={"REMOTE_ADDR": "10.0.0.9"}):
        for _ in range(ratelimit.LIMITS["answer"].count):
            assert not ratelimit.wait_for("answer")
        assert ratelimit.wait_for("answer") > 0
    html = client.get("/s/satisfaction", environ_base={"REMOTE_ADDR": "10.0.0.9"}).get_data(
        as_text=True
    )
    hidden = dict(
        re.findall(r'name="(csrf_token|submission_id)" type="hidden" value="([^"]+)"', html)
    )
    data = {**hidden, "q_overall": "4", "q_recommend": "8", "q_comment": "挺好的"}
    refused = client.post("/s/satisfaction", data=data, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert refused.status_code == 429 and "挺好的" in refused.get_data(as_text=True)
    assert db["responses"].count == 0
    for number in range(LIMIT):
        _submit(client, f"希望 {number}", address="10.0.0.3", path="/kiosk/wish")
    assert _submit(client, "多一个", address="10.0.0.3", path="/kiosk/wish").status_code == 429


def test_tracking_pages_are_limited_with_a_retry_after(client):
    limit = ratelimit.LIMITS["tracking"].count
    for _ in range(limit):
        assert client.get("/t/ABCDEFG").status_code == 404  # unknown code, but counted
    refused = client.get("/t/ABCDEFG")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "操作太频繁了" in refused.get_data(as_text=True)


def test_a_new_window_starts_afresh(db):
    limit = ratelimit.Limit(2, 60)
    assert [ratelimit.hit(db, "t", "a", limit, now=120.0) for _ in range(3)] == [0, 0, 60]
    assert ratelimit.hit(db, "t", "a", limit, now=179.0) == 1
    assert ratelimit.hit(db, "t", "a", limit, now=180.0) == 0  # the next minute
    assert db.execute("SELECT min(window) FROM rate_limits").fetchone()[0] == 2


@pytest.mark.parametrize(("factor", "allowed"), [(0, 25), (0.5, 10)])
def test_the_factor_scales_or_turns_off_the_limits(app, client, factor, allowed):
    app.config["WISHES_RATE_LIMIT_FACTOR"] = factor
    codes = [_submit(client, f"希望有充电器 {n}").status_code for n in range(25)]
    assert codes.count(302) == allowed


def test_a_count_skips_its_own_fsync_and_the_wish_after_it_does_not(app):
    """The count's transaction runs at synchronous=NORMAL (a lost count is harmless); the
    connection is back at FULL for whatever it commits next, such as the wish itself."""
    with connect(database_path(app)) as db:
        seen = []
        db.conn.set_trace_callback(seen.append)
        assert ratelimit.hit(db, "wish", "10.0.0.9", ratelimit.Limit(5, 600)) == 0
        db.conn.set_trace_callback(None)
        order = [seen.index(s) for s in ("PRAGMA synchronous=NORMAL", "BEGIN IMMEDIATE", "COMMIT")]
        assert order == sorted(order) and seen[-1] == "PRAGMA synchronous=FULL"
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def _answers_allowed(app, address, cookies=None):
    """How many questionnaires in a row the forms take from one client (up to 1,000)."""
    headers = {"Cookie": cookies} if cookies else {}
    with app.test_request_context(environ_base={"REMOTE_ADDR": address}, headers=headers):
        for taken in range(1000):
            if ratelimit.wait_for("answer"):
                return taken
    return 1000


def _register_kiosk(client, staff, name="门诊大厅 1 号机"):
    from conftest import login, post_form

    login(client, "admin")
    response = post_form(client, "/admin/kiosks", name=name)
    assert response.status_code == 302
    cookie = client.get_cookie("wishes_kiosk")
    client.get("/logout")
    return cookie.value


def test_a_registered_kiosk_has_its_own_count_that_nobody_on_its_address_can_use_up(
    app, client, staff
):
    """Issue 21, item 10: the 31st questionnaire at a kiosk within 10 minutes is taken, and a
    script on the kiosk's address that uses up the address's limit does not lock it out."""
    token = _register_kiosk(client, staff)
    kiosk = f"wishes_kiosk={token}"
    assert _answers_allowed(app, "10.0.0.50") == 30  # the abuser, on the kiosk's address
    assert _answers_allowed(app, "10.0.0.50", kiosk) == 30 * ratelimit.KIOSK_FACTOR
    # A made-up or stopped kiosk is just its address.
    assert _answers_allowed(app, "10.0.0.51", "wishes_kiosk=" + "x" * 43) == 30


def test_a_stopped_kiosk_is_counted_by_its_address_again(app, client, staff, db):
    from conftest import login, post_form

    token = _register_kiosk(client, staff)
    (kiosk_id,) = db.execute("SELECT id FROM kiosk_devices").fetchone()
    login(client, "admin")
    page = client.get("/admin/kiosks").get_data(as_text=True)
    assert "门诊大厅 1 号机" in page and "使用中" in page
    assert post_form(client, f"/admin/kiosks/{kiosk_id}/revoke").status_code == 302
    assert "已停用" in client.get("/admin/kiosks").get_data(as_text=True)
    assert _answers_allowed(app, "10.0.0.52", f"wishes_kiosk={token}") == 30
    actions = [row[0] for row in db.execute("SELECT action FROM audit_events")]
    assert "kiosk_registered" in actions and "kiosk_revoked" in actions


def test_only_the_administrator_registers_kiosks(client, staff):
    from conftest import login

    login(client, "member_a")
    assert client.get("/admin/kiosks").status_code == 403
    assert client.post("/admin/kiosks", data={"name": "x"}).status_code in (400, 403)


def test_the_hospitals_own_networks_may_send_more_than_an_outside_address(app, client, staff):
    from conftest import login, post_form

    login(client, "admin")
    typed = "10.20.0.0/16, 192.168.7.7"
    saved = post_form(client, "/admin/settings", setting="WISHES_HOSPITAL_NETWORKS", value=typed)
    assert saved.status_code == 302
    assert _answers_allowed(app, "10.20.3.4") == 30 * ratelimit.NETWORK_FACTOR
    assert _answers_allowed(app, "192.168.7.7") == 30 * ratelimit.NETWORK_FACTOR
    assert _answers_allowed(app, "10.21.0.1") == 30
    refused = post_form(client, "/admin/settings", setting="WISHES_HOSPITAL_NETWORKS", value="病区")
    assert refused.status_code == 400 and "请填写网段" in refused.get_data(as_text=True)
