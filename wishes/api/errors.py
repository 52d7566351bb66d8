"""Every refusal of the API as JSON: `{"error": {"code", "message", "fields"?}}`, with the
status the OpenAPI document declares for it. Nothing here renders a page."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from ..notifications import escape_for_log

PREFIX = "/api/"

# A status werkzeug raised -> the code the document names for it.
BY_STATUS = {
    400: "bad_request",
    401: "token_missing",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "illegal_move",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_field",
    429: "rate_limited",
}
MESSAGES = {
    "malformed_json": "the body is not valid JSON",
    "bad_request": "the request cannot be read",
    "unsupported_media_type": "send the body as application/json",
    "body_too_large": "the body is larger than the API takes",
    "invalid_field": "some fields are not valid",
    "unknown_field": "the body has fields this operation does not take",
    "token_missing": "this operation needs a staff token: Authorization: Bearer <token>",
    "token_invalid": "the token is not a valid token",
    "token_expired": "the token has expired",
    "token_revoked": "the token was revoked",
    "insufficient_scope": "the token's scopes do not allow this operation",
    "forbidden": "the token's user may not do this to this wish",
    "not_found": "no such thing",
    "method_not_allowed": "this path does not take this method",
    "illegal_move": "the wish's state does not allow this move",
    "already_claimed": "someone claimed the wish first",
    "branch_changed": "the wish was sent to another branch meanwhile",
    "claimer_changed": "the wish was handed back or claimed by someone else meanwhile",
    "same_branch": "the wish is at that branch already",
    "questionnaire_closed": "the questionnaire is not open today",
    "rate_limited": "too many requests from this address: wait and try again",
    "server_error": "something went wrong on the server; it is logged",
}


class ApiError(Exception):
    """Raised anywhere in a view: answered as the JSON error it describes."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str | None = None,
        *,
        fields: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(code)
        self.status, self.code, self.fields, self.headers = status, code, fields, headers or {}
        self.message = message or MESSAGES[code]


def is_api_request() -> bool:
    return request.path.startswith(PREFIX)


def error_response(error: ApiError) -> Response:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.fields:
        body["fields"] = error.fields
    response = jsonify({"error": body})
    response.status_code = error.status
    response.headers.update(error.headers)
    response.headers["Cache-Control"] = "no-store"
    return response


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """webargs' nested messages ({"json": {"answers": {"x": [...]}}}) as "answers.x": [...]."""
    if isinstance(messages, list):
        return {prefix or "_body": [str(m) for m in messages]}
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = "_body" if key == "_schema" else str(key)
            flat.update(_flatten(value, f"{prefix}.{name}" if prefix else name))
    return flat


def from_http(error: HTTPException) -> ApiError:
    """A werkzeug or webargs refusal (webargs puts its messages on `error.data`)."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    messages = data.get("messages")
    headers: dict[str, str] = dict(data.get("headers") or {})
    if status == 405 and getattr(error, "valid_methods", None):
        headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
    if messages is not None and status == 400:  # webargs: the body is not JSON at all
        return ApiError(400, "malformed_json", headers=headers)
    if messages is not None:
        fields = {
            name: found
            for location in messages.values()
            for name, found in _flatten(location).items()
        }
        unknown = any("Unknown field." in found for found in fields.values())
        return ApiError(
            422, "unknown_field" if unknown else "invalid_field", fields=fields, headers=headers
        )
    code = BY_STATUS.get(status)
    if code is None:
        return ApiError(500, "server_error")
    return ApiError(status, code, headers=headers)


def handle_http(error: HTTPException) -> Response:
    return error_response(from_http(error))


def handle_api_error(error: ApiError) -> Response:
    return error_response(error)


def handle_unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return handle_http(error)
    current_app.logger.exception(
        "unhandled error on %s %s", request.method, escape_for_log(request.path)
    )
    return error_response(ApiError(500, "server_error"))
