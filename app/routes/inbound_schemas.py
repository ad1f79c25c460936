"""The body of `POST /admin/sandbox/{n}/inbound` (a person writing to the gateway) and its
answer: strict models (`Body`), the ones the OpenAPI document shows."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from app.routes.apidoc import Omitted, base64_extra, number_field
from app.routes.bodies import INT64_MAX, Body, MessageId, PhoneNumber, Stripped, Text255
from app.routes.views import View
from app.telegram.port import ALL_MEDIA_KINDS

__all__ = ["InboundBody", "InboundHandled"]


class Person(Body):
    """The person writing."""

    number: PhoneNumber = Field(description=number_field("the sender"))
    first_name: Text255 | Omitted = Field(None, description="First name.")
    last_name: Text255 | Omitted = Field(None, description="Last name.")
    username: Annotated[str, Field(max_length=64)] | Omitted = Field(
        None, description="Telegram @username, without '@'."
    )
    phone_visible: bool = Field(True, description="Whether the number is visible to the gateway.")
    is_bot: bool = Field(False, description="Whether the sender is a bot.")


class SharedContact(Body):
    """A shared contact."""

    number: Annotated[str, Field(max_length=21)] | Annotated[int, Field(ge=0, le=INT64_MAX)] = (
        Field(description="Shared phone number (digits).")
    )
    user_id: Annotated[int, Field(ge=1, le=INT64_MAX)] | Omitted = Field(
        None, description="Its Telegram user id."
    )


class InboundMedia(Body):
    """A medium."""

    kind: Literal[ALL_MEDIA_KINDS] = Field(description="Kind.")  # type: ignore[valid-type]
    base64: str = Field(min_length=1, description="The file.", json_schema_extra=base64_extra())
    filename: Text255 | Omitted = Field(None, description="File name.")
    mime_type: Annotated[str, Field(max_length=127)] | Omitted = Field(
        None, description="Media type."
    )


class InboundGroup(Body):
    """The sandbox group (POST /admin/sandbox/{n}/groups) the person writes in; they must be a
    member."""

    group_name: Annotated[Text255, Stripped] = Field(
        description="Its title.", json_schema_extra={"minLength": 1}
    )
    group_admin: PhoneNumber = Field(description=number_field("the number of its creator"))


def _inbound_schema(schema: dict[str, Any]) -> None:
    # The person is part of this body, shown in it rather than as a schema of its own.
    schema["properties"]["from"] = Person.model_json_schema()
    schema["anyOf"] = [{"required": [name]} for name in ("text", "contact", "media", "location")]


class InboundLocation(Body):
    """A point on the map; with a title (and address), a venue. A message of its own: a text
    given with it is not sent."""

    latitude: float = Field(ge=-90, le=90, description="Degrees north (-90 to 90).")
    longitude: float = Field(ge=-180, le=180, description="Degrees east (-180 to 180).")
    title: Text255 | Omitted = Field(None, description="The venue's name.")
    address: Text255 | Omitted = Field(None, description="The venue's address.")


class InboundBody(Body):
    """Give text, contact, media or location."""

    from_: Person = Field(alias="from")
    text: str | Omitted = Field(None, description="Text written.")
    contact: SharedContact | Omitted = None
    media: InboundMedia | Omitted = None
    location: InboundLocation | Omitted = None
    reply_to: MessageId | Omitted = Field(None, description="Telegram message id answered.")
    group: InboundGroup | Omitted = Field(
        None, description="Written in this group instead of privately to the gateway."
    )
    mentions_account: bool = Field(
        False, description="In a group: the message mentions the gateway's account."
    )

    model_config = ConfigDict(json_schema_extra=_inbound_schema)


class InboundHandled(View):
    message_id: int = Field(description="Telegram message id.")
    handled: bool = Field(description="Whether the gateway handled it in time.")
