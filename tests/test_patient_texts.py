"""Patients hear back by text, and webhooks out (issue 19, items 1 and 6): queued with the
wish's move, delivered by the worker to a real HTTP server these tests start."""

import hashlib
import hmac
import json
import re
import socket
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import Receiver, csrf_token, login

from wishes import audit, create_settings_app, lifecycle, privacy, settings
from wishes.lifecycle import Actor, ClaimantKind, WishEntry
from wishes.notifications import store
from wishes.notifications.outgoing import EventWebhook, Outbox
from wishes.notifications.texts import HttpSender, LogSender, sender_from_config
from wishes.notifications.worker import deliver_due, outbox_from_config, run_once
from wishes.routing import RouteDecision

PEDIATRICS = RouteDecision(suggestions=[("child_joy", 0.9)], confident=True)
STAFF = Actor("staff", "儿科党支部")
PHONE = "13812345678"
WISH_TEXT = "孩子明天过生日，想要一本绘本"
CLAIMANT = "张小红"
PUBLIC = "https://wishes.example-hospital.cn"
SECRET = "s3cret"


@pytest.fixture
def gateway():
    """The hospital's SMS gateway (and webhook receiver) as the tests see it."""
    gate = Receiver("/sms/send", body=b"ok")
    yield gate
    gate.close()


def submit(db, *, phone=PHONE, consent=True, language="zh_Hans", text=WISH_TEXT):
    entry = WishEntry(
        text=text,
        channel="phone",
        patient_name="李四",
        phone=phone,
        contact_consent=consent,
        language=language,
    )
    return lifecycle.submit(db, entry, PEDIATRICS, "pediatrics")


def claim(db, wish):
    return lifecycle.claim(db, wish["id"], STAFF, ClaimantKind.PERSON, CLAIMANT)


def texts(db):
    return [
        row
        for row in db.query("SELECT * FROM notifications ORDER BY id")
        if row["kind"] == store.PATIENT_TEXT
    ]


class Nowhere:
    """The branches' notifications and webhooks, out of these tests' way."""

    def deliver(self, notification):
        pass


def deliver(app, db, texts_sender, when=None):
    """One round of the worker's deliveries; returns (texts delivered, texts failed)."""
    before = {row["id"] for row in texts(db) if row["delivered_at"]}
    with app.app_context():
        _, failed = deliver_due(
            db, Outbox(Nowhere(), texts_sender, Nowhere()), when or datetime.now(UTC)
        )
    return len({row["id"] for row in texts(db) if row["delivered_at"]} - before), failed


def sender(gateway, **kwargs):
    return HttpSender(gateway.url, secret=SECRET, public_url=PUBLIC, timeout=1, **kwargs)


def sent_text(request):
    return json.loads(request["body"])["text"]


# ---- the text --------------------------------------------------------------------------------


def test_the_worker_beside_the_server_sends_the_text_in_the_patients_language(
    app, db, gateway, monkeypatch
):
    """`wishes serve` runs the worker in a process of its own, with the settings app (no
    pages): it too writes the text in the patient's language."""
    for name, value in {
        "WISHES_DATA_DIR": app.config["WISHES_DATA_DIR"],
        "WISHES_SMS_SENDER": "http",
        "WISHES_SMS_URL": gateway.url,
    }.items():
        monkeypatch.setenv(name, value)
    claim(db, submit(db, language="en"))
    run_once(create_settings_app())
    (request,) = gateway.received
    assert "has been taken on" in sent_text(request)


def test_a_claim_texts_the_patient_through_the_gateway_signed(app, db, gateway):
    wish = submit(db)
    claim(db, wish)
    [queued] = texts(db)  # queued by the claim itself, before any worker ran
    assert queued["message"] == "claimed" and PHONE not in json.dumps(queued)

    assert deliver(app, db, sender(gateway)) == (1, 0)

    [request] = gateway.received
    assert request["method"] == "POST" and request["path"] == "/sms/send"
    assert request["headers"]["Content-Type"].startswith("application/json")
    expected = hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["X-Wishes-Signature"] == f"sha256={expected}"
    body = json.loads(request["body"])
    assert body["phone"] == PHONE
    text = body["text"]
    assert "已有人认领" in text and wish["tracking_code"] in text
    assert f"{PUBLIC}/t/{wish['tracking_code']}?lang=zh_Hans" in text
    assert "绘本" not in text and CLAIMANT not in text and "李四" not in text


