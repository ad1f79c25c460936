"""The bodies, parameters and answers of the native API (/api/v1, app/routes/messages.py), as
the OpenAPI document shows them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, ConfigDict, Field, JsonValue, field_validator

from app.errors import ApiError
from app.routes.apidoc import (
    Model,
    Number,
    Omitted,
    Timestamp,
    Uuid,
    base64_extra,
    limit,
    number_field,
    one_of,
)
from app.routes.callback_schemas import SHOWN, callback_url_field
from app.routes.media_url_docs import MEDIA_URL
from app.routes.queries import Query
from app.routes.send_bodies import NativeBody
from app.routes.views import View
from app.telegram.port import ALL_MEDIA_KINDS
from app.vocabulary import MessageStatus, RecipientStatus, values
from outbound.cards import NAME_MAX, VENUE_TEXT_MAX
from outbound.expiry import TTL_S_MAX
from outbound.requests import NATIVE_KINDS

GROUP_NAME = "Title of the Telegram group; the gateway account must be a member."
GROUP_ADMIN = number_field("the number of the group's creator")
PAGE_SIZE = "Page size."
SILENT = "Send without a notification sound (Telegram's silent message)."
LINK_PREVIEW = "Let Telegram show a preview of the first link of a text (false: no preview)."
TTL_S = (
    "Seconds it may wait in the queue, else it fails as 'expired'; at most [sending] "
    "message_ttl_s (default 86400), which applies anyway. Not with expires_at."
)
EXPIRES_AT = (
    "When it expires if still queued (ISO 8601 with time zone, in the future, at most "
    "message_ttl_s away): it fails as 'expired'. Not with ttl_s."
)


# --- sending ----------------------------------------------------------------------------------


MEDIA_KIND = (
    "Kind of medium. 'video': MP4, QuickTime or WebM, sent with a player (duration and size "
    "read from the file); 'sticker': a WebP picture of at most 512x512 pixels."
)


class MediaInput(Model):
    """Give the file as 'base64' or as a 'url' to fetch it from (exactly one)."""

    kind: str = Field(description=MEDIA_KIND, json_schema_extra=one_of(ALL_MEDIA_KINDS))
    base64: str | Omitted = Field(
        None,
        min_length=1,
        description="The file in standard base64; size limits as on the /v3 endpoints (image "
        "and sticker ${image_bytes}, document ${document_bytes}, audio ${audio_bytes}), video "
        "${video_bytes}.",
        json_schema_extra=base64_extra(),
    )
    url: str | Omitted = Field(None, **MEDIA_URL)
    filename: str | Omitted = Field(
        None,
        min_length=1,
        max_length=255,
        description="File name; required with base64 except for images, videos and stickers. "
        "With url: defaults to the URL's last path segment, else a name from the file's type.",
    )
    caption: str | Omitted = Field(
        None, description="Optional caption.", json_schema_extra=limit("caption_chars")
    )

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["base64"]}, {"required": ["url"]}]}
    )


class LocationInput(Model):
    """A point on the map; with a title (and address) Telegram shows it as a venue."""

    latitude: float = Field(ge=-90, le=90, description="Degrees north (-90 to 90).")
    longitude: float = Field(ge=-180, le=180, description="Degrees east (-180 to 180).")
    title: str | Omitted = Field(
        None,
        min_length=1,
        max_length=VENUE_TEXT_MAX,
        description="The place's name: with it, the location is sent as a venue.",
    )
    address: str | Omitted = Field(
        None,
        min_length=1,
        max_length=VENUE_TEXT_MAX,
        description="The venue's address (needs a title).",
    )


class ContactInput(Model):
    """A contact card."""

    phone: Number = Field(description=number_field("the contact's"))
    first_name: str = Field(min_length=1, max_length=NAME_MAX, description="First name.")
    last_name: str | Omitted = Field(
        None, min_length=1, max_length=NAME_MAX, description="Last name."
    )


_KIND_EXAMPLES: list[JsonValue] = [
    {"to": "14155552671", "text": "Your order has shipped.", "link_preview": False},
    {
        "to": "14155552671",
        "media": {"kind": "video", "base64": "AAAAGGZ0eXBpc29t...", "caption": "How it works"},
    },
    {"to": "14155552671", "media": {"kind": "sticker", "base64": "UklGRlYAAABXRUJQ..."}},
    {
        "to": "14155552671",
        "location": {
            "latitude": 40.4168,
            "longitude": -3.7038,
            "title": "Our shop",
            "address": "Puerta del Sol 1, Madrid",
        },
    },
    {
        "to": "14155552671",
        "contact": {"phone": "34612345678", "first_name": "Ana", "last_name": "García"},
        "silent": True,
        "reply_to": "6b1f7e0a-2c4d-4e5f-8a9b-0c1d2e3f4a5b",
    },
]


class SendMessage(NativeBody):
    """Give 'to', or 'group_name' and 'group_admin'; and one of 'text', 'media', 'location'
    or 'contact' ('text' with 'media' is its caption)."""

    # In the order they are checked: a group's name decides whether 'to' is read at all.
    instance: int = Field(1, ge=1, description="Gateway instance number.")
    group_name: str | Omitted = Field(None, min_length=1, max_length=255, description=GROUP_NAME)
    group_admin: Number | Omitted = Field(None, description=GROUP_ADMIN, validate_default=True)
    to: Number | Omitted = Field(
        None, description=number_field("the destination"), validate_default=True
    )
    reply_to: str | Omitted = Field(None, description="Id of a message to answer.")
    silent: bool = Field(False, description=SILENT)
    link_preview: bool = Field(True, description=LINK_PREVIEW)
    media: MediaInput | Omitted = None
    text: str | Omitted = Field(
        None,
        min_length=1,
        description="The text (required without media, location or contact); with media, the "
        "caption when media.caption is absent.",
        json_schema_extra=limit("text_chars"),
    )
    location: LocationInput | Omitted = Field(
        None, description="A location to send (alone: no text, media or contact)."
    )
    contact: ContactInput | Omitted = Field(
        None, description="A contact card to send (alone: no text, media or location)."
    )
    ttl_s: int | Omitted = Field(None, ge=1, le=TTL_S_MAX, description=TTL_S)
    expires_at: AwareDatetime | Omitted = Field(None, description=EXPIRES_AT)
    callback_url: str | Omitted = callback_url_field()

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "allOf": [
                {"anyOf": [{"required": ["to"]}, {"required": ["group_name", "group_admin"]}]},
                {
                    "anyOf": [
                        {"required": ["text"]},
                        {"required": ["media"]},
                        {"required": ["location"]},
                        {"required": ["contact"]},
                    ]
                },
            ],
            "examples": _KIND_EXAMPLES,
        },
    )


# --- messages ---------------------------------------------------------------------------------


class LocationView(Model):
    latitude: float = Field(description="Degrees north.")
    longitude: float = Field(description="Degrees east.")
    title: str | None = Field(description="The venue's name (null: a plain point).")
    address: str | None = Field(description="The venue's address.")


class ContactView(Model):
    phone: str = Field(description="The contact's number, digits with country code.")
    first_name: str = Field(description="First name.")
    last_name: str | None = Field(description="Last name.")


class Message(Model):
    """A message resource."""

    id: Uuid = Field(description="Message id.")
    instance: int = Field(ge=1, description="Gateway instance number.")
    to: str | None = Field(description="Destination number (null for a group).")
    group_name: str | None = Field(description="Destination group (null for a number).")
    kind: str = Field(description="What is sent.", json_schema_extra=one_of(NATIVE_KINDS))
    status: str = Field(
        description="Delivery state. 'delivered' is never claimed: Telegram does not report it.",
        json_schema_extra=one_of(values(MessageStatus)),
    )
    error_code: str | None = Field(description="Why it failed, when it failed.")
    error_detail: str | None = Field(description="More about the failure.")
    telegram_message_id: int | None = Field(description="Telegram's id once sent.")
    attempts: int = Field(ge=0, description="Send attempts so far.")
    filename: str | None = Field(description="File name of the medium.")
    size: int | None = Field(description="Size of the medium in bytes.")
    sha256: str | None = Field(description="SHA-256 of the medium, hex.")
    reply_to: str | None = Field(description="Id of the message this one answers.")
    location: LocationView | None = Field(description="The location sent (kind 'location').")
    contact: ContactView | None = Field(description="The contact card sent (kind 'contact').")
    silent: bool = Field(description="Sent without a notification sound.")
    link_preview: bool = Field(description="Telegram may show a preview of a text's link.")
    created_at: Timestamp = Field(description="When it was accepted.")
    sent_at: Timestamp | None = Field(description="When Telegram accepted it.")
    read_at: Timestamp | None = Field(description="When the recipient read it.")
    failed_at: Timestamp | None = Field(description="When it failed for good.")
    edited_at: Timestamp | None = Field(
        None, description="When it was last edited through the API (text/caption are the new)."
    )
    deleted_at: Timestamp | None = Field(
        None, description="When it was deleted for both sides through the API."
    )
    reaction: str | None = Field(None, description="The account's own reaction on it, if any.")
    expires_at: Timestamp | None = Field(None, description="Its own expiry, if given one.")
    callback_url: str | None = Field(None, description=SHOWN)


class MessageList(Model):
    data: list[Message] = Field(description="Messages, oldest first.")
    next: str | None = Field(description="Pass as 'after' for the next page; null: no more.")


class MessageQuery(Query):
    # In the order they are checked.
    limit: int = Field(50, ge=1, le=500, description=PAGE_SIZE)
    status: str | Omitted = Field(
        None,
        description="Only messages in this status.",
        json_schema_extra=one_of(values(MessageStatus)),
    )
    after: str | Omitted = Field(None, description="The 'next' of the last page.")
    instance: int = Field(
        0, ge=0, le=1_000_000, description="Only this gateway instance's messages (0: all)."
    )

    @field_validator("status")
    @classmethod
    def _status(cls, value: str | None) -> str | None:
        if value is not None and value not in values(MessageStatus):
            statuses = ", ".join(values(MessageStatus))
            raise ApiError("invalid_field", f"'status' must be one of {statuses}")
        return value


class MessagePath(Model):
    id: Uuid = Field(description="Message id.")


# --- recipients -------------------------------------------------------------------------------


class Recipient(Model):
    instance: int = Field(description="Gateway instance number.")
    number: str | None = Field(
        description="Phone number, digits with country code (null while the person has not "
        "shared it)."
    )
    user_id: int | None = Field(description="Telegram user id.")
    first_name: str | None = Field(description="First name on Telegram.")
    last_name: str | None = Field(description="Last name on Telegram.")
    username: str | None = Field(description="Telegram @username, without '@'.")
    language: str | None = Field(description="Language the person uses, if known.")
    status: str = Field(
        description="Registration state.", json_schema_extra=one_of(values(RecipientStatus))
    )
    registered_at: Timestamp | None = Field(description="When they registered.")
    unregistered_at: Timestamp | None = Field(description="When they opted out.")


class RecipientList(Model):
    data: list[Recipient] = Field(description="Recipients.")


class RecipientQuery(Query):
    status: str = Field(
        "registered",
        description="Only recipients in this state ('all': every state).",
        json_schema_extra=one_of([*values(RecipientStatus), "all"]),
    )
    instance: int = Field(0, ge=0, le=1_000_000, description="Only this instance (0: all).")
    limit: int = Field(1000, ge=1, le=5000, description=PAGE_SIZE)

    @field_validator("status")
    @classmethod
    def _status(cls, value: str) -> str:
        if value not in (*values(RecipientStatus), "all"):
            raise ApiError(
                "invalid_field", "'status' must be registered, pending, unregistered or all"
            )
        return value


class RecipientPath(Model):
    number: Number = Field(description="The recipient's number.")


class RemovalQuery(Query):
    instance: int = Field(0, ge=0, le=1_000_000, description="Only on this instance (0: all).")


class RecipientRemoved(Model):
    number: str = Field(description="The normalised number.")
    status: Literal["unregistered"] = Field(description="Always 'unregistered'.")


# --- events -----------------------------------------------------------------------------------


class Event(View):
    """An event. The same body goes to webhook endpoints of format 'standard'."""

    type: str = Field(
        description="Event type, e.g. message.sent, recipient.registered or account.login_alert."
    )
    id: str = Field(description="Event id (evt_...).")
    seq: int = Field(ge=1, description="Position in the event log; increases.")
    timestamp: Timestamp = Field(description="When it happened.")
    instance_id: int | None = Field(None, description="Gateway instance number.")
    gateway_number: str | None = Field(None, description="The gateway account's number.")
    number: str | Omitted = Field(
        None,
        description="message.received only (absent on every other type): the sender's number, "
        "as WhatsMate sends it. Other types carry the other party's number in `data` (`to` on "
        "message.*, `number` on recipient.*), never here, so a receiver that answers every POST "
        "by writing to `number` cannot loop on the gateway's own message.sent.",
    )
    message: str | Omitted = Field(
        None,
        description="message.received only (absent on every other type): the text, or the "
        "caption of a medium ('' if none).",
    )
    data: dict[str, Any] = Field(description="Details, by event type.")


class EventList(Model):
    data: list[Event] = Field(description="Events in seq order.")
    next_after: int = Field(ge=0, description="Pass as 'after' to continue.")
    pruned_through: int | None = Field(
        None,
        ge=1,
        description="Null, unless retention ([retention] events_days) deleted events after "
        "'after': then the events through this seq (the highest it deleted) may be missing, "
        "and `data` starts from the oldest event left.",
    )


class EventQuery(Query):
    after: int = Field(0, ge=0, le=2**62, description="Only events after this seq.")
    limit: int = Field(100, ge=1, le=1000, description=PAGE_SIZE)
