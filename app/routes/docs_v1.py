"""The OpenAPI description of WhatsMate's legacy v1 paths (app/routes/whatsmate_v1.py); merged
into the document by app/routes/docs.py."""

from __future__ import annotations

from typing import Any

from app.routes.docs import (
    CLIENT_AUTH,
    SEND_ERROR_STATUSES,
    Schema,
    _media_text,
    _number,
    _status_texts,
    array,
    body,
    boolean,
    errors,
    json_content,
    obj,
    ok,
    operation,
    param_ref,
    ref,
    string,
)
from app.routes.whatsmate_v1 import V1_KINDS
from app.settings import LimitsSettings

TAG_V1 = "WhatsMate v1 (legacy)"
TAGS = [
    {
        "name": TAG_V1,
        "description": (
            "WhatsMate's paths from before its v3 API, for old clients; new code should use v3. "
            'They answer {"success": true, "status": "queued", "id"} and, on an error, the v3 '
            'status code with {"success": false, "status": "<what is wrong>"}. Credentials, '
            "Idempotency-Key, validation, limits and the daily quota are those of v3."
        ),
    }
]
_SHAPES = ("single", "batch")
_TARGETS = {"single": "a number", "batch": "several numbers", "group": "a group"}
_ARTICLED = {"photo": "a photo", "document": "a document", "audio": "an audio file"}


def _numbers(limits: LimitsSettings) -> Schema:
    return {
        **array(
            _number("a destination"),
            "Destination numbers, each registered; one message is queued for each, all or "
            "none: one invalid or unregistered number refuses the whole request, naming it. "
            "A number given twice is refused. The daily quota counts every message.",
        ),
        "minItems": 1,
        "maxItems": limits.max_recipients,
    }


def _target(shape: str, limits: LimitsSettings) -> tuple[dict[str, Schema], list[str]]:
    if shape == "batch":
        return {"numbers": _numbers(limits)}, ["numbers"]
    return {"number": _number("the destination")}, ["number"]


def _text_schema(shape: str, limits: LimitsSettings) -> Schema:
    message = string("The text to send.", minLength=1, maxLength=limits.text_chars)
    if shape == "group":
        return obj(
            {
                "group": string(
                    "Title of the Telegram group; the gateway account must be a member. "
                    "Without group_admin the title must name one group only.",
                    minLength=1,
                    maxLength=255,
                ),
                "group_admin": _number("optional: the number of the group's creator"),
                "message": message,
            },
            ("group", "message"),
            "Send a text to a group (v1).",
        )
    properties, required = _target(shape, limits)
    return obj(
        {**properties, "message": message},
        (*required, "message"),
        f"Send a text to {'several numbers' if shape == 'batch' else 'a number'} (v1).",
    )


def _file_schema(shape: str, segment: str, limits: LimitsSettings) -> Schema:
    kind = V1_KINDS[segment]
    properties, required = _target(shape, limits)
    properties[kind] = {**string(_media_text(kind, limits)), "contentEncoding": "base64"}
    required.append(kind)
    if kind != "image":
        properties["filename"] = string(
            "File name shown to the recipient; path separators, control characters, bidi "
            'controls and <>:"|?* are removed.',
            minLength=1,
            maxLength=255,
        )
        required.append("filename")
    properties["caption"] = string("Optional caption.", maxLength=limits.caption_chars)
    return obj(properties, tuple(required), f"Send {segment} to one or more numbers (v1).")


def schema_name(shape: str, what: str) -> str:
    return "V1" + shape.title() + what.title() + "Message"


def schemas(limits: LimitsSettings) -> dict[str, Schema]:
    found: dict[str, Schema] = {
        "V1Queued": obj(
            {
                "success": boolean("Always true on 200.", const=True),
                "status": string("What happened: 'queued'.", const="queued"),
                "id": string("Message id, for GET /api/v1/messages/{id}.", format="uuid"),
            },
            ("success", "status", "id"),
            "The message is durably stored and queued for sending.",
        ),
        "V1BatchQueued": obj(
            {
                "success": boolean("Always true on 200.", const=True),
                "status": string("What happened: 'queued'.", const="queued"),
                "ids": array(
                    string("Message id.", format="uuid"), "One id per number, in their order."
                ),
                "id": string("The first of ids.", format="uuid"),
            },
            ("success", "status", "ids", "id"),
            "Every message is durably stored and queued for sending.",
        ),
        "V1Error": obj(
            {
                "success": boolean("Always false on an error.", const=False),
                "status": string("A precise, human-readable message (the v3 error_message)."),
            },
            ("success", "status"),
            "Error body on the legacy v1 send paths.",
        ),
        "V1LocationMessage": obj(
            {
                "latitude": {"type": "number"},
                "longitude": {"type": "number"},
            },
            (),
            "A location (not supported yet).",
        ),
    }
    for shape in ("single", "batch", "group"):
        found[schema_name(shape, "text")] = _text_schema(shape, limits)
    for shape in _SHAPES:
        for segment in V1_KINDS:
            found[schema_name(shape, segment)] = _file_schema(shape, segment, limits)
    return found


