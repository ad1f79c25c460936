"""The bodies, parameters and answers of the admin API (app/routes/admin.py: clients, instances
and the sandbox), as the OpenAPI document shows them. The strict parsers of the same bodies
are in admin.py; these say what a caller may send and gets back."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from app.routes.apidoc import (
    INSTANCE_NUMBER_MAX,
    Closed,
    Model,
    Number,
    Omitted,
    Timestamp,
    base64_extra,
    number_field,
    one_of,
)
from app.telegram.port import MEDIA_KINDS
from app.telegram.sandbox import FAULT_ERRORS
from app.vocabulary import ClientState, InstanceStatus, values

GROUP_NAME = "Title of the Telegram group; the gateway account must be a member."

# --- clients ----------------------------------------------------------------------------------

_EXPIRES = (
    "ISO 8601 date or date-time in the future (UTC when no offset); null or absent: never expires."
)


class Client(Model):
    client_id: str = Field(description="The client id (e-mail-like).", examples=["ops@example.com"])
    created_at: Timestamp = Field(description="When the client was created.")
    expires_at: Timestamp | None = Field(None, description="Expiry; null: never expires.")
    revoked_at: Timestamp | None = Field(
        None, description="When the client was revoked, if it was."
    )
    state: str = Field(
        description="Whether the credentials work now.",
        json_schema_extra=one_of(values(ClientState)),
    )


class ClientCreated(Client):
    client_secret: str = Field(description="The secret: shown once, only now.")


class ClientSecret(Model):
    client_id: str = Field(description="The client id.")
    client_secret: str = Field(description="The new secret: shown once, only now.")


class ClientList(Model):
    data: list[Client] = Field(description="API clients.")


class NewClientBody(Closed):
    client_id: str = Field(
        max_length=254, description="An e-mail-like id.", examples=["ops@example.com"]
    )
    expires_at: str | None = Field(None, description=_EXPIRES, examples=["2027-01-01"])


class RenewalBody(Closed):
    expires_at: str | None = Field(None, description=_EXPIRES, examples=["2027-01-01"])


class ClientPath(Model):
    client_id: str = Field(description="The client id.")


# --- instances --------------------------------------------------------------------------------


class InstancePath(Model):
    n: int = Field(ge=1, le=INSTANCE_NUMBER_MAX, description="Instance number.")


class LoginAlert(Model):
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


class Profile(Model):
    """The profile tgw last set (else the configured one)."""

    first_name: str | None = Field(None, description="First name.")
    last_name: str | None = Field(None, description="Last name.")
    about: str | None = Field(None, description="Bio.")
    photo_url: str | None = Field(
        None, description="The current picture (GET, admin token), if tgw set one."
    )


class Queue(Model):
    """Messages of this instance by status."""

    queued: int = Field(ge=0, description="Messages queued.")
    sending: int = Field(ge=0, description="Messages sending.")
    sent: int = Field(ge=0, description="Messages sent.")
    read: int = Field(ge=0, description="Messages read.")
    failed: int = Field(ge=0, description="Messages failed.")


class Instance(Model):
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


class InstanceList(Model):
    data: list[Instance] = Field(description="Instances.")


# --- the sandbox ------------------------------------------------------------------------------


class Person(Closed):
    """The person writing."""

    number: Number = Field(description=number_field("the sender"))
    first_name: str | Omitted = Field(None, max_length=255, description="First name.")
    last_name: str | Omitted = Field(None, max_length=255, description="Last name.")
    username: str | Omitted = Field(
        None, max_length=64, description="Telegram @username, without '@'."
    )
    phone_visible: bool = Field(True, description="Whether the number is visible to the gateway.")
    is_bot: bool = Field(False, description="Whether the sender is a bot.")


class SharedContact(Closed):
    """A shared contact."""

    number: str = Field(max_length=21, description="Shared phone number (digits).")
    user_id: int | Omitted = Field(None, ge=1, le=2**63 - 1, description="Its Telegram user id.")


class InboundMedia(Closed):
    """A medium."""

    kind: str = Field(description="Kind.", json_schema_extra=one_of(MEDIA_KINDS))
    base64: str = Field(min_length=1, description="The file.", json_schema_extra=base64_extra())
    filename: str | Omitted = Field(None, max_length=255, description="File name.")
    mime_type: str | Omitted = Field(None, max_length=127, description="Media type.")


def _inbound_schema(schema: dict[str, Any]) -> None:
    # The person is part of this body, shown in it rather than as a schema of its own.
    schema["properties"]["from"] = Person.model_json_schema()
    schema["anyOf"] = [{"required": ["text"]}, {"required": ["contact"]}, {"required": ["media"]}]


class InboundBody(Closed):
    """Give text, contact or media."""

    from_: Person = Field(alias="from")
    text: str | Omitted = Field(None, description="Text written.")
    contact: SharedContact | Omitted = None
    media: InboundMedia | Omitted = None
    reply_to: int | Omitted = Field(
        None, ge=1, le=2**31 - 1, description="Telegram message id answered."
    )

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, json_schema_extra=_inbound_schema
    )


class InboundHandled(Model):
    message_id: int = Field(description="Telegram message id.")
    handled: bool = Field(description="Whether the gateway handled it in time.")


class SandboxSent(Model):
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
    sent_at: Timestamp = Field(description="When it was sent.")


class SandboxSentList(Model):
    data: list[SandboxSent] = Field(description="Messages.")


class SentQuery(Model):
    number: Number | Omitted = Field(None, description="Only to this number.")


class ReadBody(Closed):
    number: Number = Field(description=number_field("the reader"))
    max_message_id: int = Field(ge=0, le=2**31 - 1, description="Highest message id read.")


class ReadHandled(Model):
    number: str = Field(description="The number.")
    max_message_id: int = Field(description="Read up to here.")
    handled: bool = Field(description="Whether the gateway handled it in time.")


class GroupBody(Closed):
    group_name: str = Field(min_length=1, max_length=255, description=GROUP_NAME)
    group_admin: Number = Field(description=number_field("the number of the group's creator"))
    members: list[Number] | Omitted = Field(
        None, max_length=10_000, description="Other members' numbers."
    )


class SandboxGroup(Model):
    chat_id: int = Field(description="Telegram chat id.")
    group_name: str = Field(description="Title.")
    group_admin: str = Field(description="Creator's number.")


class FaultBody(Closed):
    """Give flood_wait_s or error."""

    flood_wait_s: int | Omitted = Field(
        None, ge=0, le=2**31 - 1, description="A FloodWait of this many seconds."
    )
    error: str | Omitted = Field(
        None, description="A Telegram error.", json_schema_extra=one_of(FAULT_ERRORS)
    )
    number: Number | Omitted = Field(None, description=number_field("only sends to this number"))
    times: int = Field(1, ge=1, le=2**31 - 1, description="How many sends fail.")

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"anyOf": [{"required": ["flood_wait_s"]}, {"required": ["error"]}]},
    )


class FaultArmed(Model):
    id: int = Field(description="Fault id.")


class NewLoginBody(Closed):
    device: str = Field(
        "Telegram Desktop, 5.0, Windows 10", max_length=255, description="Device name."
    )
    location: str = Field("Berlin, Germany", max_length=255, description="Location.")


class NewLoginDone(Model):
    hash: str = Field(description="The new session.")
    device: str = Field(description="Its device.")
    location: str = Field(description="Its location.")
    handled: bool = Field(description="Whether the gateway handled it in time.")
