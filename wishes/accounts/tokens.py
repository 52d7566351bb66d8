"""Personal access tokens for the JSON API (wishes/api): one staff member's, for one front end.

A token is shown once, when it is made (`wishes api-token create`, or the account page), and
only its SHA-256 is kept: a token is 256 random bits, so a slow password hash would add
nothing. Each one has scopes (`read`: list and read wishes; `write`: move them), an expiry
day and can be revoked; it acts as its owner, with the owner's role and branch at the time of
each call (a deactivated account's tokens stop working with it). Every use is audited by the
API (wishes/api/auth.py).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlite_utils import Database

from ..storage import TIMESTAMP_FORMAT, inserted_id, transaction, utcnow
from .store import StaffUser, staff_user

SCOPES = ("read", "write")
DEFAULT_DAYS = 90
MAX_DAYS = 366
NAME_MAX = 60
# Recognisable in a log or a leaked file (and by secret scanners): "wsh_" and 43 characters.
TOKEN_PREFIX = "wsh_"


class TokenRefused(Exception):
    """A token that cannot be used: `code` says why (the API's error code)."""

    def __init__(self, code: str, token_id: int | None = None, user_id: int | None = None):
        super().__init__(code)
        self.code, self.token_id, self.user_id = code, token_id, user_id


@dataclass(frozen=True)
class TokenUse:
    """A valid token and the staff member it acts for."""

    token_id: int
    user: StaffUser
    scopes: frozenset[str]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def create_token(
    db: Database,
    user_id: int,
    name: str,
    scopes: tuple[str, ...] | list[str],
    days: int = DEFAULT_DAYS,
    *,
    by: str,
    now: datetime | None = None,
) -> tuple[str, dict[str, Any]]:
    """Make a token for `user_id`; returns the token (to show once) and its stored row."""
    chosen = [scope for scope in SCOPES if scope in set(scopes)]
    if not chosen or set(scopes) - set(SCOPES):
        raise ValueError(f"scopes must be among {', '.join(SCOPES)}")
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"a token lasts 1 to {MAX_DAYS} days")
    name = " ".join(name.split())[:NAME_MAX] or "API"
    now = now or datetime.now(UTC)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = {
        "user_id": user_id,
        "name": name,
        "token_hash": _hash(token),
        "prefix": token[:10],
        "scopes": " ".join(chosen),
        "created_at": now.strftime(TIMESTAMP_FORMAT),
        "created_by": by[:80],
        "expires_at": (now + timedelta(days=days)).strftime(TIMESTAMP_FORMAT),
    }
    with transaction(db):
        token_id = inserted_id(db.table("api_tokens").insert(row))
    return token, {**row, "id": token_id}


def tokens_of(db: Database, user_id: int) -> list[dict[str, Any]]:
    """A staff member's tokens, newest first (never the token: it is not kept)."""
    return list(
        db.query(
            """SELECT id, name, prefix, scopes, created_at, created_by, expires_at, revoked_at,
                      last_used_at
               FROM api_tokens WHERE user_id = ? ORDER BY id DESC""",
            [user_id],
        )
    )


def revoke_token(db: Database, token_id: int, user_id: int, now: str | None = None) -> bool:
    """Revoke one of `user_id`'s tokens; False when there is no such live token of theirs."""
    with transaction(db):
        cursor = db.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND user_id = ? "
            "AND revoked_at IS NULL",
            [now or utcnow(), token_id, user_id],
        )
    return cursor.rowcount == 1


def use_token(db: Database, token: str, now: datetime | None = None) -> TokenUse:
    """The token's owner, if the token is live; raises TokenRefused (token_invalid,
    token_expired, token_revoked) otherwise. Records when it was last used."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        raise TokenRefused("token_invalid")
    rows = list(
        db.query(
            """SELECT t.id AS token_id, t.scopes, t.expires_at, t.revoked_at, u.*
               FROM api_tokens t JOIN users u ON u.id = t.user_id
               WHERE t.token_hash = ?""",
            [_hash(token)],
        )
    )
    if not rows:
        raise TokenRefused("token_invalid")
    row = rows[0]
    moment = (now or datetime.now(UTC)).strftime(TIMESTAMP_FORMAT)
    if row["revoked_at"]:
        raise TokenRefused("token_revoked", row["token_id"], row["id"])
    if row["expires_at"] <= moment:
        raise TokenRefused("token_expired", row["token_id"], row["id"])
    if not row["active"]:
        raise TokenRefused("token_invalid", row["token_id"], row["id"])
    with transaction(db):
        db.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", [moment, row["token_id"]])
    return TokenUse(row["token_id"], staff_user(row, ""), frozenset(row["scopes"].split()))