def responses(limits: LimitsSettings, largest_body: int) -> dict[str, Any]:
    retry_after = {
        469: "Seconds until the daily quota resets.",
        503: "Seconds to wait before trying again.",
    }
    found: dict[str, Any] = {}
    for status, text in _status_texts(limits, largest_body).items():
        answer: dict[str, Any] = {"description": text}
        if status in retry_after:
            answer["headers"] = {
                "Retry-After": {
                    "description": retry_after[status],
                    "required": True,
                    "schema": {"type": "integer", "minimum": 0},
                }
            }
        answer["content"] = json_content(ref("V1Error"))
        found[f"V1{status}"] = answer
    return found


def _send(path_what: str, summary: str, description: str, request: str, batch: bool) -> Schema:
    op = operation(
        "v1" + "".join(part.title() for part in path_what.split("/")),
        TAG_V1,
        summary,
        description,
        {
            "200": ok("Queued.", ref("V1BatchQueued" if batch else "V1Queued")),
            **errors("V1", *SEND_ERROR_STATUSES),
        },
        security=CLIENT_AUTH,
        parameters=[param_ref("Instance"), param_ref("IdempotencyKey")],
        request_body=body(ref(request), "What to send and to whom."),
    )
    op["deprecated"] = True
    return op


def paths() -> dict[str, Any]:
    found: dict[str, Any] = {}
    same = (
        "Like the v3 path of the same kind, in the v1 envelope. The same Idempotency-Key with "
        "the same body within 24 h returns the first answer and sends once."
    )
    batch_note = (
        " One message per number, all accepted or none; the answer lists their ids in the "
        "order of numbers."
    )
    for shape in ("single", "batch", "group"):
        note = batch_note if shape == "batch" else ""
        target = _TARGETS[shape]
        found[f"/v1/telegram/{shape}/message/{{instance}}"] = {
            "post": _send(
                f"{shape}/text",
                f"Send a text to {target} (v1)",
                same + note,
                schema_name(shape, "text"),
                shape == "batch",
            )
        }
    found["/v1/telegram/send/message/{instance}"] = {
        "post": _send(
            "send/text",
            "Send a text to one person (v1, the 2016 name)",
            "The first name of /v1/telegram/single/message/{instance}, answered the same way.",
            schema_name("single", "text"),
            False,
        )
    }
    for shape in _SHAPES:
        note = batch_note if shape == "batch" else ""
        for segment in V1_KINDS:
            found[f"/v1/telegram/{shape}/{segment}/binary/{{instance}}"] = {
                "post": _send(
                    f"{shape}/{segment}",
                    f"Send {_ARTICLED[segment]} to {_TARGETS[shape]} (v1)",
                    same + note,
                    schema_name(shape, segment),
                    shape == "batch",
                )
            }
        location = operation(
            f"v1{shape.title()}Location",
            TAG_V1,
            f"Send a location ({shape}, v1): not supported",
            "Location messages are not supported by this gateway yet: the request is refused "
            "with 400 and a message saying so (after the credentials are checked).",
            errors("V1", 400, 401, 474),
            security=CLIENT_AUTH,
            parameters=[param_ref("Instance")],
            request_body=body(ref("V1LocationMessage"), "The place.", required=False),
        )
        location["deprecated"] = True
        found[f"/v1/telegram/{shape}/location/{{instance}}"] = {"post": location}
    found["/v1/telegram/status/{instance}"] = {
        "get": operation(
            "legacyStatus",
            TAG_V1,
            "Instance status (WhatsMate shape)",
            "Whether the instance is logged in and connected: "
            '{"status": "up"|"down", "instance": n}. Errors are {"error_message": ...}.',
            {
                "200": ok("The status.", ref("LegacyStatus")),
                **errors("Wm", 401, 404, 474),
            },
            security=CLIENT_AUTH,
            parameters=[param_ref("Instance")],
        )
    }
    return found
