"""The checks a send body's model calls, and the builder of its SendRequests (pure).

The bodies themselves (WhatsMate v3 and v1, native) are pydantic models beside their routes
(`app/routes/whatsmate_schemas.py`, `messages_schemas.py`, validated by `send_bodies.py`);
their field validators call the checks here and in `validation.py`, with the messages the
WhatsMate surfaces have always given, and `requests_for` turns a validated body into the
messages it asks for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.errors import ApiError
from app.settings import LimitsSettings
from app.telegram.port import ALL_MEDIA_KINDS, MEDIA_KINDS, ContactCard, Location, MediaKind
from outbound.cards import check_contact, check_location
from outbound.fetch import MediaUrl, media_url
from outbound.send_request import SendRequest
from outbound.validation import (
    NAMELESS_KINDS,
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
# What the native API sends: every medium, and the kinds that carry no file.
NATIVE_KINDS = ("text", *ALL_MEDIA_KINDS, "location", "contact")
KIND_ALIASES = {"voice": "voice_note", "photo": "image"}


def parse_kind(raw: str) -> str:
    kind = KIND_ALIASES.get(raw, raw)
    if kind not in KINDS:
        raise ApiError("not_found", f"Unknown message kind {raw!r}; use one of {', '.join(KINDS)}")
    return kind


def group_title(name: object, field: str = "group_name", missing: str = "") -> str:
    """A group's title, stripped; `missing` follows "Missing field '<field>'"."""
    if name is None or name == "":
        raise ApiError("missing_field", f"Missing field '{field}'{missing}")
    if not isinstance(name, str) or not name.strip() or len(name) > 255 or "\x00" in name:
        raise ApiError("invalid_field", f"'{field}' must be a non-empty string of at most 255")
    return name.strip()


def group_admin(admin: object) -> str:
    """The number of a group's creator (given: the caller checks for absence)."""
    try:
        return normalize_number(admin, "group_admin")
    except ApiError as exc:
        raise ApiError("invalid_field", exc.message.replace("Destination", "Group admin")) from exc


def destination(value: object, field: str = "number") -> str:
    """The one number a message goes to, normalised."""
    if value is None or value == "":
        raise ApiError("number_invalid", f"Destination number is invalid: '{field}' is missing")
    return normalize_number(value, field)


def batch_numbers(raw: object, max_recipients: int) -> list[str]:
    """The `numbers` of a v1 batch, normalised, every one checked before anything is sent.

    A number given twice (after normalisation: '+34 612...' is '34612...') refuses the
    request: sending twice is rarely meant, and dropping one would break the one-id-per-number
    order of the answer.
    """
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


def native_instance(value: object) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)  # ASCII only: int() would read '١' (Arabic-Indic) as 1
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ApiError("invalid_field", "'instance' must be a positive integer")
    return value


def flag(value: object, field: str) -> bool | None:
    """A yes/no option: a JSON boolean, or (in a multipart form) true/false/1/0."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "false", "0"):
        return value.strip().lower() in ("true", "1")
    raise ApiError("invalid_field", f"'{field}' must be true or false")


def reply_target(value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or not is_message_id(value)):
        raise ApiError("invalid_field", "'reply_to' must be a message id (a UUID string)")
    return value


@dataclass(frozen=True)
class Content:
    """What is sent, apart from to whom: a text, a medium with its optional caption, a
    location or a contact card."""

    kind: str
    text: str | None = None
    media: CheckedMedia | None = None
    caption: str | None = None
    location: Location | None = None
    contact: ContactCard | None = None
    # A medium still at its URL (media.url): fetched into `media` before the send is accepted.
    pending: MediaUrl | None = None


def native_content(
    text: object,
    media_spec: object,
    limits: LimitsSettings,
    upload: tuple[bytes, str | None] | None = None,
    location: object = None,
    contact: object = None,
) -> Content:
    """The `text`, the `media` (base64, a URL or an uploaded file), the `location` or the
    `contact` of a native send: one of them (with a medium, `text` is its caption when it has
    none)."""
    if location is not None or contact is not None:
        return card_content(text, media_spec, upload, location, contact)
    if media_spec is None and upload is None:
        return Content("text", text=check_text(text, limits, "text"))
    if media_spec is None:
        media_spec = {}
    if not isinstance(media_spec, Mapping):
        raise ApiError("invalid_field", "'media' must be an object")
    kind = media_spec.get("kind")
    if kind not in ALL_MEDIA_KINDS:
        raise ApiError("invalid_field", f"'media.kind' must be one of {', '.join(ALL_MEDIA_KINDS)}")
    media_kind: MediaKind = kind
    caption = check_caption(media_spec.get("caption", text), limits)
    if upload is None and media_spec.get("url") is not None:  # media by URL (outbound/fetch.py)
        return Content(media_kind, caption=caption, pending=media_url(media_kind, media_spec))
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
        filename = check_filename(
            media_spec.get("filename"), required=media_kind not in NAMELESS_KINDS
        )
        raw = decode_base64(media_kind, media_spec.get("base64"), limits)
    media = check_media(media_kind, raw, filename)
    return Content(media_kind, media=media, caption=caption)


def card_content(
    text: object,
    media_spec: object,
    upload: tuple[bytes, str | None] | None,
    location: object,
    contact: object,
) -> Content:
    """A location or a contact card: the only content of its message."""
    given = [
        name
        for name, value in (
            ("text", text),
            ("media", upload if upload is not None else media_spec),
            ("location", location),
            ("contact", contact),
        )
        if value is not None
    ]
    if len(given) > 1:
        named = " and ".join(f"'{name}'" for name in given)
        raise ApiError(
            "invalid_field",
            f"A message is a text, a medium, a location or a contact: give one, not {named}",
        )
    if location is not None:
        return Content("location", location=check_location(location))
    return Content("contact", contact=check_contact(contact))


@dataclass(frozen=True)
class Target:
    """To whom one message goes: a number, or a group (its admin optional on v1)."""

    number: str | None = None
    group_name: str | None = None
    group_admin: str | None = None


def requests_for(
    instance: int,
    what: Content,
    targets: Sequence[Target],
    reply_to: str | None = None,
    *,
    silent: bool = False,
    link_preview: bool = True,
) -> list[SendRequest]:
    """One send of the checked content per target, in their order."""
    return [
        SendRequest(
            instance=instance,
            kind=what.kind,
            to_number=target.number,
            group_name=target.group_name,
            group_admin=target.group_admin,
            text=what.text,
            media=what.media,
            caption=what.caption,
            reply_to=reply_to,
            location=what.location,
            contact=what.contact,
            silent=silent,
            link_preview=link_preview,
        )
        for target in targets
    ]


def text_request(instance: int, number: Any, text: Any, limits: LimitsSettings) -> SendRequest:
    """A text to one number, checked as the v3 single text path checks it (the CLI's send)."""
    target = Target(number=destination(number))
    return requests_for(instance, Content("text", text=check_text(text, limits)), [target])[0]
