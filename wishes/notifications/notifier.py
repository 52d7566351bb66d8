"""How a queued notification reaches people: a log line, or a webhook such as a WeChat robot.

A notifier only delivers; the worker decides what is due and records the outcome. A failed
delivery raises `DeliveryError`, and the worker retries it later with backoff.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

from .store import INBOX

log = logging.getLogger("wishes.notifications")

# Overdue wishes still waiting for triage have no branch: the Party-building office triages them.
TRIAGE_LABEL = "党建工作部(分诊)"
SNIPPET_CHARS = 60
# The state an overdue wish was in when it was queued (kept in `message`): what it waits for.
WAITING_FOR = {"open": "认领", "triage": "认领", "claimed": "办结", "in_progress": "办结"}
# A staff member's inbox item on the branch's webhook (wishes/inbox), by its kind.
INBOX_WORDS = {
    "new_wish": "支部有新心愿",
    "assigned": "有心愿指派给您",
    "overdue": "心愿已超时",
    "sent_back": "患者评价不满意，心愿被退回",
}

# A Chinese mobile number typed into the wish itself: masked as 138****1234 before it leaves
# the hospital in a webhook or lands in a log file.
# Also as people write it: 138 1234 5678, 138-1234-5678, in full-width digits (the form takes
# all of them). Python's \d is any decimal digit, full-width ones included.
_MOBILE = re.compile(r"(?<!\d)([1１][3-9３-９]\d)[ \-－\u3000]?(\d{4})[ \-－\u3000]?(\d{4})(?!\d)")
# Anything a log viewer could take as the end of a line, or a terminal as a command.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
_MAX_RESPONSE_BYTES = 64 * 1024


class DeliveryError(Exception):
    """A notification could not be delivered this time; the worker will retry it. `status`:
    the HTTP status of the answer, when there was one (the delivery log shows it)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Notifier(Protocol):
    def deliver(self, notification: dict[str, Any]) -> int | None:
        """Deliver one notification (a row of `store.due`), or raise DeliveryError; the HTTP
        status of the answer, when there was one, goes into the delivery log."""


def mask_phone(phone: str | None) -> str:
    """138****1234: enough for a patient to recognise the number, not enough to call it."""
    if not phone:
        return ""
    return phone[:3] + "****" + phone[-4:] if len(phone) == 11 else "****"


def _snippet(text: str | None) -> str:
    text = _MOBILE.sub(r"\1****\3", (text or "").strip())
    return text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS] + "…"


def message_for(notification: Mapping[str, Any], public_url: str = "") -> str:
    """The text people read, in one place so the log and every webhook say the same thing."""
    branch = notification.get("branch_name") or notification.get("branch_code") or TRIAGE_LABEL
    wish = _snippet(notification.get("wish_text"))
    code = notification.get("tracking_code") or "—"
    if notification["kind"] == "overdue":
        waiting = WAITING_FOR.get(notification.get("message") or "", "处理")
        text = f"【点亮微心愿】心愿已超时未{waiting}：{wish}（{branch}，查询码 {code}）"
    elif notification["kind"] == INBOX:
        what = INBOX_WORDS.get(notification.get("message") or "", "待办")
        people = "、".join(json.loads(notification.get("payload") or "{}").get("people", []))
        text = f"【点亮微心愿】{people}：{what}：{wish}（{branch}，查询码 {code}）"
    else:
        text = f"【点亮微心愿】新心愿转到{branch}：{wish}（查询码 {code}）"
    if public_url and notification.get("wish_id") is not None:
        text += f" {public_url.rstrip('/')}/board/wishes/{notification['wish_id']}"
    return text


def mask_numbers(text: str) -> str:
    """Every mobile number in `text` as 138****1234: what a gateway's error message may echo
    back must not keep a patient's number in the delivery log."""
    return _MOBILE.sub(r"\1****\3", text)


def escape_for_log(text: str) -> str:
    """Make user text one harmless line: a patient must not be able to forge log lines."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class LogNotifier:
    """The default for sites without a webhook: one log line per notification, with ids only
    (logs hold no wish text, names or phone numbers; the board shows the wish)."""

    def __init__(self, public_url: str = "") -> None:
        self.public_url = public_url

    def deliver(self, notification: dict[str, Any]) -> None:
        log.info(
            "notification %s (%s) for %s: wish %s, tracking code %s",
            notification.get("id"),
            escape_for_log(str(notification.get("kind"))),
            escape_for_log(str(notification.get("branch_code") or "triage")),
            notification.get("wish_id"),
            escape_for_log(str(notification.get("tracking_code") or "—")),
        )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook that redirects is misconfigured; following it would resend the POST as GET."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class WebhookNotifier:
    """POSTs the enterprise-WeChat group-robot format, which other chat webhooks accept too."""

    def __init__(self, url: str, timeout: float = 5, public_url: str = "") -> None:
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"webhook address must start with http:// or https://: {url!r}")
        self.url = url
        self.timeout = timeout
        self.public_url = public_url
        self._opener = urllib.request.build_opener(_NoRedirect)

    def deliver(self, notification: dict[str, Any]) -> None:
        payload = {
            "msgtype": "text",
            "text": {"content": message_for(notification, self.public_url)},
        }
        request = urllib.request.Request(
            self.url,
            data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
            method="POST",
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                body = response.read(_MAX_RESPONSE_BYTES)
        except urllib.error.HTTPError as error:
            error.close()
            raise DeliveryError(f"HTTP {error.code}", error.code) from error
        except (OSError, ValueError, http.client.HTTPException) as error:
            # URLError, refused, timeout, bad address; an answer that is not HTTP at all
            raise DeliveryError(f"{type(error).__name__}: {error}") from error
        # WeChat answers HTTP 200 with {"errcode": 93000, ...} for a wrong key or a rate limit.
        try:
            answer = json.loads(body) if body.strip() else {}
        except ValueError:
            return
        if isinstance(answer, dict) and answer.get("errcode") not in (None, 0):
            raise DeliveryError(f"errcode {answer.get('errcode')}: {answer.get('errmsg', '')}")


def notifier_from_config(config: Mapping[str, Any]) -> Notifier:
    """The webhook when WISHES_NOTIFY_WEBHOOK_URL is set, else the log."""
    public_url = config.get("WISHES_PUBLIC_URL") or ""
    url = (config.get("WISHES_NOTIFY_WEBHOOK_URL") or "").strip()
    return WebhookNotifier(url, public_url=public_url) if url else LogNotifier(public_url)
