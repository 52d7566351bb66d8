"""Patients' personal data (the name and phone number on a wish), erased when it is no longer
needed, as China's Personal Information Protection Law expects: automatically, a set time
(WISHES_PERSONAL_DATA_DAYS) after the wish was closed, by the background worker; and on a
patient's request, by the administrator (/admin/personal-data, `wishes erase-patient`). The wish
itself (its text, state and history) stays, and so does the patient's answer about it on the
tracking page (`wish_ratings`: a rating and a comment, the patient's words about the wish as its
text is, reached only by the tracking code, never by a name or number). Each erasure is
audited with what was erased for which wish, never the data itself.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlite_utils import Database

from .. import audit
from ..storage import TIMESTAMP_FORMAT, transaction, utcnow
from . import store

log = logging.getLogger("wishes.worker")

ERASED = "patient_data_erased"  # the audit log's event
# Wishes erased per round of the worker: a backlog (the first run, a shortened period) drains
# over a few rounds without holding the write lock for long.
ROUND_LIMIT = 500
RETENTION = audit.Who(label="保存期限到期（后台进程）")


@dataclass(frozen=True)
class Erased:
    """What an erasure did: the wish's tracking code and the columns emptied (none: there was
    nothing left to erase)."""

    tracking_code: str
    columns: list[str]


def _erase(
    db: Database, wish: Mapping[str, Any], who: audit.Who, reason: str, at: str
) -> list[str]:
    erased = [column for column in store.PERSONAL_COLUMNS if wish[column] is not None]
    if erased:
        store.erase(db, wish["id"], at)
        audit.record(
            db,
            ERASED,
            who,
            subject_kind="wish",
            subject_id=wish["id"],
            detail={"tracking_code": wish["tracking_code"], "erased": erased, "reason": reason},
        )
    return erased


def erase_on_request(db: Database, wish_id: int, who: audit.Who) -> Erased | None:
    """Erase one wish's personal data because the patient asked; None when there is no such
    wish."""
    with transaction(db):
        wish = store.personal_data(db, wish_id)  # read under the write lock
        if wish is None:
            return None
        return Erased(wish["tracking_code"], _erase(db, wish, who, "request", utcnow()))


def erase_requested_again(db: Database, log_of: Database, who: audit.Who) -> int:
    """After a restore: erase again, in DB, what patients asked to have erased according to
    LOG_OF (the database the restore replaced), when the backup still holds it; how many."""
    again = 0
    with transaction(db):
        for wish_id, code in store.requested(log_of):
            wish = store.personal_data(db, wish_id)
            if wish is not None and wish["tracking_code"] == code:
                again += bool(_erase(db, wish, who, "request", utcnow()))
    return again


def erase_expired(db: Database, days: int, now: datetime, limit: int = ROUND_LIMIT) -> int:
    """Erase the personal data of wishes closed DAYS or more before NOW; how many wishes."""
    cutoff = (now - timedelta(days=days)).strftime(TIMESTAMP_FORMAT)
    at = now.strftime(TIMESTAMP_FORMAT)
    if not store.closed_before(db, cutoff, 1):  # most rounds: without taking the write lock
        return 0
    with transaction(db):  # read again under the lock: a request may have erased some since
        wishes = store.closed_before(db, cutoff, limit)
        for wish in wishes:
            _erase(db, wish, RETENTION, "retention", at)
    return len(wishes)


def erase_due(app: Flask, db: Database, config: Mapping[str, Any], now: datetime) -> int:
    """The worker's chore: erase what the retention period has reached."""
    erased = erase_expired(db, config["WISHES_PERSONAL_DATA_DAYS"], now)
    if erased:
        log.info("personal data erased from %d closed wishes", erased)
    return erased


__all__ = [
    "ERASED",
    "Erased",
    "erase_due",
    "erase_expired",
    "erase_on_request",
    "erase_requested_again",
]
