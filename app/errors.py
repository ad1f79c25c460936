"""Error types and the one table that maps them to HTTP status codes and bodies."""

from __future__ import annotations

from typing import Any

# Stable error code -> HTTP status. The WhatsMate surface shows only the message; the native
# surface (/api/v1, /admin) shows both.
STATUS_BY_CODE: dict[str, int] = {
    "bad_request": 400,
    "invalid_json": 400,
    "missing_field": 400,
    "invalid_field": 400,
    "text_too_long": 400,
    "caption_too_long": 400,
    "invalid_filename": 400,
    "invalid_base64": 400,
    "media_type_mismatch": 400,
    "missing_credentials": 401,
    "unauthorized": 401,
    "csrf": 403,  # a console (cookie) request without its X-CSRF-Token
    "forbidden": 403,
    "not_found": 404,
    "unknown_instance": 404,
    "method_not_allowed": 405,
    "idempotency_conflict": 409,
    "conflict": 409,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "too_many_attempts": 429,  # console sign-in after repeated wrong tokens
    "quota_exceeded": 469,
    "media_missing": 470,
    "number_invalid": 471,
    "recipient_not_registered": 472,
    "invalid_credentials": 474,
    "client_expired": 474,
    "internal_error": 500,
    "unavailable": 503,
    # logging an instance in (SPEC §5)
    "phone_invalid": 400,
    "phone_unregistered": 400,
    "phone_banned": 400,
    "code_invalid": 400,
    "code_expired": 400,
    "password_invalid": 400,
    "qr_expired": 400,
    "login_failed": 400,
    "no_login": 409,
    "already_logged_in": 409,
    "not_logged_in": 409,
    "not_configured": 409,
    "flood_wait": 429,
    "unreachable": 503,
    "invalid_image": 400,
    # the account's sessions
    "current_session": 409,  # the gateway's own: log out to end it
    "session_too_new": 409,  # FRESH_RESET_AUTHORISATION_FORBIDDEN
    # asking @SpamBot about the account's standing
    "spambot_unrecognised": 502,  # it answered, in words the gateway cannot read
    "spambot_timeout": 504,  # it did not answer in time
}


class ApiError(Exception):
    """An error answered to an HTTP caller. `code` is stable; `message` is for humans."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if code not in STATUS_BY_CODE:
            raise ValueError(f"unknown error code {code}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers or {}
        # More fields of the native error body (e.g. a FloodWait's `seconds`).
        self.extra = extra or {}

    @property
    def status(self) -> int:
        return STATUS_BY_CODE[self.code]

    def whatsmate_body(self) -> dict[str, Any]:
        return {"error_message": self.message}

    def native_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.extra}}


class NotFound(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__("not_found", message)


class BadRequest(ApiError):
    def __init__(self, message: str, code: str = "bad_request") -> None:
        super().__init__(code, message)
