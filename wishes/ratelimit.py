"""Rate limits on the public forms, counted in SQLite so that every gunicorn worker (and
every server sharing the database file) sees the same counts.

Fixed windows per client address: simple, and at these limits a burst across a window edge
does no harm. Staff logins have their own throttle (accounts/store.py, `login_wait`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from flask import Flask, current_app, request
from flask_babel import ngettext
from sqlite_utils import Database

from . import audiences
from .storage import get_db, transaction


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: int


# A kiosk is one address for many patients, so the limits are far above what one person does
# and far below what a script does. WISHES_RATE_LIMIT_FACTOR scales them (0 turns them off).
LIMITS = {
    "wish": Limit(20, 600),  # wishes submitted
    "answer": Limit(30, 600),  # questionnaires submitted
    "tracking": Limit(120, 600),  # tracking pages opened
    "setup_code": Limit(10, 600),  # codes tried on the first run's set-up page
}
# Pages counted before they are shown (the forms count their own submissions: `wait_for`).
PAGES = {"tracking.wish_status": "tracking", "tracking_kiosk.wish_status": "tracking"}


def hit(db: Database, name: str, key: str, limit: Limit, now: float | None = None) -> int:
    """Count one request; return the seconds to wait when it is over the limit, else 0.

    The count is committed without its own fsync (`synchronous=NORMAL` for this transaction
    only): the next wish or response committed fsyncs the journal with it, and a power cut
    can at worst forget a few counts, which only lets an address submit a little more. With
    the fsync a count cost 0.2 ms, and 8 ms (p95) while the disk was busy (docs/performance.md).
    """
    now = time.time() if now is None else now
    window = int(now // limit.seconds)
    db.execute("PRAGMA synchronous=NORMAL")
    try:
        with transaction(db):
            (count,) = db.execute(
                """INSERT INTO rate_limits (name, key, window, n) VALUES (?, ?, ?, 1)
                   ON CONFLICT DO UPDATE SET n = n + 1 RETURNING n""",
                [name, key, window],
            ).fetchone()
            if count == 1:  # the first request of a window clears the windows before it
                db.execute("DELETE FROM rate_limits WHERE window < ?", [window - 1])
    finally:
        db.execute("PRAGMA synchronous=FULL")
    if count <= limit.count:
        return 0
    return max(1, math.ceil((window + 1) * limit.seconds - now))


def _scaled(limit: Limit) -> Limit | None:
    factor = current_app.config["WISHES_RATE_LIMIT_FACTOR"]
    return Limit(max(1, round(limit.count * factor)), limit.seconds) if factor > 0 else None


def wait_for(name: str) -> int:
    """Count this request against limit `name`; the seconds to wait if it is over, else 0."""
    limit = _scaled(LIMITS[name])
    return hit(get_db(), name, request.remote_addr or "", limit) if limit else 0


def form_refusal(seconds: int) -> str:
    """The message a form shows when its limit is reached (what was typed stays on the page)."""
    # Chinese has one form for every number; the English catalogue has "minute" and "minutes".
    return ngettext(
        "提交太频繁了，请 %(num)d 分钟后再提交。您填写的内容都还在。",
        "提交太频繁了，请 %(num)d 分钟后再提交。您填写的内容都还在。",
        math.ceil(seconds / 60),
    )


def _check():
    name = PAGES.get(request.endpoint or "")
    wait = wait_for(name) if name and request.method in ("GET", "HEAD") else 0
    if not wait:
        return None
    page = audiences.error_page(429, retry_minutes=math.ceil(wait / 60))
    return page, 429, {"Retry-After": str(wait)}


def init_app(app: Flask) -> None:
    app.before_request(_check)
