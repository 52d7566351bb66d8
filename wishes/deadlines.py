"""When a wish is overdue: the hospital's deadlines to claim and to fulfil, and the overdue
wishes the board, the dashboard, the staff navigation and the reminders all count the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlite_utils import Database

from .storage import TIMESTAMP_FORMAT


@dataclass(frozen=True)
class Deadlines:
    """How long a wish may wait before it is overdue (the settings WISHES_CLAIM_HOURS/_DAYS)."""

    claim_hours: int = 24
    fulfil_days: int = 7

    @classmethod
    def from_config(cls, config: Any) -> Deadlines:
        return cls(config["WISHES_CLAIM_HOURS"], config["WISHES_FULFIL_DAYS"])

    def cutoffs(self, now: datetime) -> tuple[str, str]:
        """Wishes routed before the first, or claimed before the second, are overdue."""
        claim = now - timedelta(hours=self.claim_hours)
        fulfil = now - timedelta(days=self.fulfil_days)
        return claim.strftime(TIMESTAMP_FORMAT), fulfil.strftime(TIMESTAMP_FORMAT)


# A wish is overdue when it has waited too long for the next step its state asks for:
# a claim (waiting at a branch, or in the triage queue) or fulfilment (claimed).
OVERDUE_SQL = """(
    (w.state = 'open' AND w.routed_at < :claim_cutoff)
    OR (w.state = 'triage' AND w.created_at < :claim_cutoff)
    OR (w.state IN ('claimed', 'in_progress') AND w.claimed_at < :fulfil_cutoff)
)"""


def overdue_params(deadlines: Deadlines, now: datetime) -> dict[str, str]:
    claim_cutoff, fulfil_cutoff = deadlines.cutoffs(now)
    return {"claim_cutoff": claim_cutoff, "fulfil_cutoff": fulfil_cutoff}


def overdue_by_branch(db: Database, deadlines: Deadlines, now: datetime) -> dict[str | None, int]:
    """Overdue wishes per branch (None: the triage queue), for the navigation."""
    sql = f"SELECT w.branch_code, count(*) AS n FROM wishes w WHERE {OVERDUE_SQL} GROUP BY 1"
    return {row["branch_code"]: row["n"] for row in db.query(sql, overdue_params(deadlines, now))}


# database file → (what the counts were computed for, the counts); one entry per file.
_navigation_counts: dict[str, tuple[tuple, dict[str | None, int]]] = {}


def overdue_for_navigation(
    db: Database, deadlines: Deadlines, now: datetime
) -> dict[str | None, int]:
    """`overdue_by_branch` for the staff navigation, shown on every staff page: computed again
    when a wish has changed since (its events' newest id moved) or the minute has turned,
    otherwise reused by this process. Counting reads every overdue wish (1M wishes with
    86,000 overdue: about 100 ms a page); a deadline passed within the minute shows a minute
    late here, never on the board itself."""
    path = db.execute("PRAGMA database_list").fetchone()[2]
    latest = db.execute("SELECT max(id) FROM wish_events").fetchone()[0]
    key = (deadlines, latest, now.replace(second=0, microsecond=0))
    cached = _navigation_counts.get(path)
    if cached and cached[0] == key:
        return dict(cached[1])
    counts = overdue_by_branch(db, deadlines, now)
    _navigation_counts[path] = (key, counts)
    return dict(counts)


_CLOCK_STARTED = """CASE w.state WHEN 'open' THEN w.routed_at WHEN 'triage' THEN w.created_at
                          ELSE w.claimed_at END"""


def overdue_wishes(db: Database, deadlines: Deadlines, now: datetime) -> list[dict[str, Any]]:
    """Every overdue wish with the moment its clock started (for overdue notifications)."""
    sql = f"""SELECT w.id, w.tracking_code, w.state, w.branch_code,
                     {_CLOCK_STARTED} AS clock_started_at
              FROM wishes w WHERE {OVERDUE_SQL} ORDER BY w.id"""
    return list(db.query(sql, overdue_params(deadlines, now)))


def overdue_unreminded(db: Database, deadlines: Deadlines, now: datetime) -> list[dict[str, Any]]:
    """The overdue wishes that have no reminder queued for this overdue episode yet.

    The notification worker asks every round; almost every overdue wish was reminded in an
    earlier round, so they are left out here, in one read, rather than one INSERT OR IGNORE
    each inside the write lock (1M wishes, 86,000 overdue: the lock held for a second every
    30 s, stalling every patient's submission meanwhile).
    """
    sql = f"""SELECT id, tracking_code, state, branch_code, clock_started_at, answers_for FROM (
                SELECT w.id, w.tracking_code, w.state, w.branch_code,
                       coalesce(w.assigned_user_id, w.claimed_by_user_id) AS answers_for,
                       {_CLOCK_STARTED} AS clock_started_at
                FROM wishes w WHERE {OVERDUE_SQL}) AS o
              WHERE NOT EXISTS (
                SELECT 1 FROM notifications n
                WHERE n.dedupe_key
                      = 'overdue:' || o.id || ':' || o.state || ':' || o.clock_started_at)
              ORDER BY id"""
    return list(db.query(sql, overdue_params(deadlines, now)))