@pytest.mark.parametrize(
    ("language", "words"),
    [("en", "has been taken on"), ("zh_Hant", "已有人認領"), ("zh_Hans", "已有人认领")],
)
def test_the_text_is_in_the_language_the_patient_wrote_in(app, db, gateway, language, words):
    wish = submit(db, language=language)
    claim(db, wish)
    deliver(app, db, sender(gateway))
    text = sent_text(gateway.received[0])
    assert words in text
    assert f"lang={language}" in text
    if language == "en":
        assert not re.search(r"[\u4e00-\u9fff]", text)


def test_the_patient_hears_of_claim_fulfilment_and_decline_and_nothing_else(app, db, gateway):
    wish = submit(db)
    claim(db, wish)
    lifecycle.start(db, wish["id"], STAFF)
    lifecycle.fulfil(db, wish["id"], STAFF, "已送去绘本十本")
    other = submit(db)
    lifecycle.decline(db, other["id"], STAFF, "超出医院服务范围")
    assert [row["message"] for row in texts(db)] == ["claimed", "fulfilled", "declined"]

    deliver(app, db, sender(gateway))
    words = [sent_text(request) for request in gateway.received]
    assert "已经实现" in words[1] and "未能实现" in words[2]
    assert not any("绘本" in w or "服务范围" in w for w in words)  # note and reason stay home


def test_no_text_without_a_number_or_without_consent(app, db, gateway):
    claim(db, submit(db, consent=False))
    claim(db, submit(db, phone=""))
    assert texts(db) == []
    assert deliver(app, db, sender(gateway)) == (0, 0) and gateway.received == []


def test_a_json_body_template_escapes_what_it_carries(app, db, gateway):
    body = '{"to": "{phone}", "content": "{text}", "ref": "{code}-{id}", "sign": "医院"}'
    wish = submit(db, language="en")
    claim(db, wish)
    deliver(app, db, sender(gateway, body=body, headers={"X-Api-Key": "k1"}))
    [request] = gateway.received
    sent = json.loads(request["body"])  # still JSON, whatever the text holds
    assert sent["to"] == PHONE and sent["ref"].startswith(wish["tracking_code"] + "-")
    assert request["headers"]["X-Api-Key"] == "k1"


def test_a_get_gateway_takes_the_text_in_its_address(app, db, gateway):
    wish = submit(db)
    claim(db, wish)
    url = gateway.url + "?mobile={phone}&content={text}"
    deliver(app, db, HttpSender(url, method="GET", public_url=PUBLIC, timeout=1))
    [request] = gateway.received
    query = parse_qs(urlsplit(request["path"]).query)
    assert query["mobile"] == [PHONE] and wish["tracking_code"] in query["content"][0]


def test_a_failed_text_is_retried_with_backoff_and_every_attempt_is_recorded(app, db, gateway):
    claim(db, submit(db))
    gateway.status = 500
    now = datetime.now(UTC)
    assert deliver(app, db, sender(gateway), now) == (0, 1)
    assert deliver(app, db, sender(gateway), now + timedelta(seconds=10)) == (0, 0)  # backing off
    gateway.status = 200
    assert deliver(app, db, sender(gateway), now + timedelta(seconds=31)) == (1, 0)
    assert len(gateway.received) == 2
    [row] = texts(db)
    assert row["delivered_at"] is not None and row["attempts"] == 2
    attempts = list(
        db.query(
            "SELECT ok, status, error FROM notification_attempts WHERE notification_id = ?",
            [row["id"]],
        )
    )
    assert [(a["ok"], a["status"]) for a in attempts] == [(0, 500), (1, 200)]
    assert attempts[0]["error"] == "HTTP 500"


