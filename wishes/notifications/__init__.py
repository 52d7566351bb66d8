"""Notifications to branches: queued in the database with the change, delivered later.

A request only inserts a row (in the same transaction as the wish's move), so a slow or
broken webhook can never slow a patient or a staff member down. A background worker
(`wishes notify`, started beside the web server by `wishes serve`) delivers the queue
through a notifier and retries failures with backoff.
"""

from __future__ import annotations

from sqlite_utils import Database

from .notifier import escape_for_log
from .store import enqueue, settle_backlog


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


__all__ = ["enqueue", "escape_for_log", "settle_backlog", "wish_reached_branch"]
