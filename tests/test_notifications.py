"""Branch notifications: queued with the wish's move, delivered later by the worker."""

import logging
import os
import socket
import subprocess
import sys
import threading
import time
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from wishes import lifecycle, routing
from wishes.deadlines import Deadlines
from wishes.lifecycle import Actor, ClaimantKind, WishEntry
from wishes.notifications import store
from wishes.notifications.commands import notify_command
from wishes.notifications.notifier import (
    TRIAGE_LABEL,
    DeliveryError,
    LogNotifier,
    WebhookNotifier,
    message_for,
    notifier_from_config,
)
from wishes.notifications.worker import deliver_due, exclusive, queue_overdue, run_forever
from wishes.routing import RouteDecision
from wishes.storage import TIMESTAMP_FORMAT

PEDIATRICS = RouteDecision(suggestions=[("child_joy", 0.9)], confident=True)
STAFF = Actor("staff", "儿科党支部")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stamp(moment):
    return moment.strftime(TIMESTAMP_FORMAT)


def submit(db, text="孩子明天过生日，想要一本绘本", route=PEDIATRICS, at=None):
    entry = WishEntry(text=text, channel="phone")
    return lifecycle.submit(db, entry, route, route and "pediatrics", at=at and stamp(at))


def notifications(db, kind=None):
    rows = db.query("SELECT * FROM notifications ORDER BY id")
    return [row for row in rows if kind is None or row["kind"] == kind]


class Recorder:
    def __init__(self, public_url=""):
        self.messages = []
        self.public_url = public_url

    def deliver(self, notification):
        self.messages.append(message_for(notification, self.public_url))


def test_routed_wish_queues_one_notification_the_webhook_receives_once(db, webhook):
    wish = submit(db)
    [queued] = notifications(db)
    assert (queued["kind"], queued["wish_id"], queued["branch_code"]) == (
        "assigned",
        wish["id"],
        "pediatrics",
    )
    assert queued["delivered_at"] is None

    assert deliver_due(db, WebhookNotifier(webhook.url), datetime.now(UTC)) == (1, 0)

    [request] = webhook.received
    assert request["path"] == "/cgi-bin/webhook/send?key=secret-key"
    assert request["content_type"].startswith("application/json")
    assert request["json"]["msgtype"] == "text"
    content = request["json"]["text"]["content"]
    assert content.startswith("【点亮微心愿】新心愿转到儿科党支部：孩子明天过生日")
    assert wish["tracking_code"] in content
    [row] = notifications(db)
    assert row["delivered_at"] is not None and row["attempts"] == 1
    assert deliver_due(db, WebhookNotifier(webhook.url), datetime.now(UTC) + timedelta(days=1)) == (
        0,
        0,
    )
    assert len(webhook.received) == 1


def test_only_a_wish_reaching_a_branch_is_notified(db):
    wish = submit(db, route=None)
    assert wish["state"] == "triage" and notifications(db) == []
    lifecycle.triage(db, wish["id"], "logistics", STAFF)
    lifecycle.reroute(db, wish["id"], "volunteer", STAFF, "陪伴聊天更合适")
    assert [row["branch_code"] for row in notifications(db)] == ["logistics", "volunteer"]


@pytest.mark.parametrize("failure", ["http_500", "wechat_errcode", "unreachable"])
def test_failed_delivery_waits_for_its_backoff(db, webhook, failure):
    if failure == "http_500":
        webhook.status = 500
        url = webhook.url
    elif failure == "wechat_errcode":
        webhook.body = b'{"errcode":93000,"errmsg":"invalid webhook url"}'
        url = webhook.url
    else:
        url = f"http://127.0.0.1:{free_port()}/send?key=secret-key"
    notifier = WebhookNotifier(url, timeout=2)
    start = datetime(2030, 5, 1, 8, 0, tzinfo=UTC)
    submit(db, at=start)

    assert deliver_due(db, notifier, start) == (0, 1)
    [row] = notifications(db)
    assert row["attempts"] == 1 and row["delivered_at"] is None and row["failed_at"] is None
    assert row["next_attempt_at"] == stamp(start + timedelta(seconds=store.FIRST_RETRY_SECONDS))
    assert row["last_error"] and "secret-key" not in row["last_error"]
    tries = len(webhook.received)

    # Not retried before its time, then retried with a doubled wait.
    assert deliver_due(db, notifier, start + timedelta(seconds=29)) == (0, 0)
    assert len(webhook.received) == tries
    retry = start + timedelta(seconds=30)
    assert deliver_due(db, notifier, retry) == (0, 1)
    [row] = notifications(db)
    assert row["attempts"] == 2
    assert row["next_attempt_at"] == stamp(retry + timedelta(seconds=2 * store.FIRST_RETRY_SECONDS))


