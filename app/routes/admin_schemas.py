"""The bodies, parameters and answers of the admin API (app/routes/admin.py: clients, instances
and the sandbox): the models the OpenAPI document shows are the ones the handlers parse bodies
with (`Body`, strict) and build answers from (`View`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field

from app.routes.apidoc import (
    INSTANCE_NUMBER_MAX,
    Model,
    Number,
    Omitted,
    Timestamp,
    number_field,
    one_of,
)
from app.routes.bodies import (
    INT32_MAX,
    Body,
    PhoneNumber,
    Stripped,
    Text255,
)
from app.routes.inbound_schemas import InboundBody as InboundBody
from app.routes.inbound_schemas import InboundHandled as InboundHandled
from app.routes.views import View
from app.telegram.sandbox import FAULT_ERRORS
from app.vocabulary import InstanceStatus, values

GROUP_NAME = "Title of the Telegram group; the gateway account must be a member."

# --- instances --------------------------------------------------------------------------------


class InstancePath(Model):
    n: int = Field(ge=1, le=INSTANCE_NUMBER_MAX, description="Instance number.")


class LoginAlert(View):
    """The data of an account.login_alert event: someone logged in to the account from another
    device. One event per login, whether Telegram's update, its notice or both arrive."""

    instance: int = Field(description="Instance.")
    hash: str | None = Field(
        None, description="The new session (null when only the 777000 notice was seen)."
    )
    device: str | None = Field(None, description="Its device, as Telegram names it.")
    location: str | None = Field(None, description="Where, as Telegram says (city, country, IP).")
    date: Timestamp = Field(description="When it logged in.")
    unconfirmed: bool | None = Field(
        None, description="Awaiting confirmation from another session (null: not known)."
    )
    source: Literal["update", "service_notice"] = Field(
        description="What announced it first: Telegram's update or its 777000 notice."
    )
    text: str | None = Field(None, description="The notice's text (source service_notice).")


class SeenLoginAlert(LoginAlert):
    """A login alert with the event's `id` and `received_at`."""

    id: str = Field(description="The event's id.")
    received_at: Timestamp = Field(description="When the event was received.")


class Profile(View):
    """The profile tgw last set (else the configured one)."""

    first_name: str | None = Field(None, description="First name.")
    last_name: str | None = Field(None, description="Last name.")
    about: str | None = Field(None, description="Bio.")
    photo_url: str | None = Field(
        None, description="The current picture (GET, admin token), if tgw set one."
    )
    photo_width: int | None = Field(None, description="Its width in pixels.")
    photo_height: int | None = Field(None, description="Its height in pixels.")


class Queue(View):
    """Messages of this instance by status."""

    queued: int = Field(ge=0, description="Messages queued.")
    sending: int = Field(ge=0, description="Messages sending.")
    sent: int = Field(ge=0, description="Messages sent.")
    read: int = Field(ge=0, description="Messages read.")
    failed: int = Field(ge=0, description="Messages failed.")
    paused: bool = Field(
        False,
        description="Paused by POST /admin/instances/{n}/queue/pause: nothing is sent (messages "
        "are still accepted and still expire) until .../queue/resume.",
    )
    paused_at: Timestamp | None = Field(None, description="When the queue was paused.")


class Instance(View):
    number: int = Field(ge=1, description="Instance number.")
    backend: Literal["telethon", "sandbox"] = Field(description="Telegram backend.")
    status: str = Field(
        description="Login and connection state, and the account's condition: flood_wait, "
        "restricted (PEER_FLOOD), frozen, banned, deactivated (deleted), revoked.",
        json_schema_extra=one_of(values(InstanceStatus)),
    )
    status_detail: str | None = Field(None, description="More about the state, for a human.")
    paused_until: Timestamp | None = Field(
        None, description="End of a pause (flood wait, restriction, frozen account)."
    )
    status_since: Timestamp | None = Field(
        None, description="When the instance entered this status."
    )
    session_state: str | None = Field(
        None,
        description="The Telegram session's state in the process that holds it: logged_out, "
        "connecting, ready, logging_out, revoked, banned, deactivated (null for sandbox "
        "instances and on a process that does not hold the session).",
    )
    phone: str | None = Field(None, description="The account's phone number.")
    user_id: int | None = Field(None, description="The account's Telegram user id.")
    profile: Profile | None = None
    session_owner: Literal["this process", "another process"] | None = Field(
        None, description="Which gateway process has the session open (one at a time)."
    )
    queue: Queue
    login_alerts: list[SeenLoginAlert] = Field(
        [],
        description="The latest logins from other devices (account.login_alert), newest first.",
    )


class InstanceList(View):
    data: list[Instance] = Field(description="Instances.")


# --- the sandbox (a person writing: app/routes/inbound_schemas.py) ----------------------------


class SentLocation(View):
    latitude: float = Field(description="Degrees north.")
    longitude: float = Field(description="Degrees east.")
    title: str | None = Field(None, description="Venue name (a venue when set).")
    address: str | None = Field(None, description="Venue address.")


class SentContact(View):
    phone: str = Field(description="The card's number.")
    first_name: str = Field(description="First name.")
    last_name: str | None = Field(None, description="Last name.")