@pytest.mark.parametrize("trouble", ["slow", "garbage", "down"])
def test_a_slow_broken_or_absent_gateway_keeps_the_text_queued(app, db, gateway, trouble):
    claim(db, submit(db))
    gateway.delay = 3 if trouble == "slow" else 0
    gateway.garbage = trouble == "garbage"
    target = sender(gateway)
    if trouble == "down":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        target = HttpSender(f"http://127.0.0.1:{port}/sms", public_url=PUBLIC, timeout=1)
    started = time.monotonic()
    assert deliver(app, db, target) == (0, 1)
    assert time.monotonic() - started < 2.5  # the timeout, not the gateway, decides
    [row] = texts(db)
    assert row["delivered_at"] is None and row["failed_at"] is None and row["last_error"]


def test_a_slow_gateway_never_delays_the_claim(app, db, gateway, client, staff):
    gateway.delay = 3
    app.config.update(WISHES_SMS_SENDER="http", WISHES_SMS_URL=gateway.url)
    wish = submit(db)
    login(client, "member_a")
    started = time.monotonic()
    response = client.post(
        f"/board/wishes/{wish['id']}/claim",
        data={"kind": "branch", "csrf_token": csrf_token(client, f"/board/wishes/{wish['id']}")},
    )
    assert response.status_code == 303
    assert time.monotonic() - started < 2
    assert gateway.received == [] and len(texts(db)) == 1


def test_the_log_sender_masks_the_number(app, db, caplog):
    caplog.set_level("INFO", logger="wishes.notifications")
    wish = submit(db)
    claim(db, wish)
    deliver(app, db, LogSender(PUBLIC))
    assert "138****5678" in caplog.text and PHONE not in caplog.text
    assert wish["tracking_code"] in caplog.text


def test_the_sender_follows_the_settings(app):
    assert isinstance(sender_from_config(app.config), LogSender)
    config = {**app.config, "WISHES_SMS_SENDER": "http", "WISHES_SMS_URL": "http://sms.local/x"}
    assert isinstance(sender_from_config(config), HttpSender)
    loaded = settings.load({"WISHES_SMS_HEADERS": '{"Authorization": "Bearer t"}'})
    assert loaded["WISHES_SMS_HEADERS"] == {"Authorization": "Bearer t"}
    for name, value in [
        ("WISHES_SMS_HEADERS", "[1]"),
        ("WISHES_SMS_HEADERS", "not json"),
        ("WISHES_SMS_SENDER", "carrier-pigeon"),
        ("WISHES_SMS_METHOD", "DELETE"),
    ]:
        with pytest.raises(settings.SettingsError):
            settings.load({name: value})


# ---- stopping texts -------------------------------------------------------------------------


def stop_link(text):
    return re.search(r"https://\S+/stop\?\S+", text).group()


def test_the_stop_link_asks_then_stops_further_texts(app, db, gateway, client):
    wish = submit(db, language="en")
    claim(db, wish)
    deliver(app, db, sender(gateway))
    link = urlsplit(stop_link(sent_text(gateway.received[0])))
    path = f"{link.path}?{link.query}"

    page = client.get(path)  # what a link preview does: nothing changes
    assert page.status_code == 200 and "Stop the texts" in page.get_data(as_text=True)
    assert lifecycle.find_by_tracking_code(db, wish["tracking_code"])["texts_stopped_at"] is None

    lifecycle.start(db, wish["id"], STAFF)
    lifecycle.fulfil(db, wish["id"], STAFF, "已送去")  # queued before the patient stops
    html = page.get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    k = parse_qs(link.query)["k"][0]
    done = client.post(link.path, data={"csrf_token": token, "k": k})
    assert done.status_code == 200
    assert "We will not send you any more texts" in done.get_data(as_text=True)

    assert deliver(app, db, sender(gateway)) == (0, 0)  # the queued one is not sent
    assert len(gateway.received) == 1
    assert texts(db)[-1]["last_error"] == store.STOPPED
    other = submit(db)
    claim(db, other)
    assert len(texts(db)) == 3  # another wish's patient still hears back


def test_a_wrong_stop_token_changes_nothing(app, db, client):
    wish = submit(db)
    code = wish["tracking_code"]
    assert client.get(f"/t/{code}/stop?k=guessed").status_code == 404
    token = csrf_token(client, "/w/new")
    assert client.post(f"/t/{code}/stop", data={"csrf_token": token, "k": "x"}).status_code == 404
    assert client.post(f"/t/{code}/stop", data={"k": wish["texts_stop_token"]}).status_code == 400
    assert lifecycle.find_by_tracking_code(db, code)["texts_stopped_at"] is None


