"""The notification worker: queues overdue reminders and delivers the queue, off the request path.

One round queues a reminder for every wish that has become overdue, then delivers what is
due through the notifier; failures are retried with backoff (`store.mark_failed_attempt`).
Then it does the app's other background chores (`app.extensions[CHORES]`, set by the app
factory: the scheduled backup, erasing personal data past its period), each deciding itself
whether anything is due. `run_forever` repeats that every WISHES_NOTIFY_INTERVAL_SECONDS,
survives any error, and stops cleanly on SIGTERM or SIGINT. It runs as `wishes notify`, or
beside the web server as `python -m wishes.notifications` (started by `wishes.serving`).
"""

from __future__ import annotations

import fcntl
import logging
import signal
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from flask import Flask
from sqlite_utils import Database

from .. import hospital, inbox
from ..deadlines import Deadlines, overdue_unreminded
from ..storage import TIMESTAMP_FORMAT, connect, database_path, transaction
from . import outgoing, store, texts
from .notifier import (
    LogNotifier,
    Notifier,
    WebhookNotifier,
    escape_for_log,
    mask_numbers,
    notifier_from_config,
)
from .outgoing import Outbox

log = logging.getLogger("wishes.notifications")
chores_log = logging.getLogger("wishes.worker")

# app.extensions key: the chores of each round, each `chore(app, db, config, now)`; one that
# fails is logged and does not stop the others, nor the next round.
CHORES = "wishes.chores"

# At the default 30 s interval this stays within an enterprise WeChat robot's limit of 20
# messages a minute; a backlog (say, a day with the webhook down) drains over a few minutes.
DELIVERIES_PER_ROUND = 10


class Round(NamedTuple):
    overdue_queued: int
    delivered: int
    failed: int


def queue_overdue(db: Database, deadlines: Deadlines, now: datetime) -> int:
    """Queue one reminder per overdue episode; a new clock (triage, re-route, claim) is a new one.

    The wish's state goes into `message` so the reminder says what it waits for (a claim or
    fulfilment). Wishes waiting for triage have no branch: the reminder goes to the office.
    """
    at = now.strftime(TIMESTAMP_FORMAT)
    overdue = overdue_unreminded(db, deadlines, now)  # read without the write lock
    if not overdue:
        return 0
    queued = 0
    people_of: dict[str | None, list[int]] = {}  # each branch's people, read once a round
    with transaction(db):
        for wish in overdue:
            key = f"overdue:{wish['id']}:{wish['state']}:{wish['clock_started_at']}"
            queued += store.enqueue(
                db,
                kind="overdue",
                dedupe_key=key,
                wish_id=wish["id"],
                branch_code=wish["branch_code"],
                at=at,
                message=wish["state"],
            )
            # in the inbox of who answers for it: its assignee or claimer, else its branch
            branch = wish["branch_code"]
            if branch not in people_of:
                people_of[branch] = inbox.branch_people(db, branch)
            people = [wish["answers_for"]] if wish["answers_for"] else people_of[branch]
            inbox.deliver(db, people, wish["id"], inbox.OVERDUE, key, at)
    return queued


def deliver_due(
    db: Database,
    notifier: Notifier,
    now: datetime,
    *,
    limit: int = DELIVERIES_PER_ROUND,
    stop: threading.Event | None = None,
) -> tuple[int, int]:
    """Try every due notification once; return (delivered, failed this time)."""
    stamp = now.strftime(TIMESTAMP_FORMAT)
    delivered = failed = 0
    for notification in store.due(db, stamp, limit):
        if stop is not None and stop.is_set():
            break
        # A text's patient is read now, not when it was queued: they may have stopped texts,
        # or had the number erased, since.
        text = notification["kind"] == store.PATIENT_TEXT
        if text and (reason := texts.why_not_send(notification)):
            store.mark_dropped(db, notification["id"], stamp, reason)
            continue
        try:
            status = notifier.deliver(notification)
        except Exception as error:
            # Any error, not only DeliveryError: a notification that breaks the notifier must
            # back off like the others, or it would stay first in the queue and block it.
            message = mask_numbers(str(error) or repr(error))
            code = getattr(error, "status", None)
            store.mark_failed_attempt(db, notification["id"], stamp, message, code)
            failed += 1
            log.warning(
                "notification %s not delivered (attempt %s): %s",
                notification["id"],
                notification["attempts"] + 1,
                escape_for_log(message),
            )
        else:
            code = status if isinstance(status, int) else None
            store.mark_delivered(db, notification["id"], stamp, code)
            delivered += 1
    return delivered, failed


