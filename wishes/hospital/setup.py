"""The first run: on an empty database the first administrator sets the hospital up at /setup.

Set-up is pending while no staff account has a local password and either the database has no
organisation or set-up has begun (`setup_state` = "in_progress"); it is over once the first
administrator's account is made (`setup_state` = "done"), and /setup answers 404 from then on.
The pages ask first for a one-time code that `wishes serve` (or `wishes setup-code`) prints on
the server's console, so that nobody else on the intranet can take a fresh install over; its
hash is kept until set-up ends.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from enum import StrEnum

from flask import Flask, current_app, redirect, request, url_for
from sqlite_utils import Database

from .. import accounts, audiences, organisation
from ..storage import get_db
from . import store

STATE = "setup_state"
CODE = "setup_code_hash"
DONE_CACHE = "wishes.setup_done"
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read off a console


class Step(StrEnum):
    HOSPITAL = "hospital"
    ORGANISATION = "organisation"
    ACCOUNTS = "accounts"


def _rows(db: Database) -> dict[str, str]:
    return store.stored(db)


def pending(db: Database) -> bool:
    """True while the first run's set-up is not finished (see the module's words)."""
    state = _rows(db).get(STATE, "")
    if state == "done" or accounts.has_password_account(db):
        return False
    if state.startswith("in_progress"):
        return True
    return not organisation.branches(db) and not organisation.departments(db)


def step(db: Database) -> Step:
    """The step the set-up pages are at."""
    state = _rows(db).get(STATE, "")
    _, _, at = state.partition(":")
    return Step(at) if at in Step.__members__.values() else Step.HOSPITAL


def move_to(db: Database, at: Step, *, label: str = "setup") -> None:
    store.put(db, STATE, f"in_progress:{at}", user_id=None, label=label)


def finish(db: Database) -> None:
    """Set-up is over: the code is forgotten and /setup is gone."""
    store.put(db, STATE, "done", user_id=None, label="setup")
    store.delete(db, CODE)


def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().replace("-", "").encode()).hexdigest()


def new_code(db: Database) -> str:
    """A fresh one-time code (the previous one stops working); shown once, kept as a hash."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))
    store.put(db, CODE, _hash(raw), user_id=None, label="wishes serve")
    return f"{raw[:5]}-{raw[5:]}"


def code_hash(db: Database) -> str | None:
    return _rows(db).get(CODE)


def check_code(db: Database, typed: str) -> str | None:
    """The stored code's hash when `typed` is the code, else None."""
    stored = code_hash(db)
    if not stored or not typed.strip():
        return None
    return stored if hmac.compare_digest(stored, _hash(typed)) else None


def _lead_to_setup():
    """Before every page while set-up is pending: go to /setup (files and monitors pass)."""
    app = current_app._get_current_object()
    if app.extensions.get(DONE_CACHE):
        return None
    endpoint = request.endpoint or ""
    if endpoint.startswith("setup.") or audiences.current() is audiences.Audience.SERVICE:
        return None
    if not request.endpoint:  # no such page: its 404
        return None
    if pending(get_db()):
        return redirect(url_for("setup.start"))
    app.extensions[DONE_CACHE] = True  # set-up never comes back once it is over
    return None


def init_app(app: Flask) -> None:
    app.before_request(_lead_to_setup)
