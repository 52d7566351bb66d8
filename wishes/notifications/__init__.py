"""Notifications to branches: queued in the database with the change, delivered later.

A request only inserts a row (in the same transaction as the wish's move), so a slow or
broken webhook can never slow a patient or a staff member down. A background worker
(`wishes notify`, started beside the web server by `wishes serve`) delivers the queue
through a notifier and retries failures with backoff.
"""

from __future__ import annotations

import json
from typing import Any

from flask import has_app_context
from sqlite_utils import Database

from .. import hospital
from . import store
from .notifier import escape_for_log, mask_phone
from .store import INBOX, enqueue, settle_backlog, stop_texts


def wish_reached_branch(db: Database, wish_id: int, branch_code: str, at: str) -> None:
    """A wish was routed, triaged or re-routed to a branch: tell the branch."""
    enqueue(
        db,
        kind="assigned",
        dedupe_key=f"assigned:{wish_id}:{branch_code}:{at}",
        wish_id=wish_id,
        branch_code=branch_code,
        at=at,
    )


# The states a patient hears about by text (notifications/texts.py words and sends them).
TEXTED_STATES = frozenset({"claimed", "fulfilled", "declined"})


def _queue_text(db: Database, wish_id: int, event_id: int, to_state: str, at: str) -> None:
    """The patient's text about the wish's new state: with a number, consent, and no stop."""
    if to_state not in TEXTED_STATES:
        return
    wish = store.wish_for_texts(db, wish_id)
    if wish and wish["phone"] and wish["contact_consent"] and not wish["texts_stopped_at"]:
        enqueue(
            db,
            kind=store.PATIENT_TEXT,
            dedupe_key=f"text:{event_id}",
            wish_id=wish_id,
            branch_code=None,
            at=at,
            message=to_state,
        )


def _webhook_set(db: Database) -> bool:
    """Webhooks out are queued only while an address is set (a move outside the app, such as
    a test's, has no settings: none)."""
    return has_app_context() and bool((hospital.value("WISHES_WEBHOOK_URL", db) or "").strip())


def wish_moved(db: Database, event: dict[str, Any], event_id: int) -> None:
    """A wish's event was appended (lifecycle._event, inside the move's transaction): queue the
    patient's text and the webhook out with it, so the change and what tells of it are one."""
    to_state = event["to_state"]
    if to_state and to_state != event["from_state"]:
        _queue_text(db, event["wish_id"], event_id, to_state, event["at"])
    if not _webhook_set(db) or event["action"] == "rate":  # a patient's rating moves nothing
        return
    wish = store.wish_for_texts(db, event["wish_id"]) or {}
    payload = {
        "event": "wish.state_changed",
        "event_id": event_id,
        "wish_id": event["wish_id"],
        "tracking_code": wish.get("tracking_code"),
        "action": event["action"],
        "from_state": event["from_state"],
        "to_state": to_state,
        "branch_code": event["branch_code"],
        "category": wish.get("category"),
        "at": event["at"].replace(" ", "T") + "Z",
        "actor_kind": event["actor_kind"],
    }
    enqueue(
        db,
        kind=store.STATE_CHANGE,
        dedupe_key=f"event:{event_id}",
        wish_id=event["wish_id"],
        branch_code=event["branch_code"],
        at=event["at"],
        message=event["action"],
        payload=json.dumps(payload, ensure_ascii=False, sort_keys=True),
    )


__all__ = [
    "INBOX",
    "enqueue",
    "escape_for_log",
    "mask_phone",
    "settle_backlog",
    "stop_texts",
    "wish_moved",
    "wish_reached_branch",
]