# ---- erasure --------------------------------------------------------------------------------


def test_a_text_queued_for_an_erased_number_never_goes_out(app, db, gateway):
    wish = submit(db)
    claim(db, wish)
    gateway.status = 400  # a gateway that echoes the number in its error is masked too
    deliver(app, db, sender(gateway))
    privacy.erase_on_request(db, wish["id"], audit.Who(label="admin"))
    gateway.status = 200
    later = datetime.now(UTC) + timedelta(hours=1)
    assert deliver(app, db, sender(gateway), later) == (0, 0)
    assert len(gateway.received) == 1
    assert texts(db)[0]["last_error"] == store.ERASED
    for table in ("notifications", "notification_attempts"):
        assert PHONE not in json.dumps(list(db.query(f"SELECT * FROM {table}")))


# ---- webhooks out ---------------------------------------------------------------------------


def events(db):
    return [
        row
        for row in db.query("SELECT * FROM notifications ORDER BY id")
        if row["kind"] == store.STATE_CHANGE
    ]


def test_every_change_goes_out_signed_without_patient_data(app, db, gateway):
    app.config.update(WISHES_WEBHOOK_URL=gateway.url, WISHES_WEBHOOK_SECRET=SECRET)
    with app.app_context():
        wish = submit(db)
        claim(db, wish)
        lifecycle.reroute(db, wish["id"], "logistics", STAFF, "志愿者更合适")
        outbox = outbox_from_config(app.config)
        deliver_due(db, outbox, datetime.now(UTC))
    received = [r for r in gateway.received if r["headers"].get("X-Wishes-Event")]
    payloads = [json.loads(r["body"]) for r in received]
    assert [(p["action"], p["from_state"], p["to_state"]) for p in payloads] == [
        ("submit", None, "open"),
        ("route", "open", "open"),
        ("claim", "open", "claimed"),
        ("reroute", "claimed", "open"),
    ]
    assert payloads[-1]["branch_code"] == "logistics"
    assert {p["tracking_code"] for p in payloads} == {wish["tracking_code"]}
    assert payloads[0]["category"] == "child_joy" and payloads[0]["at"].endswith("Z")
    for request in received:
        digest = hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
        assert request["headers"]["X-Wishes-Signature"] == f"sha256={digest}"
        body = request["body"].decode()
        assert "绘本" not in body and PHONE not in body and CLAIMANT not in body
        assert "李四" not in body


def test_no_webhook_address_queues_none(app, db):
    with app.app_context():
        claim(db, submit(db))
    assert events(db) == []


def test_the_administrator_reads_the_delivery_log_and_replays_one(app, db, gateway, client, staff):
    app.config.update(WISHES_WEBHOOK_URL=gateway.url)
    gateway.status = 503
    with app.app_context():
        wish = submit(db)
        deliver_due(db, EventWebhook(gateway.url), datetime.now(UTC))
    first = events(db)[0]
    login(client, "admin")
    html = client.get("/admin/deliveries?kind=state_change").get_data(as_text=True)
    assert "HTTP 503" in html and wish["tracking_code"] in html
    # given up after the last retry, it waits for a person
    db.execute("UPDATE notifications SET failed_at = next_attempt_at WHERE id = ?", [first["id"]])
    db.conn.commit()
    assert "重新发送" in client.get("/admin/deliveries").get_data(as_text=True)

    token = csrf_token(client, "/admin/deliveries")
    response = client.post(f"/admin/deliveries/{first['id']}/replay", data={"csrf_token": token})
    assert response.status_code == 302
    again = events(db)[0]
    assert again["failed_at"] is None and again["attempts"] == 0
    [record] = db.query("SELECT * FROM audit_events WHERE action = 'delivery_replayed'")
    assert record["subject_id"] == str(first["id"])

    gateway.status = 200
    with app.app_context():
        deliver_due(db, EventWebhook(gateway.url), datetime.now(UTC))
    assert events(db)[0]["delivered_at"] is not None
    for name in ("member_a", "triager"):
        client.post("/logout", data={"csrf_token": csrf_token(client, "/board")})
        login(client, name)
        assert client.get("/admin/deliveries").status_code == 403
