"""Texts to patients: when their wish is claimed, fulfilled or declined, a patient who left a
mobile number and agreed to be contacted gets a short text through the hospital's SMS platform.

The text is queued in the move's transaction (`notifications.wish_moved`) and sent by the
worker like any other notification. It is in the language the patient wrote the wish in, and
carries the tracking code, the new state and the tracking page's link, and a link that stops
further texts; never the wish's words or anybody's name. The number is never copied into the
outbox: it is read from the wish when the text is sent, so a number erased since
(wishes/privacy) is never used.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from flask_babel import force_locale
from flask_babel import gettext as _

from .. import i18n
from . import store
from .notifier import DeliveryError, escape_for_log, mask_phone
from .outgoing import check_address, send

log = logging.getLogger("wishes.notifications")

DEFAULT_BODY = '{"phone": "{phone}", "text": "{text}"}'
PLACEHOLDERS = ("phone", "text", "code", "state", "language", "id")


def why_not_send(notification: Mapping[str, Any]) -> str | None:
    """Why a queued text must not go out any more (read when it is due), or None."""
    if notification.get("texts_stopped_at"):
        return store.STOPPED
    if not notification.get("phone"):
        return store.ERASED
    if not notification.get("contact_consent"):
        return store.NO_CONSENT
    return None


def stop_link(public_url: str, code: str, token: str, language: str) -> str:
    query = urlencode({"k": token, "lang": language})
    return f"{public_url.rstrip('/')}/t/{quote(code)}/stop?{query}"


def text_for(notification: Mapping[str, Any], public_url: str) -> str:
    """The words, in the patient's language: the code, the state, and the links when the
    hospital's public address is set (without it a phone could not open them)."""
    language = notification.get("language") or i18n.DEFAULT
    if language not in i18n.LANGUAGES:
        language = i18n.DEFAULT
    code = notification.get("tracking_code") or ""
    state = notification.get("message")
    with force_locale(i18n.BABEL_LOCALES[language]):
        if state == "claimed":
            text = _("【点亮微心愿】您的心愿（查询码 %(code)s）已有人认领，正在安排。", code=code)
        elif state == "fulfilled":
            text = _("【点亮微心愿】您的心愿（查询码 %(code)s）已经实现。", code=code)
        else:
            text = _(
                "【点亮微心愿】很抱歉，您的心愿（查询码 %(code)s）未能实现，原因请看进度页面。",
                code=code,
            )
        if public_url:
            page = f"{public_url.rstrip('/')}/t/{quote(code)}?lang={language}"
            text += " " + _("进度：%(link)s", link=page)
            if token := notification.get("texts_stop_token"):
                stop = stop_link(public_url, code, token, language)
                text += " " + _("不想再收到短信：%(link)s", link=stop)
    return text


def _values(notification: Mapping[str, Any], text: str) -> dict[str, str]:
    return {
        "phone": notification.get("phone") or "",
        "text": text,
        "code": notification.get("tracking_code") or "",
        "state": notification.get("message") or "",
        "language": notification.get("language") or i18n.DEFAULT,
        "id": str(notification.get("id") or ""),
    }


def fill(template: str, values: Mapping[str, str], escape: Callable[[str], str]) -> str:
    """Put each {placeholder}'s value, escaped for where it lands, into the template. Other
    braces (the body's own JSON) are left alone, so no str.format."""
    for name in PLACEHOLDERS:
        template = template.replace("{" + name + "}", escape(values.get(name, "")))
    return template


def json_escape(value: str) -> str:
    """A value inside a JSON string: quotes, backslashes and line breaks escaped."""
    return json.dumps(value, ensure_ascii=False)[1:-1]


class LogSender:
    """The default: the text goes to the log with the number masked (no SMS platform yet)."""

    def __init__(self, public_url: str = "") -> None:
        self.public_url = public_url

    def deliver(self, notification: dict[str, Any]) -> None:
        log.info(
            "text %s to %s: %s",
            notification.get("id"),
            mask_phone(notification.get("phone")),
            escape_for_log(text_for(notification, self.public_url)),
        )


class HttpSender:
    """The hospital's SMS platform as an HTTP gateway: URL, method, headers and a body template
    (WISHES_SMS_*); a placeholder in the URL is URL-encoded, in a JSON body JSON-escaped."""

    def __init__(
        self,
        url: str,
        *,
        method: str = "POST",
        headers: Mapping[str, str] | None = None,
        body: str = DEFAULT_BODY,
        secret: str = "",
        timeout: float = 5,
        public_url: str = "",
    ) -> None:
        self.url = check_address(url, "SMS gateway address")
        self.method = method.upper()
        self.headers = dict(headers or {})
        self.body = body
        self.secret = secret
        self.timeout = timeout
        self.public_url = public_url
        given = {name.lower(): value for name, value in self.headers.items()}
        self.content_type = given.get("content-type", "")
        if not self.content_type and self.method != "GET":
            self.content_type = (
                "application/json; charset=utf-8"
                if body.lstrip().startswith(("{", "["))
                else "text/plain; charset=utf-8"
            )
            self.headers["Content-Type"] = self.content_type

    def _escape(self) -> Callable[[str], str]:
        if "json" in self.content_type:
            return json_escape
        if "x-www-form-urlencoded" in self.content_type:
            return lambda value: quote(value, safe="")
        return str

    def deliver(self, notification: dict[str, Any]) -> int:
        values = _values(notification, text_for(notification, self.public_url))
        url = fill(self.url, values, lambda value: quote(value, safe=""))
        body = None if self.method == "GET" else fill(self.body, values, self._escape())
        return send(
            url,
            method=self.method,
            headers=self.headers,
            body=body.encode("utf-8") if body is not None else None,
            secret=self.secret,
            timeout=self.timeout,
        )


class NoGateway:
    """WISHES_SMS_SENDER=http without WISHES_SMS_URL: texts wait (and back off) until it is set."""

    def deliver(self, notification: dict[str, Any]) -> None:
        raise DeliveryError("WISHES_SMS_URL is not set")


def sender_from_config(config: Mapping[str, Any]) -> LogSender | HttpSender | NoGateway:
    public_url = config.get("WISHES_PUBLIC_URL") or ""
    if config.get("WISHES_SMS_SENDER", "log") != "http":
        return LogSender(public_url)
    url = (config.get("WISHES_SMS_URL") or "").strip()
    if not url:
        return NoGateway()
    return HttpSender(
        url,
        method=config.get("WISHES_SMS_METHOD") or "POST",
        headers=config.get("WISHES_SMS_HEADERS") or {},
        body=config.get("WISHES_SMS_BODY") or DEFAULT_BODY,
        secret=config.get("WISHES_SMS_SECRET") or "",
        timeout=config.get("WISHES_SMS_TIMEOUT") or 5,
        public_url=public_url,
    )
