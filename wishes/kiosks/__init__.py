"""Registered kiosks: the touch screens in the hospital's halls, known by a cookie.

A kiosk is one address for every patient who walks up to it, and often shares that address
with a ward's Wi-Fi. Registered once by the administrator on the kiosk itself, it carries a
random token in a cookie; the public forms count a registered kiosk's submissions on their
own, with limits no person at a touch screen can reach, so nobody else on its address can use
up its limit (issue 21, item 10). Only the token's hash is stored.
"""

from __future__ import annotations

import hashlib
import secrets

from flask import Response, current_app, g, request
from sqlite_utils import Database

from ..storage import get_db
from . import store

COOKIE = "wishes_kiosk"
COOKIE_YEARS = 5


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def register(db: Database, name: str, user_id: int) -> tuple[int, str]:
    """A new kiosk and its token (to be set as this browser's cookie, never shown)."""
    token = secrets.token_urlsafe(32)
    return store.add(db, name, _hash(token), user_id), token


def remember_on(response: Response, token: str) -> None:
    """Make this browser the kiosk the token belongs to."""
    response.set_cookie(
        COOKIE,
        token,
        max_age=COOKIE_YEARS * 365 * 24 * 3600,
        httponly=True,
        samesite="Lax",
        secure=current_app.config["WISHES_HTTPS"],
    )


def this_kiosk() -> int | None:
    """The registered kiosk this request comes from (a known, active token), else None."""
    if "kiosk_id" not in g:
        token = request.cookies.get(COOKIE, "")
        g.kiosk_id = store.active_id(get_db(), _hash(token)) if 20 <= len(token) <= 100 else None
    return g.kiosk_id


__all__ = ["COOKIE", "register", "remember_on", "this_kiosk"]
