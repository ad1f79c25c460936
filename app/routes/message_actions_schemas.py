"""The bodies and answers of editing, deleting and reacting to messages
(app/routes/message_actions.py), as the OpenAPI document shows them."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from app.routes.apidoc import Model, Timestamp, Uuid, limit, one_of
from outbound.actions import ACTION_KINDS, ACTION_STATUSES, EMOJI_MAX_CHARS

_ACTION_EXAMPLE: dict[str, Any] = {
    "id": "5b0d7a8e-2c4f-4f7e-9a51-0c1d2e3f4a5b",
    "message_id": "0f8e2d9c-6b1a-4c3d-8e7f-9a0b1c2d3e4f",
    "instance": 1,
    "action": "edit",
    "status": "queued",
    "text": "The meeting moved to 3 pm",
    "emoji": None,
    "error_code": None,
    "error_detail": None,
    "attempts": 0,
    "created_at": "2026-12-06T08:00:00.000000Z",
    "done_at": None,
    "failed_at": None,
}


class EditMessage(Model):
    """The new words of a sent message."""

    text: str = Field(
        description="The new text of a text message, or the new caption of a medium (an empty "
        "string takes the caption away). Limits as for sends: ${text_chars} characters for a "
        "text, [limits] caption_chars for a caption.",
        json_schema_extra=limit("text_chars"),
    )

    model_config = ConfigDict(
        populate_by_name=True, json_schema_extra={"examples": [{"text": "Meeting at 3 pm"}]}
    )


class SetReaction(Model):
    """The account's reaction on a message: one emoji, or null to take it back."""

    emoji: str | None = Field(
        description="One emoji Telegram offers as a reaction (👍 ❤ 🔥 🎉 😁 👎 ...), or null to "
        "take the account's reaction back. Telegram refuses emoji it does not offer: the "
        "action then fails with 'message_rejected'.",
        min_length=1,
        max_length=EMOJI_MAX_CHARS,
    )

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={"examples": [{"emoji": "👍"}, {"emoji": None}]},
    )


class Action(Model):
    """An edit, deletion or reaction, queued like a send and made by the send worker."""

    id: Uuid = Field(description="Action id.")
    message_id: Uuid = Field(
        description="The message acted on: one of this client's, or (reactions) an inbound "
        "message's id from a message.received event."
    )
    instance: int = Field(ge=1, description="Gateway instance number.")
    action: str = Field(description="What is done.", json_schema_extra=one_of(ACTION_KINDS))
    status: str = Field(
        description="queued, sending (being made), done (Telegram took it) or failed.",
        json_schema_extra=one_of(ACTION_STATUSES),
    )
    text: str | None = Field(description="An edit's new text or caption; null otherwise.")
    emoji: str | None = Field(description="A reaction's emoji; null: the reaction taken back.")
    error_code: str | None = Field(
        description="Why it failed: edit_window_expired, message_gone (no longer at Telegram), "
        "expired (not made within message_ttl_s), message_rejected, a recipient error..."
    )
    error_detail: str | None = Field(description="More about the failure.")
    attempts: int = Field(ge=0, description="Attempts so far.")
    created_at: Timestamp = Field(description="When it was accepted.")
    done_at: Timestamp | None = Field(description="When Telegram took it.")
    failed_at: Timestamp | None = Field(description="When it failed for good.")

    model_config = ConfigDict(
        populate_by_name=True, json_schema_extra={"examples": [_ACTION_EXAMPLE]}
    )


class ActionList(Model):
    data: list[Action] = Field(description="This client's actions on the message, oldest first.")


class MessageRef(Model):
    id: Uuid = Field(description="Message id (for a reaction, an inbound message's id works too).")
