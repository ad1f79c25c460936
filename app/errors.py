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
    # media by URL (outbound/fetch.py)
    "media_target_forbidden": 400,
    "media_unreachable": 400,
    "media_origin_error": 400,
    "media_fetch_timeout": 400,
    # a send's callback_url (outbound/callback_url.py)
    "invalid_callback_url": 400,
    "missing_credentials": 401,
    "unauthorized": 401,
    "csrf": 403,  # a console (cookie) request without its X-CSRF-Token
    "forbidden": 403,
    # an API client's key (app/client_limits.py)
    "scope_missing": 403,  # lacks the scope the operation needs
    "instance_forbidden": 403,  # limited to other instances
    "ip_not_allowed": 403,  # used from an address outside its ip_allow list
    "not_found": 404,
    "unknown_instance": 404,
    "method_not_allowed": 405,
    "idempotency_conflict": 409,
    "conflict": 409,
    # editing, deleting or reacting to a message (PATCH/DELETE /api/v1/messages/{id}, ...)
    "message_not_sent": 409,
    "message_deleted": 409,
    "not_editable": 409,
    "edit_window_expired": 409,
    "not_cancellable": 409,
    # POST /api/v1/event-queues/{name}/ack of a seq the queue has not handed out
    "ack_beyond_delivered": 409,  # POST /api/v1/messages/{id}/cancel of a message no longer queued
    "payload_too_large": 413,
    "request_timeout": 408,  # headers or body too slow (app/http_limits.py)
    "unsupported_media_type": 415,
    "too_many_attempts": 429,  # a wrong admin token after repeated wrong ones (app/lockout.py)
    "quota_exceeded": 469,
    "media_missing": 470,
    "number_invalid": 471,
    "recipient_not_registered": 472,
    "invalid_credentials": 474,
    "client_expired": 474,
    "internal_error": 500,
    "unavailable": 503,
    "database_unavailable": 503,  # DatabaseUnavailable: down, full, read-only or locked
    "too_many_streams": 503,  # [event_stream] max_readers streams are open already
    # logging an instance in
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


class DatabaseUnavailable(ApiError):
    """The database cannot be reached or refuses writes: a 503 with `Retry-After`.

    `reason` is stable and machine-readable: `unreachable`, `connection_lost`, `starting`,
    `disk_full`, `read_only`, `locked`, `io_error`, `overloaded`. `detail` says what the driver
    reported, in a few words ("connection refused"). Built by `app.db.database_unavailable`,
    the one place that classifies driver errors; answered like every ApiError (on the WhatsMate
    surface `{"error_message"}`, elsewhere `{"error": {"code": "database_unavailable", ...}}`).

    `outcome_unknown`: the connection was lost while the transaction was committing, so the
    database may have stored it; the message says so, and that a retry with the same
    Idempotency-Key is safe.
    """

    def __init__(
        self,
        reason: str,
        retry_after_s: int,
        *,
        detail: str | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        self.reason = reason
        self.retry_after_s = max(1, int(retry_after_s))
        self.detail = detail
        self.outcome_unknown = outcome_unknown
        super().__init__(
            "database_unavailable",
            self._describe(),
            headers={"Retry-After": str(self.retry_after_s)},
            extra={"reason": reason},
        )

    def _describe(self) -> str:
        what = DATABASE_PROBLEMS.get(self.reason, "The database is unavailable")
        if self.detail:
            what = f"{what} ({self.detail})"
        if self.outcome_unknown:
            consequence = (
                "the connection was lost while the request was being committed, so it may or "
                "may not have been stored: retry with the same Idempotency-Key to be safe"
            )
        else:
            consequence = "nothing was accepted"
        return f"{what}; {consequence}. Retry in {self.retry_after_s} s."

    def with_outcome_unknown(self) -> DatabaseUnavailable:
        """The same error, for a failure during COMMIT of a lost connection."""
        copy = DatabaseUnavailable(
            self.reason, self.retry_after_s, detail=self.detail, outcome_unknown=True
        )
        copy.__cause__ = self.__cause__
        return copy


DATABASE_PROBLEMS: dict[str, str] = {
    "unreachable": "The database is unreachable",
    "connection_lost": "The connection to the database was lost",
    "starting": "The database is starting up or shutting down",
    "disk_full": "The database's disk is full",
    "read_only": "The database is read-only",
    "locked": "The database is locked by another process",
    "io_error": "The database's disk failed to read or write",
    "overloaded": "The database is overloaded",
}
