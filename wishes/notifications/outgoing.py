"""Requests to other systems (an SMS gateway, the hospital's webhook receiver), signed, and the
outbox's dispatch of each queued row to what delivers it.

One HTTP helper for both: a body, optionally signed with HMAC-SHA256 in `X-Wishes-Signature:
sha256=<hex>` so the receiver knows it came from here; any 2xx is delivered, anything else
(an error status, a timeout, a refused connection, an answer that is not HTTP) raises
`DeliveryError` and the worker retries it with the outbox's backoff.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from . import store
from .notifier import DeliveryError, Notifier, WebhookNotifier, _NoRedirect

SIGNATURE_HEADER = "X-Wishes-Signature"
_MAX_RESPONSE_BYTES = 64 * 1024


def signature(secret: str, body: bytes) -> str:
    """The header's value: what a receiver recomputes from the raw body and its copy of the
    secret, and compares (hmac.compare_digest)."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def check_address(url: str, what: str) -> str:
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"{what} must start with http:// or https://: {url!r}")
    return url


def send(
    url: str,
    *,
    method: str = "POST",
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    secret: str = "",
    timeout: float = 5,
) -> int:
    """Send one request and return its HTTP status (2xx); DeliveryError otherwise. Redirects
    are not followed: a receiver that redirects is misconfigured."""
    headers = dict(headers or {})
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, body or b"")
    request = urllib.request.Request(
        url, data=body if method != "GET" else None, headers=headers, method=method
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            response.read(_MAX_RESPONSE_BYTES)
            status = response.status
    except urllib.error.HTTPError as error:
        error.close()
        raise DeliveryError(f"HTTP {error.code}", error.code) from error
    except (OSError, ValueError, http.client.HTTPException) as error:
        # refused, unreachable, timed out, a bad address; an answer that is not HTTP at all
        raise DeliveryError(f"{type(error).__name__}: {error}") from error
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status}", status)
    return status


class EventWebhook:
    """Webhooks out: POSTs the state change's JSON, frozen when it was queued, signed with
    WISHES_WEBHOOK_SECRET. `X-Wishes-Delivery` is the same on every retry and replay, so a
    receiver can ignore one it has seen."""

    def __init__(self, url: str, secret: str = "", timeout: float = 5) -> None:
        self.url = check_address(url, "webhook address")
        self.secret = secret
        self.timeout = timeout

    def deliver(self, notification: dict[str, Any]) -> int:
        return send(
            self.url,
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "X-Wishes-Event": "wish.state_changed",
                "X-Wishes-Delivery": str(notification["id"]),
            },
            body=(notification.get("payload") or "{}").encode("utf-8"),
            secret=self.secret,
            timeout=self.timeout,
        )


class NoWebhook:
    """State changes queued while a webhook address was set, which is gone now: they wait
    (and back off) until it is set again, or a replay."""

    def deliver(self, notification: dict[str, Any]) -> None:
        raise DeliveryError("WISHES_WEBHOOK_URL is not set")


class Outbox:
    """The one outbox's dispatch: a text to the SMS sender, a state change to the webhook
    receiver, a staff member's inbox item to their branch's webhook when it has one, everything
    else (the branches' notifications) to the branch notifier."""

    def __init__(
        self, branch: Notifier, texts: Notifier, events: Notifier, public_url: str = ""
    ) -> None:
        self.branch = branch
        self.texts = texts
        self.events = events
        self.public_url = public_url

    def deliver(self, notification: dict[str, Any]) -> Any:
        kind = notification["kind"]
        if kind == store.PATIENT_TEXT:
            return self.texts.deliver(notification)
        if kind == store.STATE_CHANGE:
            return self.events.deliver(notification)
        if kind == store.INBOX and (url := (notification.get("branch_webhook_url") or "").strip()):
            # a staff member's inbox item, on their branch's own webhook (its group robot)
            return WebhookNotifier(url, public_url=self.public_url).deliver(notification)
        return self.branch.deliver(notification)


def events_from_config(config: Mapping[str, Any]) -> Notifier:
    url = (config.get("WISHES_WEBHOOK_URL") or "").strip()
    if not url:
        return NoWebhook()
    return EventWebhook(url, config.get("WISHES_WEBHOOK_SECRET") or "")
