"""Staff operations: a personal access token in `Authorization: Bearer …`, nothing else.

The session cookie of the staff pages never authenticates an API call (this module does not
read it, nor does any API view read Flask-Login's `current_user`). Every use of a token, and
every refusal of a token that exists, is written to the audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, request

from .. import audit
from ..accounts import TokenRefused, TokenUse, use_token
from ..storage import get_db
from .errors import ApiError

SECURITY: list[dict[str, list[str]]] = [{"token": []}]
SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "A personal access token: `wishes api-token create USERNAME`, or the "
    "account page (/account/tokens).",
}


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    kind, _space, token = header.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _who(user_id: int | None, label: str) -> audit.Who:
    return audit.Who(user_id, label, request.remote_addr or "")


def token_required(scope: str) -> Callable:
    """Run the view with `g.token` (accounts.TokenUse) when the request carries a live token
    with `scope`; else 401 (missing, invalid, expired, revoked) or 403 (scope)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any):
            token = _bearer()
            if token is None:
                raise ApiError(401, "token_missing", headers={"WWW-Authenticate": "Bearer"})
            db = get_db()
            detail = {"method": request.method, "path": request.path[:200]}
            try:
                use: TokenUse = use_token(db, token)
            except TokenRefused as refused:
                if refused.token_id is not None:
                    audit.record(
                        db,
                        "api_token_refused",
                        _who(refused.user_id, ""),
                        subject_kind="api_token",
                        subject_id=refused.token_id,
                        detail={**detail, "why": refused.code},
                    )
                raise ApiError(
                    401, refused.code, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
                ) from None
            who = _who(use.user.id, use.user.username)
            if scope not in use.scopes:
                audit.record(
                    db,
                    "api_token_refused",
                    who,
                    subject_kind="api_token",
                    subject_id=use.token_id,
                    detail={**detail, "why": "insufficient_scope"},
                )
                raise ApiError(403, "insufficient_scope")
            audit.record(
                db,
                "api_token_used",
                who,
                subject_kind="api_token",
                subject_id=use.token_id,
                detail=detail,
            )
            g.token = use
            return view(*args, **kwargs)

        return wrapped

    return decorator
