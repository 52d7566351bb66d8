"""Staff accounts and login: Flask-Login over the `users` and `staff_sessions` tables."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from flask import Flask, abort, current_app, redirect, request, url_for
from flask_login import LoginManager, current_user

from .. import audit
from ..storage import get_db
from . import store
from .permissions import BRANCH_ROLES, Role, may
from .store import (
    AccountError,
    active_staff,
    create_user,
    find_user,
    has_password_account,
    password_problem,
)
from .tokens import TokenRefused, TokenUse, use_token


def who() -> audit.Who:
    """The current visitor as the audit log records them."""
    if current_user.is_authenticated:
        return audit.Who(current_user.id, current_user.username, request.remote_addr or "")
    return audit.Who(None, "", request.remote_addr or "")


def staff_required(action: str = "view_board") -> Callable:
    """Require a logged-in staff member with the right `action` (see permissions.ROLE_RIGHTS).

    Not logged in: to the login page. Logged in without the right: 403.
    """

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
            if current_user.must_change_password:
                return redirect(url_for("accounts.change_password", next=request.full_path))
            if not may(current_user, action):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def _load_user(token: str) -> store.StaffUser | None:
    config = current_app.config
    return store.session_user(
        get_db(),
        token,
        idle=timedelta(minutes=config["WISHES_STAFF_IDLE_MINUTES"]),
        absolute=timedelta(hours=config["WISHES_STAFF_SESSION_HOURS"]),
    )


def init_app(app: Flask) -> None:
    from .directory import check_settings

    check_settings(app.config)  # a directory role map that cannot work stops the start
    manager = LoginManager(app)
    manager.login_view = "accounts.login"
    manager.login_message = "请先登录。"
    manager.login_message_category = "info"
    manager.session_protection = None  # sessions are server-side rows; see store.session_user
    manager.user_loader(_load_user)
    app.config.setdefault("REMEMBER_COOKIE_DURATION", timedelta(seconds=0))
    # Pages offer a next step only to who may take it: {% if may("manage_questionnaires") %}.
    app.add_template_global(_current_user_may, "may")


def _current_user_may(action: str) -> bool:
    return current_user.is_authenticated and may(current_user, action)


__all__ = [
    "AccountError",
    "BRANCH_ROLES",
    "Role",
    "active_staff",
    "create_user",
    "find_user",
    "has_password_account",
    "init_app",
    "may",
    "password_problem",
    "staff_required",
    "TokenRefused",
    "TokenUse",
    "use_token",
    "who",
]
