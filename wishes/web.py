"""HTTP wiring shared by every page: blueprints, error pages, headers, template helpers."""

from __future__ import annotations

from datetime import UTC, datetime

from babel.dates import format_skeleton
from flask import Flask, abort, current_app, request
from flask_babel import format_datetime, format_timedelta, get_locale, get_timezone
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.routing import IntegerConverter

from . import api, audiences, hospital, i18n
from .cards import public_url, qr_svg
from .intake import mask_phone
from .notifications import escape_for_log
from .questionnaires import text_in
from .storage import TIMESTAMP_FORMAT

# Everything a page needs is served by the app itself; nothing may come from another host.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'self'"
)


def local_time(stored: str | None, format: str = "short") -> str:
    """A stored UTC timestamp shown in the hospital's time zone and the page's locale.

    `format` is Babel's short/medium/long/full, or "day_and_time": the date with the month
    spelled out and a 24-hour time, read the same way everywhere ("Jan 2, 2026, 15:04",
    "2026年1月2日 15:04"), where the short form would be 1/2/26 to an English reader.
    """
    if not stored:
        return ""
    moment = datetime.strptime(stored, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    if format == "day_and_time":
        locale, zone = get_locale(), get_timezone()
        day = format_skeleton("yMMMd", moment, tzinfo=zone, locale=locale)
        time = format_skeleton("Hm", moment, tzinfo=zone, locale=locale)
        return locale.datetime_formats["medium"].format(time, day)
    return format_datetime(moment, format)


def age(stored: str | None, now: datetime | None = None) -> str:
    """How long ago a stored UTC timestamp was, in the page's locale ("3天前")."""
    if not stored:
        return ""
    moment = datetime.strptime(stored, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    return format_timedelta(moment - (now or datetime.now(UTC)), add_direction=True)


def qr_for(path: str, label: str):
    """A QR code that opens `path` of this app on a phone."""
    return qr_svg(public_url(path), label=label)


def _error_page(error: HTTPException):
    if api.is_api_request():  # a path under /api/ no API view took: a JSON 404 or 405
        return api.error_for(error)
    code = error.code or 500
    return audiences.error_page(code), code


def _csrf_error(_error: CSRFError):
    return audiences.error_page("csrf"), 400


def _server_error(error: Exception):
    if api.is_api_request():
        return api.error_for(InternalServerError(original_exception=error))
    # The traceback goes to the log; the visitor gets a calm page, never a stack trace (the
    # kiosk's own page is large, and it resets itself).
    current_app.logger.exception(
        "unhandled error on %s %s", request.method, escape_for_log(request.path)
    )
    return audiences.error_page(500), 500


def _headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if current_app.config["WISHES_HTTPS"]:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if audiences.current().is_page:
        # A shared kiosk, a ward's computer: the back button must not bring back what was
        # typed or read there.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


class RowId(IntegerConverter):
    """`<int:…>` in every route: a number SQLite can hold (a longer one is no page: 404)."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(url_map, *args, **kwargs)


def _forms_only():
    # Every page takes HTML form posts; Flask-WTF would read a JSON body as form data with
    # numbers, objects and lone surrogates where text belongs.
    if api.is_api_request():  # the JSON API checks its own bodies (wishes/api/views.py)
        return None
    if request.method == "POST" and request.is_json:
        return audiences.error_page(415), 415
    # A form without files, sent in chunks (no Content-Length), may be no larger than a form's
    # text may be: werkzeug checks that size against Content-Length alone, and cuts a chunked
    # body short without a word, so a 6 MB field came back inside the form's error page.
    if (
        request.method == "POST"
        and request.content_length is None
        and request.mimetype != "multipart/form-data"
    ):
        limit = current_app.config["MAX_FORM_MEMORY_SIZE"]
        request.max_content_length = limit + 1
        if len(request.get_data(cache=True)) > limit:  # kept for the form parser to read
            abort(413)
    return None


def init_app(app: Flask) -> None:
    from . import accounts, drafts, home, questionnaires, ratelimit, vendor
    from .accounts.views import bp as accounts_bp
    from .assessment.views import bp as assessment_bp
    from .board import views as board
    from .cards.views import bp as cards_bp
    from .dashboard.views import bp as dashboard_bp
    from .hospital import setup
    from .hospital import views as hospital_views
    from .inbox import views as inbox
    from .intake import views as intake
    from .kiosks.views import bp as kiosks_bp
    from .notifications.views import bp as deliveries_bp
    from .organisation.views import bp as organisation_bp
    from .privacy.views import bp as privacy_bp
    from .questionnaires import views as survey
    from .questionnaires.admin import bp as questionnaire_admin_bp
    from .tracking import views as tracking
    from .tracking.texts import bp as texts_bp

    app.url_map.converters["int"] = RowId
    i18n.init_app(app)
    app.before_request(_forms_only)
    drafts.init_app(app)
    # Every POST needs a CSRF token. The patient forms check theirs inside the form, so that
    # a stale page shows the form again with everything typed still there.
    csrf = CSRFProtect(app)
    patient_forms_blueprints = (intake.bp, intake.kiosk, survey.bp, survey.kiosk)
    for patient_forms in (*patient_forms_blueprints, tracking.bp, tracking.kiosk):
        csrf.exempt(patient_forms)
    api.init_app(app, csrf)  # JSON with a token or none: no cookie, so no CSRF token
    accounts.init_app(app)
    board.init_app(app)
    inbox.init_app(app)
    vendor.init_app(app)
    ratelimit.init_app(app)
    setup.init_app(app)  # an empty database leads to the first run's set-up
    for blueprint in (
        home.bp,
        home.monitoring,
        intake.bp,
        intake.kiosk,
        survey.bp,
        survey.kiosk,
        tracking.bp,
        tracking.kiosk,
        texts_bp,
        cards_bp,
        accounts_bp,
        board.bp,
        questionnaire_admin_bp,
        dashboard_bp,
        assessment_bp,
        organisation_bp,
        hospital_views.settings_bp,
        privacy_bp,
        hospital_views.setup_bp,
        kiosks_bp,
        deliveries_bp,
        inbox.bp,
    ):
        app.register_blueprint(blueprint)
    audiences.init_app(app)  # after every blueprint: an undeclared one stops the start here

    app.register_error_handler(HTTPException, _error_page)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(Exception, _server_error)
    app.after_request(_headers)
    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(mask_phone, "mask_phone")
    app.add_template_filter(age, "age")
    app.add_template_filter(text_in, "label")
    app.add_template_global(qr_for, "qr_for")
    app.add_template_global(hospital.public_address_problem, "public_address_problem")
    app.add_template_global(public_url, "public_url")
    app.add_template_global(questionnaires.thanks_to_pass_on, "thanks_to_pass_on")

    @app.context_processor
    def _globals():
        return {
            "hospital_name": i18n.hospital_name(),
            "demo_mode": app.config["WISHES_DEMO"],
            "kiosk_idle_seconds": app.config["WISHES_KIOSK_IDLE_SECONDS"],
            "kiosk_warning_seconds": app.config["WISHES_KIOSK_WARNING_SECONDS"],
        }
