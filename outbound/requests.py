"""Turning request bodies (WhatsMate v1 and v3, native) into validated SendRequests (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.errors import ApiError
from app.settings import LimitsSettings
from app.telegram.port import MEDIA_KINDS, MediaKind
from outbound.send_request import SendRequest
from outbound.validation import (
    CheckedMedia,
    check_caption,
    check_filename,
    check_media,
    check_text,
    decode_base64,
    is_message_id,
    limit_for,
    normalize_number,
)

KINDS = ("text", *MEDIA_KINDS)
KIND_ALIASES = {"voice": "voice_note", "photo": "image"}


def parse_kind(raw: str) -> str:
    kind = KIND_ALIASES.get(raw, raw)
    if kind not in KINDS:
        raise ApiError("not_found", f"Unknown message kind {raw!r}; use one of {', '.join(KINDS)}")
    return kind


def _group_target(data: dict[str, Any]) -> tuple[str, str]:
    name = data.get("group_name")
    if name is None or name == "":
        raise ApiError("missing_field", "Missing field 'group_name'")
    if not isinstance(name, str) or not name.strip() or len(name) > 255 or "\x00" in name:
        raise ApiError("invalid_field", "'group_name' must be a non-empty string of at most 255")
    admin = data.get("group_admin")
    if admin is None or admin == "":
        raise ApiError("missing_field", "Missing field 'group_admin'")
    try:
        admin_number = normalize_number(admin, "group_admin")
    except ApiError as exc:
        raise ApiError("invalid_field", exc.message.replace("Destination", "Group admin")) from exc
    return name.strip(), admin_number


@dataclass(frozen=True)
class Content:
    """What is sent, apart from to whom: a text, or a medium with its optional caption."""

    kind: str
    text: str | None = None
    media: CheckedMedia | None = None
    caption: str | None = None


def content(kind: str, data: dict[str, Any], limits: LimitsSettings) -> Content:
    """The text (`message`) or the medium (base64 in the field named like the kind,
    `filename`, `caption`) of a WhatsMate body; v1 and v3 name them alike."""
    if kind == "text":
        return Content("text", text=check_text(data.get("message"), limits))
    media_kind: MediaKind = kind  # type: ignore[assignment]
    caption = check_caption(data.get("caption"), limits)
    filename = check_filename(data.get("filename"), required=media_kind != "image")
    raw = decode_base64(media_kind, data.get(media_kind), limits)
    media = check_media(media_kind, raw, filename)
    return Content(media_kind, media=media, caption=caption)


def _request(
    instance: int,
    what: Content,
    to_number: str | None,
    group_name: str | None,
    group_admin: str | None,
) -> SendRequest:
    """One send of the checked content to a number or a group (v1 and v3 alike)."""
    return SendRequest(
        instance=instance,
        kind=what.kind,
        to_number=to_number,
        group_name=group_name,
        group_admin=group_admin,
        text=what.text,
        media=what.media,
        caption=what.caption,
    )


def _single_number(data: dict[str, Any]) -> str:
    if data.get("number") in (None, ""):
        raise ApiError("number_invalid", "Destination number is invalid: 'number' is missing")
    return normalize_number(data.get("number"))


def whatsmate_request(
    scope: str, kind: str, instance: int, data: dict[str, Any], limits: LimitsSettings
) -> SendRequest:
    """Validate a /v3/telegram/{scope}/{kind}/message/{instance} body."""
    to_number = group_name = group_admin = None
    if scope == "group":
        group_name, group_admin = _group_target(data)
    else:
        to_number = _single_number(data)
    return _request(instance, content(kind, data, limits), to_number, group_name, group_admin)


def batch_numbers(data: dict[str, Any], max_recipients: int) -> list[str]:
    """The `numbers` of a v1 batch, normalised, every one checked before anything is sent.

    A number given twice (after normalisation: '+34 612...' is '34612...') refuses the
    request: sending twice is rarely meant, and dropping one would break the one-id-per-number
    order of the answer.
    """
    raw = data.get("numbers")
    if raw is None or raw == []:
        raise ApiError("missing_field", "Missing field 'numbers' (a list of phone numbers)")
    if not isinstance(raw, list):
        raise ApiError("invalid_field", "'numbers' must be a list of phone numbers")
    if len(raw) > max_recipients:
        raise ApiError(
            "invalid_field",
            f"'numbers' lists {len(raw)} numbers; at most {max_recipients} are accepted at once",
        )
    numbers: list[str] = []
    seen: dict[str, int] = {}
    for position, value in enumerate(raw):
        try:
            number = normalize_number(value, f"numbers[{position}]")
        except ApiError as exc:
            raise ApiError(
                exc.code, f"{exc.message} (numbers[{position}]); nothing was sent"
            ) from exc
        if number in seen:
            raise ApiError(
                "invalid_field",
                f"'numbers' lists {number} twice (numbers[{seen[number]}] and "
                f"numbers[{position}]); give each number once",
            )
        seen[number] = position
        numbers.append(number)
    return numbers


def v1_requests(
    target: str, kind: str, instance: int, data: dict[str, Any], limits: LimitsSettings
) -> list[SendRequest]:
    """Validate a legacy /v1/telegram/{single|batch|group}/... body: one request per message.

    `target` is single (`number`), batch (`numbers`: one message each, the medium decoded
    once) or group (`group`: the group's title; `group_admin` optional, and without it the
    title alone must name one group).
    """
    if target == "batch":
        numbers: list[str | None] = list(batch_numbers(data, limits.max_recipients))
        group_name = group_admin = None
    elif target == "group":
        numbers = [None]
        group_name, group_admin = _v1_group(data)
    else:
        numbers = [_single_number(data)]
        group_name = group_admin = None
    what = content(kind, data, limits)
    return [_request(instance, what, number, group_name, group_admin) for number in numbers]


def _v1_group(data: dict[str, Any]) -> tuple[str, str | None]:
    name = data.get("group")
    if name is None or name == "":
        raise ApiError("missing_field", "Missing field 'group' (the group's name)")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise ApiError("invalid_field", "'group' must be a non-empty string of at most 255")
    admin = data.get("group_admin")
    if admin is None or admin == "":
        return name.strip(), None
    return _group_target({"group_name": name, "group_admin": admin})


def native_request(
    data: dict[str, Any], limits: LimitsSettings, upload: tuple[bytes, str | None] | None = None
) -> SendRequest:
    """Validate a POST /api/v1/messages body (JSON, or multipart with an uploaded file)."""
    instance = data.get("instance", 1)
    if isinstance(instance, str) and instance.isascii() and instance.isdigit():
        instance = int(instance)  # ASCII only: int() would read '١' (Arabic-Indic) as 1
    if not isinstance(instance, int) or isinstance(instance, bool) or instance < 1:
        raise ApiError("invalid_field", "'instance' must be a positive integer")
    group_name = group_admin = to_number = None
    if data.get("group_name") is not None:
        group_name, group_admin = _group_target(data)
    else:
        if data.get("to") in (None, ""):
            raise ApiError("number_invalid", "Destination number is invalid: 'to' is missing")
        to_number = normalize_number(data.get("to"), "to")
    reply_to = data.get("reply_to")
    if reply_to is not None and (not isinstance(reply_to, str) or not is_message_id(reply_to)):
        raise ApiError("invalid_field", "'reply_to' must be a message id (a UUID string)")
    media_spec = data.get("media")
    if media_spec is None and upload is None:
        text = check_text(data.get("text"), limits, "text")
        return SendRequest(
            instance=instance,
            kind="text",
            to_number=to_number,
            group_name=group_name,
            group_admin=group_admin,
            text=text,
            reply_to=reply_to,
        )
    if media_spec is None:
        media_spec = {}
    if not isinstance(media_spec, dict):
        raise ApiError("invalid_field", "'media' must be an object")
    kind = media_spec.get("kind")
    if kind not in MEDIA_KINDS:
        raise ApiError("invalid_field", f"'media.kind' must be one of {', '.join(MEDIA_KINDS)}")
    media_kind: MediaKind = kind
    caption = check_caption(media_spec.get("caption", data.get("text")), limits)
    if upload is not None:
        raw, upload_name = upload
        if not raw:
            raise ApiError("media_missing", "The uploaded file is empty")
        if len(raw) > limit_for(media_kind, limits):
            raise ApiError(
                "payload_too_large",
                f"the uploaded file is {len(raw)} bytes; the limit for {media_kind} is "
                f"{limit_for(media_kind, limits)} bytes",
            )
        filename = check_filename(media_spec.get("filename") or upload_name, required=False)
    else:
        filename = check_filename(media_spec.get("filename"), required=media_kind != "image")
        raw = decode_base64(media_kind, media_spec.get("base64"), limits)
    media = check_media(media_kind, raw, filename)
    return SendRequest(
        instance=instance,
        kind=media_kind,
        to_number=to_number,
        group_name=group_name,
        group_admin=group_admin,
        media=media,
        caption=caption,
        reply_to=reply_to,
    )
