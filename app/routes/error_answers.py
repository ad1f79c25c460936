"""The shared error answers of the OpenAPI document, one family per error shape.

An operation lists the statuses it can refuse with (`Doc.errors`); each refers to
`#/components/responses/<family><status>`: "Wm" (`{"error_message"}` on /v3 and /v1), "V1" (v1
sends: `{"success": false, "status"}`), "Native" (`{"error": {"code", "message"}}` on /api/v1)
and "Admin" (the same shape, with the admin API's texts). Sizes are `${...}` placeholders,
filled from the settings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.errors import DATABASE_PROBLEMS, STATUS_BY_CODE
from app.routes.apidoc import Model, Omitted, one_of
from app.routes.whatsmate_schemas import V1Error

Schema = dict[str, Any]


class WhatsmateError(Model):
    """Error body on the /v3 and /v1 (WhatsMate-compatible) paths."""

    error_message: str = Field(description="A precise, human-readable message.")


class ErrorDetail(Model):
    code: str = Field(
        description="Stable machine-readable code.",
        json_schema_extra=one_of(sorted(STATUS_BY_CODE)),
    )
    message: str = Field(description="A precise, human-readable message.")
    reason: str | Omitted = Field(
        None,
        description="With database_unavailable only: what is wrong with the database.",
        json_schema_extra=one_of(sorted(DATABASE_PROBLEMS)),
    )


def _inline_detail(schema: dict[str, Any]) -> None:
    # The detail is part of the error shape, not a schema of its own.
    schema["properties"]["error"] = ErrorDetail.model_json_schema()


class NativeError(Model):
    """Error body on the /api/v1 and /admin paths."""

    model_config = ConfigDict(json_schema_extra=_inline_detail)

    error: ErrorDetail


SEND_TEXTS = {
    400: "Malformed JSON, a missing field, text over ${text_chars} characters, a caption over "
    "${caption_chars} characters, a bad filename, undecodable base64, or media that is not of "
    "its kind.",
    401: "The X-WM-CLIENT-ID or X-WM-CLIENT-SECRET header is missing.",
    403: "The API key may not do this: it lacks the scope the operation needs "
    "(scope_missing), the instance is not one of those it is limited to "
    "(instance_forbidden), or it is used from an address outside its IP allow-list "
    "(ip_not_allowed). The message says which.",
    404: "Unknown instance (or an unknown path segment).",
    409: "The Idempotency-Key was already used within 24 h with a different request body.",
    413: "Decoded media over its limit (image ${image_bytes}, document ${document_bytes}, audio "
    "and voice note ${audio_bytes}), or a request body over ${largest_body} bytes, refused "
    "before it is read whole.",
    469: "The daily quota (${messages_per_day} messages a day, the day in ${day_timezone}) is "
    "consumed. Retry-After tells the seconds to the reset.",
    470: "The image, document, audio or voice_note is empty or missing.",
    471: "The destination number is invalid.",
    472: "The destination number has not registered with the gateway (or has opted out).",
    474: "Invalid client id or secret, or the client has expired or was revoked (the message "
    "says which).",
    503: "The database is down or refuses writes (unreachable, restarting, disk full, "
    "read-only, locked by another process); the message says which. Nothing was accepted "
    "(unless the message says the connection was lost while committing: then retry with the "
    "same Idempotency-Key). Retry-After tells when to try again; the gateway recovers by "
    "itself.",
}
ADMIN_TEXTS = {
    400: "Malformed JSON, a missing field, an invalid field value, or an unknown field (the "
    "message names it).",
    401: "The 'Authorization: Bearer <admin token>' header is missing or wrong.",
    404: "No such object.",
    409: "The object exists already.",
    471: "A phone number in the request is invalid.",
}
RETRY_AFTER = {
    469: "Seconds until the daily quota resets.",
    503: "Seconds to wait before trying again.",
}


def _codes(status: int) -> str:
    if status == 503:
        return "database_unavailable"
    if status == 403:  # an API key's limits (csrf and forbidden are the admin side's)
        return "instance_forbidden, ip_not_allowed, scope_missing"
    return ", ".join(sorted(code for code, s in STATUS_BY_CODE.items() if s == status))


Family = tuple[type[BaseModel], dict[int, str]]
FAMILIES: dict[str, Family] = {
    "Wm": (WhatsmateError, SEND_TEXTS),
    "V1": (V1Error, SEND_TEXTS),
    "Native": (
        NativeError,
        {s: f"{text} Error codes: {_codes(s)}." for s, text in SEND_TEXTS.items()},
    ),
    "Admin": (NativeError, ADMIN_TEXTS),
}


def error_responses(ref: Callable[[type[BaseModel]], Schema]) -> dict[str, Schema]:
    """`#/components/responses`: every family's answers, their bodies as `ref` gives them."""
    found: dict[str, Schema] = {}
    for family, (model, texts) in FAMILIES.items():
        for status, text in texts.items():
            answer: Schema = {"description": text}
            if status in RETRY_AFTER:
                answer["headers"] = {
                    "Retry-After": {
                        "description": RETRY_AFTER[status],
                        "required": True,
                        "schema": {"type": "integer", "minimum": 0},
                    }
                }
            answer["content"] = {"application/json": {"schema": ref(model)}}
            found[f"{family}{status}"] = answer
    return found
