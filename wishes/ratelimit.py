"""Rate limits on the public forms, counted in SQLite so that every server sharing the
database file sees the same counts.

Fixed windows per client: simple, and at these limits a burst across a window edge does no
harm. A client is a registered kiosk (counted on its own, whatever its address: nobody else
on the address can use up its limit) or an address; an address of the hospital's own networks
(a ward's Wi-Fi, many patients behind one address) may send more. Staff logins have their own
throttle (accounts/store.py, `login_wait`).
"""

from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass

from flask import Flask, current_app, request
from flask_babel import ngettext
from sqlite_utils import Database

from . import audiences, hospital, kiosks
from .storage import get_db, transaction


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: int


# Far above what one person does and far below what a script does, per address.
# WISHES_RATE_LIMIT_FACTOR scales them (0 turns them off).
LIMITS = {
    "wish": Limit(20, 600),  # wishes submitted
    "answer": Limit(30, 600),  # questionnaires submitted
    "rating": Limit(30, 600),  # answers on the tracking page ("did it help?")
    "tracking": Limit(120, 600),  # tracking pages opened
    "setup_code": Limit(10, 600),  # codes tried on the first run's set-up page
}
# A registered kiosk: a patient a minute at most, however busy the hall (30 minutes' worth of
# patients at most for each 10-minute window would already be a queue out of the door).
KIOSK_FACTOR = 6
# An address of the hospital's networks (WISHES_HOSPITAL_NETWORKS): a ward's patients.
NETWORK_FACTOR = 5
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


def _client() -> tuple[str, float]:
    """Whose count this request is, and how many people's worth it may send."""
    if (kiosk := kiosks.this_kiosk()) is not None:
        return f"kiosk:{kiosk}", KIOSK_FACTOR
    address = request.remote_addr or ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address, 1
    if any(ip in network for network in hospital.value("WISHES_HOSPITAL_NETWORKS")):
        return address, NETWORK_FACTOR
    return address, 1


def wait_for(name: str) -> int:
    """Count this request against limit `name`; the seconds to wait if it is over, else 0."""
    factor = current_app.config["WISHES_RATE_LIMIT_FACTOR"]
    if factor <= 0:
        return 0
    key, fits = _client()
    limit = LIMITS[name]
    return hit(
        get_db(), name, key, Limit(max(1, round(limit.count * factor * fits)), limit.seconds)
    )


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
