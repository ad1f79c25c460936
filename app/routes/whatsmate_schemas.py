"""The bodies and answers of the WhatsMate-compatible paths, v3 (app/routes/whatsmate.py) and
the legacy v1 (app/routes/whatsmate_v1.py), as the OpenAPI document shows them.

One route serves each family of paths; every concrete path has a body model of its own
(`v3_model`, `v1_model`), named as the document names it (`GroupVoiceNoteMessage`,
`V1BatchPhotoMessage`).
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

from pydantic import Field, create_model

from app.routes.apidoc import Model, Number, Omitted, Uuid, base64_extra, limit, number_field
from app.routes.callback_schemas import callback_url_field
from app.routes.send_bodies import WhatsMateBody

GROUP_NAME = "Title of the Telegram group; the gateway account must be a member."
_MEDIA_WHAT = {
    "image": "a JPEG, PNG or WebP picture",
    "document": "any file",
    "audio": "an MP3, M4A, OGG, WAV or FLAC file",
    "voice_note": "an OGG/Opus recording (MP3, M4A, WAV, FLAC are transcoded to OGG/Opus when "
    "accepted; at most 20 minutes)",
}
_MEDIA_LIMIT = {
    "image": "image_bytes",
    "document": "document_bytes",
    "audio": "audio_bytes",
    "voice_note": "audio_bytes",
}


def media_text(kind: str) -> str:
    what = _MEDIA_WHAT[kind]
    return (
        f"{what[0].upper()}{what[1:]}, in standard base64 (whitespace and a data: URI prefix "
        f"are tolerated); at most ${{{_MEDIA_LIMIT[kind]}}} once decoded. The bytes are "
        "checked, not the file name."
    )


def articled(what: str) -> str:
    return f"{'an' if what[0] in 'aeiou' else 'a'} {what}"


def _caption() -> Any:
    return (
        str | Omitted,
        Field(None, description="Optional caption.", json_schema_extra=limit("caption_chars")),
    )


def _message() -> Any:
    return (
        str,
        Field(min_length=1, description="The text to send.", json_schema_extra=limit("text_chars")),
    )


# --- v3 ---------------------------------------------------------------------------------------


class Queued(Model):
    """The message is durably stored and queued for sending."""

    status: Literal["queued"] = Field(description="Always 'queued'.")
    id: Uuid = Field(description="Message id, for GET /api/v1/messages/{id}.")


def v3_name(scope: str, kind: str) -> str:
    return scope.title() + "".join(part.title() for part in kind.split("_")) + "Message"


@functools.cache
def _filename(optional: bool, description: str) -> tuple[Any, Any]:
    """The `filename` field; when optional, its bounds bind only a given name (not null)."""
    if optional:
        bounded = Annotated[str, Field(min_length=1, max_length=255)]
        return bounded | Omitted, Field(None, description=description)
    return str, Field(min_length=1, max_length=255, description=description)


@functools.cache
def v3_model(scope: str, kind: str) -> type[WhatsMateBody]:
    """The body of /v3/telegram/{scope}/{kind}/message/{instance}; made once per (scope,
    kind): building a pydantic model costs more than the rest of a send."""
    fields: dict[str, Any] = {}
    if scope == "single":
        fields["number"] = (Number, Field(description=number_field("the destination")))
    else:
        fields["group_name"] = (str, Field(min_length=1, max_length=255, description=GROUP_NAME))
        fields["group_admin"] = (
            Number,
            Field(description=number_field("the number of the group's creator")),
        )
    if kind == "text":
        fields["message"] = _message()
    else:
        # The medium before its file name, as the document always listed them; errors are
        # still answered in the order they are checked (WhatsMateBody.check_order).
        fields["caption"] = _caption()
        fields[kind] = (
            str,
            Field(min_length=1, description=media_text(kind), json_schema_extra=base64_extra()),
        )
        fields["filename"] = _filename(
            kind == "image",
            "File name shown to the recipient; no path separators, control "
            'characters or <>:"|?*.'
            + (" Optional for images: the extension follows the bytes." if kind == "image" else ""),
        )
    fields["callback_url"] = (str | Omitted, callback_url_field())
    target = "a registered number" if scope == "single" else "a group"
    doc = f"Send {articled(kind.replace('_', ' '))} to {target}."
    model: type[WhatsMateBody] = create_model(
        v3_name(scope, kind), __base__=WhatsMateBody, __doc__=doc, **fields
    )
    return model


# --- v1 ---------------------------------------------------------------------------------------


class V1Queued(Model):
    """The message is durably stored and queued for sending."""

    success: Literal[True] = Field(description="Always true on 200.")
    status: Literal["queued"] = Field(description="What happened: 'queued'.")
    id: Uuid = Field(description="Message id, for GET /api/v1/messages/{id}.")


class V1BatchQueued(Model):
    """Every message is durably stored and queued for sending."""

    success: Literal[True] = Field(description="Always true on 200.")
    status: Literal["queued"] = Field(description="What happened: 'queued'.")
    ids: list[Uuid] = Field(description="One id per number, in their order.")
    id: Uuid = Field(description="The first of ids.")


class V1Error(Model):
    """Error body on the legacy v1 send paths."""

    success: Literal[False] = Field(description="Always false on an error.")
    status: str = Field(description="A precise, human-readable message (the v3 error_message).")


class V1LocationMessage(Model):
    """A location (not supported yet)."""

    latitude: float | Omitted = None
    longitude: float | Omitted = None


class LegacyStatus(Model):
    status: Literal["up", "down"] = Field(description="Whether the instance can send now.")
    instance: int = Field(description="Gateway instance number.")


def v1_name(shape: str, what: str) -> str:
    return "V1" + shape.title() + what.title() + "Message"


def _target(shape: str) -> dict[str, Any]:
    if shape == "batch":
        numbers = Field(
            min_length=1,
            description="Destination numbers, each registered; one message is queued for each, "
            "all or none: one invalid or unregistered number refuses the whole request, naming "
            "it. A number given twice is refused. The daily quota counts every message.",
            json_schema_extra=limit("max_recipients"),
        )
        return {"numbers": (list[Number], numbers)}
    return {"number": (Number, Field(description=number_field("the destination")))}


@functools.cache
def v1_model(shape: str, what: str, kind: str) -> type[WhatsMateBody]:
    """The body of a v1 send: `what` is the path's word ('text', 'photo'...), `kind` the
    message kind it sends."""
    fields: dict[str, Any]
    if what == "text" and shape == "group":
        fields = {
            "group": (
                str,
                Field(
                    min_length=1,
                    max_length=255,
                    description=f"{GROUP_NAME} Without group_admin the title must name one "
                    "group only.",
                ),
            ),
            "group_admin": (
                Number | Omitted,
                Field(
                    None, description=number_field("optional: the number of the group's creator")
                ),
            ),
        }
        doc = "Send a text to a group (v1)."
    else:
        fields = _target(shape)
        doc = f"Send a text to {'several numbers' if shape == 'batch' else 'a number'} (v1)."
    if what == "text":
        fields["message"] = _message()
    else:
        # The medium before its file name, as the document always listed them; errors are
        # still answered in the order they are checked (WhatsMateBody.check_order).
        fields["caption"] = _caption()
        image = kind == "image"
        fields[kind] = (
            str,
            Field(description=media_text(kind), json_schema_extra={"contentEncoding": "base64"}),
        )
        fields["filename"] = _filename(
            image,
            "File name shown to the recipient; path separators, control "
            'characters, bidi controls and <>:"|?* are removed.'
            + (" Optional for photos: the extension follows the bytes." if image else ""),
        )
        doc = f"Send {what} to one or more numbers (v1)."
    fields["callback_url"] = (str | Omitted, callback_url_field())
    model: type[WhatsMateBody] = create_model(
        v1_name(shape, what), __base__=WhatsMateBody, __doc__=doc, **fields
    )
    return model