def outbox_from_config(config: Mapping[str, Any]) -> Outbox:
    """Each kind of the one outbox to what delivers it, as the settings say now."""
    return Outbox(
        notifier_from_config(config),
        texts.sender_from_config(config),
        outgoing.events_from_config(config),
        config.get("WISHES_PUBLIC_URL") or "",
    )


def run_once(
    app: Flask,
    notifier: Notifier | None = None,
    *,
    stop: threading.Event | None = None,
    now: datetime | None = None,
) -> Round:
    """One round on a connection of its own (never a request's): queue overdue, deliver due,
    then the chores."""
    now = now or datetime.now(UTC)
    with app.app_context(), connect(database_path(app)) as db:
        # The settings page's values (deadlines, webhook, public address), read each round.
        config = hospital.config(db)
        notifier = notifier or outbox_from_config(config)
        queued = queue_overdue(db, Deadlines.from_config(config), now)
        delivered, failed = deliver_due(db, notifier, now, stop=stop)
        for chore in app.extensions.get(CHORES, ()):
            if stop is not None and stop.is_set():
                break
            try:
                chore(app, db, config, now)
            except Exception:
                chores_log.exception("background chore %s failed", chore.__name__)
    return Round(queued, delivered, failed)


@contextmanager
def exclusive(app: Flask) -> Iterator[bool]:
    """Hold the data folder's notify lock if it is free: two workers would deliver twice."""
    path = database_path(app).parent / ".notify.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT end the loop after the current delivery instead of killing it."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread; the caller owns `stop`
        return

    def handler(_signum: int, _frame: object) -> None:
        # Event.set() takes a lock that the interrupted Event.wait() may be holding.
        threading.Thread(target=stop.set, daemon=True).start()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def describe(notifier: Notifier) -> str:
    """Where notifications go, for the log: a webhook's host only (its key is a secret)."""
    if isinstance(notifier, WebhookNotifier):
        parts = urlsplit(notifier.url)
        return f"webhook {parts.scheme}://{parts.netloc}"
    if isinstance(notifier, LogNotifier):
        return "the log"
    if isinstance(notifier, Outbox):
        return f"{describe(notifier.branch)} (patients' texts: {type(notifier.texts).__name__})"
    return type(notifier).__name__


def run_forever(app: Flask, stop_event: threading.Event | None = None) -> None:
    """Run rounds every WISHES_NOTIFY_INTERVAL_SECONDS until stopped; no error ends the loop."""
    stop = stop_event or threading.Event()
    interval = app.config["WISHES_NOTIFY_INTERVAL_SECONDS"]
    notifier = notifier_from_config(app.config)
    standing_by = False
    with _stop_on_signals(stop):
        while not stop.is_set():
            with exclusive(app) as mine:
                if mine:
                    log.info("notification worker: to %s every %s s", describe(notifier), interval)
                    _rounds(app, None, interval, stop)
                    break
            if not standing_by:
                log.info("another notification worker is running for this database; standing by")
                standing_by = True
            stop.wait(interval)
    log.info("notification worker stopped")


def _rounds(app: Flask, notifier: Notifier | None, interval: int, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            run_once(app, notifier, stop=stop)
        except Exception:
            log.exception("notification round failed; trying again in %s s", interval)
        stop.wait(interval)


def show_info_logs() -> None:
    """Let the worker's INFO lines (the LogNotifier's output, the chores') through, to stderr
    if nowhere else."""
    for logger in (log, chores_log):
        logger.setLevel(logging.INFO)
        if not logger.hasHandlers():
            handler = logging.StreamHandler()
            handler.setFormatter(
                logging.Formatter("%(asctime)s [notify] %(levelname)s %(message)s")
            )
            logger.addHandler(handler)
