"""The bodies, parameters and answers of the groups' admin API and of the sandbox's controls
for a person's edits, deletions and reactions (app/routes/groups.py)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from app.routes.apidoc import INSTANCE_NUMBER_MAX, Model, Timestamp, number_field
from app.routes.bodies import Body, MessageId, PhoneNumber
from app.routes.views import View

GROUP_ID = (
    "Telegram's id of the group (a megagroup's channel id); the Bot API's marked form "
    "(-<id>, -100<id>) is taken too."
)


class GroupPath(Model):
    n: int = Field(ge=1, le=INSTANCE_NUMBER_MAX, description="Instance number.")
    group_id: int = Field(description=GROUP_ID)


class Group(View):
    id: int = Field(description="Telegram's id of the group.")
    title: str | None = Field(description="Its title when a message last came from it.")
    allowed: bool = Field(description="Whether anyone's messages in it are forwarded.")
    source: str = Field(
        description="Where `allowed` comes from: admin (this API), config (allowed_groups) or "
        "default (not allowed: only registered people's messages are forwarded)."
    )
    last_message_at: Timestamp | None = Field(description="When a message last came from it.")


class GroupList(View):
    data: list[Group] = Field(description="Groups, by id.")


class EditBody(Body):
    number: PhoneNumber = Field(description=number_field("the person who edits"))
    message_id: MessageId = Field(description="Telegram id of their message.")
    text: Annotated[str, Field(min_length=1, max_length=4096)] = Field(description="New text.")


class DeleteBody(Body):
    number: PhoneNumber = Field(description=number_field("the person who deletes"))
    message_ids: Annotated[list[MessageId], Field(min_length=1, max_length=100)] = Field(
        description="Telegram ids: their own messages, or in their private chat the gateway's "
        "too (a history cleared for both sides)."
    )


class ReactBody(Body):
    number: PhoneNumber = Field(description=number_field("the person who reacts"))
    message_id: MessageId = Field(description="Telegram id of a message in their chat or group.")
    emoji: Annotated[str, Field(min_length=1, max_length=16)] | None = Field(
        description="The reaction; null takes it back."
    )


class ChangeHandled(View):
    handled: bool = Field(description="Whether the gateway handled it in time.")