def test_delivery_gives_up_after_max_attempts(db):
    class Down:
        def deliver(self, notification):
            raise DeliveryError("HTTP 503")

    moment = datetime(2030, 5, 1, 8, 0, tzinfo=UTC)
    submit(db, at=moment)
    for _ in range(store.MAX_ATTEMPTS):
        assert deliver_due(db, Down(), moment) == (0, 1)
        moment += timedelta(seconds=store.MAX_RETRY_SECONDS)
    [row] = notifications(db)
    assert row["attempts"] == store.MAX_ATTEMPTS
    assert row["failed_at"] is not None and row["delivered_at"] is None
    assert deliver_due(db, Down(), moment + timedelta(days=30)) == (0, 0)


def test_a_notification_that_breaks_the_notifier_does_not_block_the_queue(db):
    first, second = submit(db, text="想要一本绘本"), submit(db, text="想要一个玩具")
    delivered = []

    class Buggy:
        def deliver(self, notification):
            if notification["wish_id"] == first["id"]:
                raise KeyError("bug")
            delivered.append(notification["wish_id"])

    assert deliver_due(db, Buggy(), datetime.now(UTC)) == (1, 1)
    assert delivered == [second["id"]]
    assert notifications(db)[0]["attempts"] == 1


def test_overdue_wishes_are_queued_once_per_episode(db):
    limits = Deadlines(claim_hours=24, fulfil_days=7)
    start = datetime(2030, 5, 1, 8, 0, tzinfo=UTC)
    waiting = submit(db, text="想给住院的孩子借几本绘本", at=start)
    untriaged = submit(db, text="想找人陪我聊聊天", route=None, at=start)
    claimed = submit(db, text="孩子想要一个生日蛋糕", at=start)
    lifecycle.claim(db, claimed["id"], STAFF, ClaimantKind.BRANCH, "儿科党支部", at=stamp(start))

    later = start + timedelta(days=30)
    assert queue_overdue(db, limits, later) == 3
    assert queue_overdue(db, limits, later) == 0
    overdue = notifications(db, "overdue")
    assert [(row["wish_id"], row["branch_code"]) for row in overdue] == [
        (waiting["id"], "pediatrics"),
        (untriaged["id"], None),
        (claimed["id"], "pediatrics"),
    ]

    recorder = Recorder()
    store_rows = {
        row["wish_id"]: row for row in store.due(db, stamp(later)) if row["kind"] == "overdue"
    }
    for wish_id in (waiting["id"], untriaged["id"], claimed["id"]):
        recorder.deliver(store_rows[wish_id])
    opened, triage, fulfil = recorder.messages
    assert opened.startswith("【点亮微心愿】心愿已超时未认领：想给住院的孩子借几本绘本（儿科党支部")
    assert f"（{TRIAGE_LABEL}，查询码 {untriaged['tracking_code']}）" in triage
    assert fulfil.startswith("【点亮微心愿】心愿已超时未办结：孩子想要一个生日蛋糕")

    # A re-route starts a new clock: when that one runs out too, that is a new reminder.
    lifecycle.reroute(db, waiting["id"], "volunteer", STAFF, "志愿者更合适", at=stamp(later))
    assert queue_overdue(db, limits, later + timedelta(hours=1)) == 0
    assert queue_overdue(db, limits, later + timedelta(days=2)) == 1
    assert queue_overdue(db, limits, later + timedelta(days=3)) == 0
    assert [row["branch_code"] for row in notifications(db, "overdue")][-1] == "volunteer"


def test_message_links_to_the_board_shortens_the_wish_and_masks_phone_numbers(db):
    text = "请打13812345678联系我，" + "想要一台吹风机" * 20
    wish = submit(db, text=text)
    [row] = store.due(db, stamp(datetime.now(UTC)))

    message = message_for(row, "http://10.2.3.4:8000/")
    assert message.endswith(
        f"（查询码 {wish['tracking_code']}） http://10.2.3.4:8000/board/wishes/{wish['id']}"
    )
    assert "13812345678" not in message and "138****5678" in message
    assert "…" in message and len(message) < 140
    assert "http" not in message_for(row, "")


@pytest.mark.parametrize(
    "typed",
    [
        "138 1234 5678",
        "138-1234-5678",
        "１３８１２３４５６７８",
        "138－1234－5678",
        "138\u30001234\u30005678",
    ],
)
def test_a_phone_number_is_masked_however_it_was_typed(db, typed):
    """The form takes spaces, dashes and full-width digits; the webhook text must not carry
    the number in any of them."""
    submit(db, text=f"请打{typed}联系我，想要一台吹风机")
    [row] = store.due(db, stamp(datetime.now(UTC)))
    message = message_for(row)
    digits = "".join(ch for ch in message if ch.isdigit())
    assert "12345678" not in unicodedata.normalize("NFKC", digits), message
    assert "****" in message


