"""点亮微心愿: patients' micro-wishes, routed to the Party branch that can fulfil them."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from flask_babel import Babel
from werkzeug.middleware.proxy_fix import ProxyFix

from . import settings, storage
from .settings import PROJECT_ROOT

log = logging.getLogger(__name__)


def _secret_key(data_dir: Path) -> str:
    """Read the key kept in the data dir, creating it on first start (never in code or git)."""
    path = data_dir / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(32))
    return path.read_text(encoding="ascii").strip()


def _chores(app: Flask) -> None:
    """What the background worker does each round besides notifications (the settings page
    says when): the scheduled backup, and erasing personal data past its retention period."""
    from .notifications.worker import CHORES
    from .privacy import erase_due
    from .storage.schedule import scheduled_backup

    app.extensions[CHORES] = (scheduled_backup, erase_due)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application: settings from the environment (or `test_config`), storage, pages."""
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.update(settings.load(None if test_config is None else {}))
    if test_config:
        app.config.update(test_config)
    from . import hospital

    # A setting the environment (or a test's config) gives wins over the settings page.
    hospital.init_app(app, os.environ if test_config is None else test_config)
    data_dir = Path(app.config["WISHES_DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)
    app.config.setdefault("SECRET_KEY", None)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _secret_key(data_dir)
    app.config.update(
        BABEL_DEFAULT_LOCALE="zh_Hans_CN",
        BABEL_DEFAULT_TIMEZONE=app.config["WISHES_TIMEZONE"],
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=8 * 1024 * 1024,  # a 5 MB fulfilment photo and its form
        # A token is valid as long as its session: staff sessions end on the server anyway.
        WTF_CSRF_TIME_LIMIT=None,
    )
    if app.config["WISHES_HTTPS"]:
        app.config.update(
            SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True, PREFERRED_URL_SCHEME="https"
        )
    if hops := app.config["WISHES_PROXY_HOPS"]:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )
    from . import i18n

    Babel(app, locale_selector=i18n.select_locale)

    storage.init_app(app)
    storage.prepare(app)
    _chores(app)

    from . import routing

    routing.init_app(app)

    from . import web

    web.init_app(app)

    from .commands import register_commands

    register_commands(app)
    return app


def create_settings_app() -> Flask:
    """The settings and the database (and the translations, for patients' texts), without
    pages, templates or the router.

    For a process that serves no request (the notification worker beside `wishes serve`):
    it needs the configuration and the data dir, not the libraries the pages load (scikit-learn,
    jieba, openpyxl…), and so runs in about 50 MB instead of 170 (docs/performance.md).
    """
    app = Flask(__name__)
    app.config.update(settings.load())
    Babel(app)  # the patients' texts are written in the language each patient used
    from . import hospital

    hospital.init_app(app, os.environ)
    storage.prepare(app)
    _chores(app)
    return app


def create_serving_app() -> Flask:
    """The app as a WSGI server runs it: router model and jieba loaded before any request."""
    from .serving import prepare

    return prepare(create_app())