class SentVideo(View):
    duration_s: float = Field(description="Duration given to Telegram, seconds (0: unknown).")
    width: int = Field(description="Width in pixels (0: unknown).")
    height: int = Field(description="Height in pixels (0: unknown).")


class SandboxSent(View):
    message_id: int = Field(description="Telegram message id.")
    number: str | None = Field(None, description="Recipient number.")
    group_name: str | None = Field(None, description="Group, for a group message.")
    kind: str = Field(description="What was sent.")
    text: str | None = Field(None, description="Text.")
    caption: str | None = Field(None, description="Caption.")
    filename: str | None = Field(None, description="File name.")
    mime_type: str | None = Field(None, description="Media type.")
    size: int | None = Field(None, description="Bytes.")
    sha256: str | None = Field(None, description="SHA-256, hex.")
    random_id: int | None = Field(None, description="Telegram random_id (deduplication).")
    reply_to: int | None = Field(None, description="Message id answered.")
    location: SentLocation | None = Field(None, description="The location (kind location).")
    contact: SentContact | None = Field(None, description="The contact card (kind contact).")
    video: SentVideo | None = Field(None, description="The video's attributes (kind video).")
    silent: bool = Field(False, description="Sent without a notification sound.")
    link_preview: bool = Field(True, description="Telegram could show a link preview.")
    action_shown: str | None = Field(
        None,
        description="The chat action shown while it was sent (a large file), e.g. upload_video.",
    )
    inbox_read_up_to: int | None = Field(
        None,
        description="The account's read mark in the person's chat when it was sent (0: none; "
        "null: a group): mark_read_on_reply sets it first.",
    )
    sent_at: Timestamp = Field(description="When it was sent.")
    duration_s: int | None = Field(None, description="An audio send's duration, in seconds.")
    voice: bool | None = Field(
        None,
        description="An audio send: whether it shows as a voice bubble (OGG/Opus with its "
        "waveform, sent as a voice note), not as a file.",
    )
    # What the account did to it afterwards: text/caption above are the words after its edits.
    edited_at: Timestamp | None = Field(None, description="When the account last edited it.")
    deleted: bool = Field(False, description="Whether the account deleted it for both sides.")
    deleted_at: Timestamp | None = Field(None, description="When the account deleted it.")
    reactions: list[str] = Field([], description="The account's own reaction on it (0 or 1).")


class SandboxSentList(View):
    data: list[SandboxSent] = Field(description="Messages.")


class SentQuery(Model):
    number: Number | Omitted = Field(None, description="Only to this number.")


class ReadBody(Body):
    number: PhoneNumber = Field(description=number_field("the reader"))
    max_message_id: int = Field(ge=0, le=INT32_MAX, description="Highest message id read.")


class ReadHandled(View):
    number: str = Field(description="The number.")
    max_message_id: int = Field(description="Read up to here.")
    handled: bool = Field(description="Whether the gateway handled it in time.")


class GroupBody(Body):
    # Blanks only: missing_field; the name is kept without its surrounding blanks.
    group_name: Annotated[Text255, Stripped] = Field(
        description=GROUP_NAME, json_schema_extra={"minLength": 1}
    )
    group_admin: PhoneNumber = Field(description=number_field("the number of the group's creator"))
    members: Annotated[list[PhoneNumber], Field(max_length=10_000)] | Omitted = Field(
        None, description="Other members' numbers."
    )


class SandboxGroup(View):
    chat_id: int = Field(description="Telegram chat id.")
    group_name: str = Field(description="Title.")
    group_admin: str = Field(description="Creator's number.")


class FaultBody(Body):
    """Give flood_wait_s or error."""

    flood_wait_s: Annotated[int, Field(ge=0, le=INT32_MAX)] | Omitted = Field(
        None, description="A FloodWait of this many seconds."
    )
    error: Literal[tuple(FAULT_ERRORS)] | Omitted = Field(  # type: ignore[valid-type]
        None, description="A Telegram error."
    )
    number: PhoneNumber | Omitted = Field(
        None, description=number_field("only sends to this number")
    )
    times: int = Field(1, ge=1, le=INT32_MAX, description="How many sends fail.")

    model_config = ConfigDict(
        json_schema_extra={"anyOf": [{"required": ["flood_wait_s"]}, {"required": ["error"]}]},
    )


class FaultArmed(View):
    id: int = Field(description="Fault id.")


DEVICE = "Telegram Desktop, 5.0, Windows 10"
LOCATION = "Berlin, Germany"


def _or(default: str) -> AfterValidator:
    """Left out, null or blank: `default`; else the text without its surrounding blanks."""
    return AfterValidator(lambda value: (value or "").strip() or default)


class NewLoginBody(Body):
    device: Annotated[Text255 | Omitted, _or(DEVICE)] = Field(DEVICE, description="Device name.")
    location: Annotated[Text255 | Omitted, _or(LOCATION)] = Field(LOCATION, description="Location.")


class NewLoginDone(View):
    hash: str = Field(description="The new session.")
    device: str = Field(description="Its device.")
    location: str = Field(description="Its location.")
    handled: bool = Field(description="Whether the gateway handled it in time.")