def test_log_notifier_writes_one_line_of_ids_without_the_wish(db, caplog):
    wish = submit(db, text="需要吹风机\n2030-05-01 ERROR admin password reset\r\u2028done")
    caplog.set_level(logging.INFO, logger="wishes.notifications")

    assert deliver_due(db, LogNotifier(), datetime.now(UTC)) == (1, 0)

    [record] = [r for r in caplog.records if wish["tracking_code"] in r.getMessage()]
    line = record.getMessage()
    assert record.name == "wishes.notifications"
    assert not any(ch in line for ch in "\n\r\u2028")
    assert f"wish {wish['id']}" in line and "需要吹风机" not in line and "ERROR" not in line


def test_notifier_follows_the_settings(app):
    assert isinstance(notifier_from_config(app.config), LogNotifier)
    app.config["WISHES_NOTIFY_WEBHOOK_URL"] = (
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"
    )
    assert isinstance(notifier_from_config(app.config), WebhookNotifier)
    app.config["WISHES_NOTIFY_WEBHOOK_URL"] = "file:///etc/passwd"
    with pytest.raises(ValueError):
        notifier_from_config(app.config)


def test_submitting_a_wish_never_waits_for_the_webhook(app, db, submit_wish, webhook, monkeypatch):
    webhook.delay = 3
    app.config["WISHES_NOTIFY_WEBHOOK_URL"] = webhook.url
    decision = RouteDecision(suggestions=[("daily_items", 0.95)], confident=True)
    monkeypatch.setattr(routing, "route", lambda text: decision)
    assert submit_wish(text="想借一个充电器").status_code == 302  # warms up jieba

    started = time.monotonic()
    response = submit_wish(text="希望护士站能借到吹风机")
    elapsed = time.monotonic() - started

    assert response.status_code == 302
    assert elapsed < 2
    assert webhook.received == []
    rows = notifications(db)
    assert [(row["branch_code"], row["attempts"]) for row in rows] == [("logistics", 0)] * 2


def test_worker_loop_delivers_and_stops_when_asked(app, db, webhook):
    app.config["WISHES_NOTIFY_WEBHOOK_URL"] = webhook.url
    submit(db)
    stop = threading.Event()
    worker = threading.Thread(target=run_forever, args=(app, stop))
    worker.start()
    try:
        assert webhook.called.wait(10)
        with exclusive(app) as mine:
            assert not mine  # a second worker on the same database would stand by
    finally:
        stop.set()
        worker.join(10)
    assert not worker.is_alive()
    assert notifications(db)[0]["delivered_at"] is not None


def test_notify_once_command(app, db, caplog):
    caplog.set_level(logging.INFO, logger="wishes.notifications")
    app.cli.add_command(notify_command)
    wish = submit(db)
    result = app.test_cli_runner().invoke(args=["notify", "--once"])
    assert result.exit_code == 0, result.output
    assert "delivered: 1" in result.output
    assert any(wish["tracking_code"] in r.getMessage() for r in caplog.records)


def _children(pid):
    """(pid, argv) of the processes whose parent is `pid` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append((int(entry.name), [a.decode() for a in argv if a]))
    return found


def _running(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_production_server_runs_one_notification_worker_and_stops_it(app, db, webhook, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WISHES_")}
    env.update(
        WISHES_DATA_DIR=app.config["WISHES_DATA_DIR"],
        WISHES_MODELS_DIR=app.config["WISHES_MODELS_DIR"],
        WISHES_NOTIFY_WEBHOOK_URL=webhook.url,
        WISHES_NOTIFY_INTERVAL_SECONDS="1",
    )
    args = [str(Path(sys.executable).parent / "wishes"), "serve", "--bind"]
    args.append(f"127.0.0.1:{free_port()}")
    output = tmp_path / "server.log"
    with open(output, "wb") as log_file:
        server = subprocess.Popen(args, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        wish = submit(db)
        # Generous: the server and the notifier both start on a possibly busy machine.
        assert webhook.called.wait(30), output.read_text()
        assert wish["tracking_code"] in webhook.received[0]["json"]["text"]["content"]
        workers = [pid for pid, argv in _children(server.pid) if "wishes.notifications" in argv]
        assert len(workers) == 1, _children(server.pid)
        # It loads the settings and the database, not the pages' libraries: about 50 MB, where
        # a whole app (scikit-learn, jieba, openpyxl…) is 170.
        status = Path(f"/proc/{workers[0]}/status").read_text()
        rss_mb = (
            int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])
            / 1024
        )
        assert rss_mb < 100, f"the notification worker uses {rss_mb:.0f} MB"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.returncode == 0, output.read_text()
    assert not _running(workers[0])
    assert notifications(db)[0]["delivered_at"] is not None
